"""Checks configs/*.yaml against Vertex AI's CustomJobSpec schema and our rules.

gcloud passes a misspelled key straight to the API (the job then fails
server-side, or the field is ignored), so every config is parsed here with
the real protobuf schema, unknown fields rejected, through
`youtube8m.vertex.job_spec.validate_job_spec` (the check the submit helper runs too).
"""

import glob
import importlib.util
import os
import re

import pytest
import yaml

from youtube8m import cloud
from youtube8m.common import utils
from youtube8m.vertex import job_spec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml")))
NAMES = [os.path.basename(p) for p in CONFIGS]
MODULES = {"youtube8m.train", "youtube8m.eval", "youtube8m.inference",
           "youtube8m.data_service"}
# Vertex AI's prebuilt TensorFlow training images stop at 2.17.
PREBUILT_TF = re.compile(r"^(us|europe|asia)-docker\.pkg\.dev/vertex-ai/"
                         r"training/tf-(cpu|gpu)\.2-17\.py310:latest$")
# Families Vertex AI custom training offers, as <family>-<kind>-<size>.
MACHINE = re.compile(r"^(n1|n2|n2d|e2|c2|c2d|c3|m1|a2|a3|g2)-"
                     r"(standard|highmem|highcpu|megamem|ultramem|highgpu|"
                     r"megagpu|ultragpu)-[0-9]+g?$")


def _load(path):
  with open(path, encoding="utf-8") as f:
    return yaml.safe_load(f)


def _pools(spec):
  return [p for p in spec["workerPoolSpecs"] if p]


def _header(path):
  """The leading comment block, with `# ` and line continuations removed."""
  lines = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      if not line.startswith("#"):
        break
      lines.append(line[1:].strip())
  return " ".join(lines).replace("\\ ", "")


def test_configs_exist():
  assert set(NAMES) >= {"train-1gpu.yaml", "train-4gpu.yaml",
                        "train-multiworker.yaml", "eval.yaml",
                        "inference.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=NAMES)
def test_config_matches_custom_job_spec_schema(path):
  message = job_spec.validate_job_spec(_load(path), path)
  assert message.worker_pool_specs[0].replica_count == 1


@pytest.mark.parametrize("path", CONFIGS, ids=NAMES)
def test_config_pools(path):
  spec = _load(path)
  for pool in _pools(spec):
    machine = pool["machineSpec"]
    assert MACHINE.match(machine["machineType"]), machine
    package = pool["pythonPackageSpec"]
    assert package["pythonModule"] in MODULES
    assert importlib.util.find_spec(package["pythonModule"]) is not None
    image = PREBUILT_TF.match(package["executorImageUri"])
    assert image, package["executorImageUri"]
    # A GPU image without a GPU (or the reverse) wastes money or fails.
    assert (image.group(2) == "gpu") == bool(machine.get("acceleratorCount"))
    assert any(cloud.PACKAGE_PLACEHOLDER.match(u)
               for u in package["packageUris"]), package["packageUris"]
    assert all(a.startswith("--") for a in package["args"])
    # A restarted replica must resume, not wipe its checkpoints.
    assert "--start_new_model" not in package["args"]


@pytest.mark.parametrize("path", CONFIGS, ids=NAMES)
def test_header_says_what_runs_costs_and_how_to_submit(path):
  with open(path, encoding="utf-8") as f:
    assert f.readline().startswith("# ")
  header = _header(path)
  name = os.path.basename(path)
  gcloud = re.search(r"gcloud ai custom-jobs create .*?--config=(\S+)", header)
  assert gcloud and os.path.basename(gcloud.group(1)) == name, header
  assert "--region=" in gcloud.group(0)
  assert "--display-name=" in gcloud.group(0)
  assert f"python -m youtube8m.cloud submit --config=configs/{name}" in header
  assert "Cost:" in header
  machine = _pools(_load(path))[0]["machineSpec"]["machineType"]
  assert machine in header


def test_train_4gpu_is_one_machine_with_four_gpus():
  spec = _load(os.path.join(REPO, "configs", "train-4gpu.yaml"))
  (pool,) = _pools(spec)
  assert pool["replicaCount"] == 1
  assert pool["machineSpec"]["acceleratorCount"] == 4


def test_train_multiworker_has_chief_and_workers():
  spec = _load(os.path.join(REPO, "configs", "train-multiworker.yaml"))
  chief, workers = spec["workerPoolSpecs"][:2]
  assert chief["replicaCount"] == 1
  assert workers["replicaCount"] >= 1
  # Same program everywhere: MultiWorkerMirroredStrategy runs in lockstep.
  assert chief["pythonPackageSpec"] == workers["pythonPackageSpec"]
  assert chief["pythonPackageSpec"]["pythonModule"] == "youtube8m.train"
  assert spec["scheduling"]["restartJobOnWorkerRestart"] is True


def test_data_service_pool_serves_the_single_machine_trainer():
  spec = _load(os.path.join(REPO, "configs", "train-data-service.yaml"))
  trainer, workers, service = spec["workerPoolSpecs"]
  # Pool 1 empty: TF_CONFIG names no `worker`, the trainer stays one machine.
  assert workers == {}
  assert "--data_service_address=tf_config" in trainer["pythonPackageSpec"][
      "args"]
  package = service["pythonPackageSpec"]
  assert package["pythonModule"] == "youtube8m.data_service"
  assert package["args"] == ["--role=tf_config"]
  assert service["replicaCount"] >= 2  # a dispatcher and a worker
  assert "acceleratorCount" not in service["machineSpec"]  # CPUs parse


def test_eval_runs_once_and_inference_writes_predictions():
  evaluate = _load(os.path.join(REPO, "configs", "eval.yaml"))
  assert "--run_once" in _pools(evaluate)[0]["pythonPackageSpec"]["args"]
  infer = _load(os.path.join(REPO, "configs", "inference.yaml"))
  args = _pools(infer)[0]["pythonPackageSpec"]["args"]
  assert any(re.match(r"--output_file=gs://.*/predictions\.csv$", a)
             for a in args)


def _rejected(spec, tmp_path, match):
  """Writes `spec` as YAML, reads it back, expects validate_job_spec to fail."""
  path = tmp_path / "bad.yaml"
  path.write_text(yaml.safe_dump(spec))
  with pytest.raises(utils.Yt8mError, match=match) as error:
    job_spec.validate_job_spec(_load(str(path)), str(path))
  assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_misspelled_key_is_rejected(tmp_path):
  spec = _load(os.path.join(REPO, "configs", "train-1gpu.yaml"))
  pool = spec["workerPoolSpecs"][0]
  pool["machineSpecs"] = pool.pop("machineSpec")
  _rejected(spec, tmp_path, 'no field named "machineSpecs"')


def _pool0(spec):
  return spec["workerPoolSpecs"][0]


@pytest.mark.parametrize("change, match", [
    pytest.param(lambda s: s.update(machineType="n1-standard-8"),
                 "machineType", id="field-at-wrong-level"),
    pytest.param(lambda s: _pool0(s)["machineSpec"].update(
        acceleratorType="NVIDIA_T4"), "NVIDIA_T4", id="bad-enum"),
    pytest.param(lambda s: s.update(
        base_output_directory={"outputUriPrefix": "gs://b"}), "underscore",
                 id="snake-case-key"),
    pytest.param(lambda s: _pool0(s).update(replicaCount=2), "must be 1",
                 id="two-primary-replicas"),
    pytest.param(lambda s: _pool0(s)["machineSpec"].update(
        machineType="n1-standard8"), "not a machine type",
                 id="bad-machine-type"),
    pytest.param(lambda s: _pool0(s)["machineSpec"].update(
        machineType="n2-standard-8"), "attaches to n1", id="gpu-on-n2"),
    pytest.param(lambda s: _pool0(s)["machineSpec"].pop("acceleratorCount"),
                 "together", id="gpu-without-count"),
    pytest.param(lambda s: _pool0(s).pop("pythonPackageSpec"),
                 "pythonPackageSpec or containerSpec", id="no-task"),
    pytest.param(lambda s: s.update(
        tensorboard="projects/p/locations/l/tensorboards/1"),
                 "serviceAccount", id="tensorboard-without-account"),
])
def test_other_mistakes_are_rejected(tmp_path, change, match):
  spec = _load(os.path.join(REPO, "configs", "train-1gpu.yaml"))
  change(spec)
  _rejected(spec, tmp_path, match)
