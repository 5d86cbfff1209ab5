r"""Submits Vertex AI custom jobs described by configs/*.yaml.

  python -m youtube8m.cloud submit --config=configs/train-1gpu.yaml \
      --staging_bucket=gs://BUCKET --region=us-central1 [--dry_run] \
      -- --num_epochs=10

Builds the sdist of this source tree and uploads it to
gs://BUCKET/youtube8m/staging/; fills in the config's placeholders (the
package URI, YOUR_BUCKET); adds the flags after `--` to every pool's args (a
flag given there replaces the config's flag of the same name); checks the
result against Vertex AI's CustomJobSpec schema; then runs
`gcloud ai custom-jobs create`. With --dry_run it uploads and submits nothing:
it prints the upload and gcloud commands and the final YAML, and keeps those
files so the commands can be run by hand.
"""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from absl import flags

from youtube8m import cli
from youtube8m import utils

FLAGS = flags.FLAGS

flags.DEFINE_string("config", None, "CustomJobSpec YAML to submit, e.g. "
                    "configs/train-1gpu.yaml.")
flags.DEFINE_string("staging_bucket", None, "gs://BUCKET: receives the sdist "
                    "and replaces YOUR_BUCKET in the config.")
flags.DEFINE_string("region", None, "Vertex AI region, e.g. us-central1 "
                    "(pick the bucket's region).")
flags.DEFINE_string("display_name", None, "Job name shown by Vertex AI "
                    "(default yt8m-<config>-<UTC time>).")
flags.DEFINE_string("project", None, "Google Cloud project (default: the "
                    "one gcloud and the client libraries are configured for).")
flags.DEFINE_string("base_output_dir", None, "gs:// prefix replacing the "
                    "config's baseOutputDirectory (Vertex derives "
                    "AIP_CHECKPOINT_DIR, AIP_MODEL_DIR and "
                    "AIP_TENSORBOARD_LOG_DIR from it).")
flags.DEFINE_string("tensorboard", None, "Vertex AI TensorBoard resource "
                    "(projects/P/locations/R/tensorboards/ID) the job streams "
                    "its logs to; needs --service_account.")
flags.DEFINE_string("service_account", None, "Service account to run as.")
flags.DEFINE_bool("dry_run", False, "Build and check only: print the upload "
                  "and gcloud commands and the final YAML.")

USAGE = ("usage: python -m youtube8m.cloud submit --config=FILE "
         "--staging_bucket=gs://BUCKET --region=REGION [--dry_run] "
         "[-- MODULE_FLAGS]")
# The configs name the package by this URI; the helper swaps in the upload.
PACKAGE_PLACEHOLDER = re.compile(
    r"^gs://YOUR_BUCKET/youtube8m/youtube8m-[^/]+\.tar\.gz$")
PLACEHOLDER = re.compile(r"YOUR_[A-Z0-9_]+")
STAGING_DIR = "youtube8m/staging"
_BUCKET = re.compile(r"gs://([a-z0-9][a-z0-9._-]*[a-z0-9])/?")  # fullmatch
_REGION = re.compile(r"[a-z]+-[a-z]+[0-9]+")
# C0 (newline, tab, NUL...), DEL, C1: could end a YAML line, start a key.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The flags whose values end up in the job YAML or the gcloud command.
TEXT_FLAGS = ("config", "staging_bucket", "region", "display_name", "project",
              "base_output_dir", "tensorboard", "service_account")
# Vertex machine types look like n1-standard-8, a2-highgpu-1g, g2-standard-4.
MACHINE_TYPE = re.compile(r"^(?:[a-z][a-z0-9]*-[a-z]+-[0-9]+[a-z]?|cloud-tpu)$")
# Each GPU type attaches to one machine family only (Vertex AI's compute
# docs); checked here so the error names the file rather than the API call.
GPU_MACHINE_FAMILY = dict(
    NVIDIA_TESLA_T4="n1", NVIDIA_TESLA_V100="n1", NVIDIA_TESLA_P100="n1",
    NVIDIA_TESLA_P4="n1", NVIDIA_TESLA_A100="a2", NVIDIA_A100_80GB="a2",
    NVIDIA_L4="g2", NVIDIA_H100_80GB="a3")


def _control(value, where):
  """The message for a string holding a control character, else None."""
  match = _CONTROL.search(value) if isinstance(value, str) else None
  return match and (f"{where}: {value!r} holds the control character "
                    f"{match.group(0)!r}; job specs take none (no newlines, "
                    "tabs or NUL)")


def check_text(value, where):
  """Raises a Yt8mError naming `where` if `value` holds a control character."""
  if _control(value, where):
    raise utils.Yt8mError(_control(value, where))


def _spec_faults(node, path="spec"):
  """Yields a message per underscore key (gcloud reads camelCase keys only)
  and per key or string holding a control character."""
  if isinstance(node, dict):
    for key, value in node.items():
      fault = _control(str(key), f"a key of {path}")
      if fault or "_" in str(key):
        yield fault or (f"key {path}.{key} has an underscore; gcloud reads "
                        "camelCase keys only")
      yield from _spec_faults(value, f"{path}.{key}")
  elif isinstance(node, list):
    for i, value in enumerate(node):
      yield from _spec_faults(value, f"{path}[{i}]")
  elif _control(node, path):
    yield _control(node, path)


def _parse_error_text(error):
  """The innermost reason of a json_format.ParseError, on one line."""
  text = str(error).splitlines()[0]
  return re.sub(r"^(Failed to parse \w+ field: )+", "", text).rstrip(".")


def validate_job_spec(spec, source="job spec"):
  """Checks a CustomJobSpec dict (camelCase, as in the YAML) like Vertex AI.

  First the rules the schema cannot state: camelCase keys only (gcloud
  refuses the others) and no control character in any key or string. Then
  the schema: json_format with unknown fields rejected, so a misspelled or
  misplaced key fails here (gcloud sends it on unchecked). Then pool 0 with
  exactly one replica, every used pool with a machine type, a task and GPUs
  its machine family takes, and TensorBoard only with a service account and
  a baseOutputDirectory.

  Returns:
    The parsed google.cloud.aiplatform.v1.CustomJobSpec protobuf message.
  Raises:
    utils.Yt8mError: one line naming `source` and the fault.
  """
  if not isinstance(spec, dict):
    raise utils.Yt8mError(f"{source}: expected a mapping of CustomJobSpec "
                          f"fields, got {type(spec).__name__}")
  fault = next(_spec_faults(spec), None)
  if fault:
    raise utils.Yt8mError(f"{source}: {fault}")
  try:  # pylint: disable=import-outside-toplevel
    from google.cloud.aiplatform_v1.types import CustomJobSpec
    from google.protobuf import json_format
  except ImportError as e:
    raise utils.Yt8mError("checking job specs needs google-cloud-aiplatform "
                          "(pip install google-cloud-aiplatform)") from e
  try:
    message = json_format.ParseDict(spec, CustomJobSpec.pb()(),
                                    ignore_unknown_fields=False)
  except json_format.ParseError as e:
    raise utils.Yt8mError(f"{source}: not a valid CustomJobSpec: "
                          f"{_parse_error_text(e)}") from e
  pools = message.worker_pool_specs
  if not pools or not pools[0].ByteSize():
    raise utils.Yt8mError(f"{source}: workerPoolSpecs[0] (the primary "
                          "replica) is missing")
  if pools[0].replica_count != 1:
    raise utils.Yt8mError(f"{source}: workerPoolSpecs[0].replicaCount must "
                          "be 1 (the primary replica); put more replicas in "
                          "workerPoolSpecs[1]")
  for i, pool in enumerate(pools):
    if pool.ByteSize():  # an empty pool is a role left out
      _check_pool(pool, f"{source}: workerPoolSpecs[{i}]")
  if message.tensorboard and not message.service_account:
    raise utils.Yt8mError(f"{source}: tensorboard needs serviceAccount (the "
                          "upload runs as that account)")
  if (message.tensorboard and
      not message.base_output_directory.output_uri_prefix):
    raise utils.Yt8mError(f"{source}: tensorboard needs baseOutputDirectory "
                          "(Vertex streams <baseOutputDirectory>/logs/)")
  return message


def _check_pool(pool, where):
  machine = pool.machine_spec
  if not MACHINE_TYPE.match(machine.machine_type):
    raise utils.Yt8mError(f"{where}.machineSpec.machineType "
                          f"{machine.machine_type!r} is not a machine type "
                          "like n1-standard-8")
  if pool.replica_count < 1:
    raise utils.Yt8mError(f"{where}.replicaCount must be 1 or more")
  if pool.WhichOneof("task") is None:
    raise utils.Yt8mError(f"{where}: needs pythonPackageSpec or containerSpec")
  gpu = machine.DESCRIPTOR.fields_by_name["accelerator_type"].enum_type
  gpu = gpu.values_by_number[machine.accelerator_type].name
  if (gpu != "ACCELERATOR_TYPE_UNSPECIFIED") != (machine.accelerator_count > 0):
    raise utils.Yt8mError(f"{where}.machineSpec: set acceleratorType and "
                          "acceleratorCount together")
  family = GPU_MACHINE_FAMILY.get(gpu)
  if family and machine.machine_type.split("-")[0] != family:
    raise utils.Yt8mError(f"{where}.machineSpec: {gpu} attaches to "
                          f"{family}-* machines, not {machine.machine_type}")


def _flag_name(arg, where):
  if not isinstance(arg, str) or not re.match(r"^--\w[\w.-]*(=|$)", arg):
    raise utils.Yt8mError(f"{where}: {arg!r} is not a --name=value flag")
  return arg[2:].split("=", 1)[0]


def merge_flags(base, extra, where_base="args", where_extra="flags after --"):
  """`base` with each flag of `extra` replacing the same flag, else appended.

  absl takes `--noname` for `--name=false`, so those count as the same flag.
  """
  for arg in extra:
    check_text(arg, where_extra)
  base_names = [_flag_name(a, where_base) for a in base]
  extra_names = [_flag_name(a, where_extra) for a in extra]
  known = set(base_names) | set(extra_names)

  def key(name):
    return name[2:] if name.startswith("no") and name[2:] in known else name

  merged = list(base)
  position = {key(n): i for i, n in enumerate(base_names)}
  for arg, name in zip(extra, extra_names):
    if key(name) in position:
      merged[position[key(name)]] = arg
    else:
      position[key(name)] = len(merged)
      merged.append(arg)
  return merged


def _tasks(spec):
  """(index, pythonPackageSpec or containerSpec dict) of every used pool."""
  for i, pool in enumerate(spec.get("workerPoolSpecs") or []):
    pool = pool or {}
    if pool.get("pythonPackageSpec") or pool.get("containerSpec"):
      yield i, pool.get("pythonPackageSpec") or pool["containerSpec"]


def needs_package(spec):
  """Whether some pool names the package placeholder in packageUris."""
  return any(PACKAGE_PLACEHOLDER.match(str(uri)) for _, task in _tasks(spec)
             for uri in task.get("packageUris") or [])


def fill_spec(spec, bucket, package_uri, module_flags, source):
  """A copy of `spec` with placeholders filled and `module_flags` added."""
  # The JSON round trip copies, and unshares YAML aliases (train-multiworker
  # gives both pools one pythonPackageSpec) so each pool is edited once.
  spec = json.loads(json.dumps(spec))
  for i, task in _tasks(spec):
    if package_uri and "packageUris" in task:
      task["packageUris"] = [package_uri if PACKAGE_PLACEHOLDER.match(str(u))
                             else u for u in task["packageUris"]]
    if module_flags:
      task["args"] = merge_flags(task.get("args") or [], module_flags,
                                 f"{source}: workerPoolSpecs[{i}] args")
  # The bucket matched _BUCKET: it needs no escaping in JSON.
  return json.loads(json.dumps(spec).replace("YOUR_BUCKET", bucket))


def source_root(package_dir=None):
  """The checkout holding the youtube8m package and its setup.py."""
  package_dir = package_dir or os.path.dirname(os.path.abspath(__file__))
  root = os.path.dirname(package_dir)
  if not os.path.isfile(os.path.join(root, "setup.py")):
    raise utils.Yt8mError(
        f"no setup.py in {root}: submitting builds the package from source, "
        "so run it from a source checkout (git clone; pip install -e .)")
  return root


def build_sdist(out_dir, root=None):
  """Runs `setup.py sdist` into a new or empty out_dir; returns the .tar.gz."""
  root = root or source_root()
  os.makedirs(out_dir, exist_ok=True)
  # egg_info into a scratch dir, so the checkout is left as it was.
  egg_base = tempfile.mkdtemp(prefix="egg-info-", dir=out_dir)
  command = [sys.executable, "setup.py", "-q", "egg_info", "--egg-base",
             egg_base, "sdist", "--formats=gztar", "--dist-dir", out_dir]
  result = subprocess.run(command, cwd=root, capture_output=True, text=True,
                          check=False)
  shutil.rmtree(egg_base, ignore_errors=True)
  tarballs = glob.glob(os.path.join(out_dir, "*.tar.gz"))
  if result.returncode or len(tarballs) != 1:
    lines = [l for l in result.stderr.splitlines() if l.strip()] or ["?"]
    raise utils.Yt8mError(f"building the sdist in {root} failed (exit "
                          f"{result.returncode}): {lines[-1]}")
  return tarballs[0]


def upload(local_path, uri, project=None):
  """Copies a file to gs:// (STORAGE_EMULATOR_HOST is honoured)."""
  try:  # pylint: disable=import-outside-toplevel
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions
    from google.cloud import storage
  except ImportError as e:
    raise utils.Yt8mError("uploading needs google-cloud-storage (pip install "
                          "google-cloud-storage)") from e
  bucket, name = uri[len("gs://"):].split("/", 1)
  try:
    client = storage.Client(project=project) if project else storage.Client()
    client.bucket(bucket).blob(name).upload_from_filename(
        local_path, content_type="application/gzip")
  except auth_exceptions.DefaultCredentialsError as e:
    raise utils.Yt8mError("no Google Cloud credentials for the upload: run "
                          "`gcloud auth application-default login`") from e
  except exceptions.NotFound as e:
    raise utils.Yt8mError(f"--staging_bucket: gs://{bucket} does not exist "
                          "(create it: gcloud storage buckets create)") from e
  except exceptions.GoogleAPICallError as e:
    raise utils.Yt8mError(f"--staging_bucket: uploading {uri} failed: "
                          f"{str(e).splitlines()[0]}") from e


def load_config(path):
  """The YAML file at `path` as Python data."""
  try:
    import yaml  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise utils.Yt8mError("reading job configs needs PyYAML (pip install "
                          "pyyaml)") from e
  try:
    with open(path, encoding="utf-8") as f:
      return yaml.safe_load(f)
  except OSError as e:
    raise utils.Yt8mError(f"--config: cannot read {path}: {e.strerror}") from e
  except yaml.YAMLError as e:
    raise utils.Yt8mError(f"{path}: not valid YAML: "
                          f"{' '.join(str(e).split())}") from e


def _check_flags():
  for name in TEXT_FLAGS:
    if name in ("config", "staging_bucket", "region") and not FLAGS[name].value:
      raise cli.UsageError(f"--{name} is required; {USAGE}")
    check_text(FLAGS[name].value, f"--{name}")
  match = _BUCKET.fullmatch(FLAGS.staging_bucket)
  if not match:
    raise cli.UsageError(f"--staging_bucket must look like gs://BUCKET, got "
                         f"{FLAGS.staging_bucket!r}")
  if not _REGION.fullmatch(FLAGS.region):
    raise cli.UsageError(f"--region must look like us-central1, got "
                         f"{FLAGS.region!r}")
  return match.group(1)


def submit(module_flags):
  """The `submit` command; see the module docstring."""
  bucket = _check_flags()
  merge_flags([], module_flags)  # a malformed flag fails before any work
  source = FLAGS.config
  spec = load_config(source)
  validate_job_spec(spec, source)
  if FLAGS.base_output_dir:
    spec["baseOutputDirectory"] = {"outputUriPrefix": FLAGS.base_output_dir}
  if FLAGS.tensorboard:
    spec["tensorboard"] = FLAGS.tensorboard
  if FLAGS.service_account:
    spec["serviceAccount"] = FLAGS.service_account
  stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
  stem = os.path.splitext(os.path.basename(source))[0]
  display_name = FLAGS.display_name or f"yt8m-{stem}-{stamp}"
  if not FLAGS.dry_run and shutil.which("gcloud") is None:
    raise utils.Yt8mError("gcloud is not on PATH: install the Google Cloud "
                          "CLI, or use --dry_run and submit by hand")
  work_dir = tempfile.mkdtemp(prefix="yt8m-submit-")
  keep = False  # a successful dry run keeps its files for the user
  try:
    sdist, package_uri = None, None
    if needs_package(spec):
      sdist = build_sdist(work_dir)
      name = os.path.basename(sdist)[:-len(".tar.gz")]
      package_uri = f"gs://{bucket}/{STAGING_DIR}/{name}-{stamp}.tar.gz"
    final = fill_spec(spec, bucket, package_uri, module_flags, source)
    leftover = PLACEHOLDER.search(json.dumps(final))
    if leftover:
      raise utils.Yt8mError(f"{source}: placeholder {leftover.group(0)} is "
                            "still in the job spec; edit the config or pass "
                            "the flag that sets it")
    validate_job_spec(final, f"{source} (filled in)")
    config_path = os.path.join(work_dir, os.path.basename(source))
    gcloud = ["gcloud", "ai", "custom-jobs", "create",
              f"--region={FLAGS.region}", f"--display-name={display_name}",
              f"--config={config_path}"]
    if FLAGS.project:
      gcloud.append(f"--project={FLAGS.project}")
    import yaml  # pylint: disable=import-outside-toplevel
    text = (f"# Made by `python -m youtube8m.cloud submit` from {source} at "
            f"{stamp} UTC.\n# Submit with: {shlex.join(gcloud)}\n" +
            yaml.safe_dump(final, sort_keys=False, width=1000))
    with open(config_path, "w", encoding="utf-8") as f:
      f.write(text)
    if FLAGS.dry_run:
      print(f"Dry run: nothing uploaded or submitted; files kept in {work_dir}")
      if sdist:
        print("Upload: " + shlex.join(["gcloud", "storage", "cp", sdist,
                                       package_uri]))
      print("Submit: " + shlex.join(gcloud))
      print(f"Final job spec ({config_path}):\n{text}", end="")
      keep = True
      return
    if sdist:
      upload(sdist, package_uri, FLAGS.project)
      print(f"Uploaded {package_uri}")
    print("Running: " + shlex.join(gcloud), flush=True)
    returncode = subprocess.run(gcloud, check=False).returncode
    if returncode:
      raise utils.Yt8mError(f"gcloud ai custom-jobs create failed (exit "
                            f"{returncode}); its message is above")
  finally:
    if not keep:
      shutil.rmtree(work_dir, ignore_errors=True)


def main(argv):
  if len(argv) < 2 or argv[1] != "submit":
    raise cli.UsageError(USAGE)
  submit(argv[2:])


if __name__ == "__main__":
  cli.run(main)
