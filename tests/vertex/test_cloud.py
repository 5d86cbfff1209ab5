"""Tests of `python -m youtube8m.cloud submit`, without Google Cloud.

The upload goes to the local GCS emulator (the `gcs` fixture); `gcloud` is a
fake script first on PATH that records its argv, or, where the Cloud SDK is
installed, the real gcloud talking to a fake Vertex AI endpoint in this
process, which shows what gcloud would send to the API.
"""

import http.server
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading

import pytest
import yaml

import youtube8m
from youtube8m import cloud
from youtube8m.common import utils
from youtube8m.vertex import job_spec

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
VERSION = youtube8m.__version__
STAGED = re.compile(r"^gs://(?P<bucket>[^/]+)/youtube8m/staging/youtube8m-"
                    + re.escape(VERSION) + r"-\d{8}-\d{6}\.tar\.gz$")
FAKE_GCLOUD = """#!/bin/sh
# Records its argv, one per line, and keeps the --config file it was given.
printf '%s\\n' "$@" > "$FAKE_GCLOUD_ARGV"
for arg in "$@"; do
  case "$arg" in --config=*) cp "${arg#--config=}" "$FAKE_GCLOUD_CONFIG";; esac
done
echo "CustomJob [projects/1/locations/us-central1/customJobs/2] is submitted"
"""


def _fake_gcloud(tmp_path, env):
  """Puts the fake gcloud first on env's PATH; returns (argv, config) paths."""
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  script = bin_dir / "gcloud"
  script.write_text(FAKE_GCLOUD)
  script.chmod(0o755)
  env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
  env["FAKE_GCLOUD_ARGV"] = str(tmp_path / "gcloud-argv.txt")
  env["FAKE_GCLOUD_CONFIG"] = str(tmp_path / "gcloud-config.yaml")
  return tmp_path / "gcloud-argv.txt", tmp_path / "gcloud-config.yaml"


def _submit(args, env):
  return subprocess.run(
      [sys.executable, "-m", "youtube8m.cloud", "submit", *args], cwd=REPO,
      env=env, capture_output=True, text=True, timeout=120, check=False)


def _load(path):
  with open(path, encoding="utf-8") as f:
    return yaml.safe_load(f)


def _bucketed(spec, bucket):
  """The config as the helper should fill it, apart from packages and args."""
  return json.loads(json.dumps(spec).replace("YOUR_BUCKET", bucket))


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
  """One dry run of the multi-worker config: (stdout, final YAML path)."""
  tmp_path = tmp_path_factory.mktemp("dry_run")
  env = dict(os.environ)
  # Any upload attempt would fail (nothing listens there) and any gcloud
  # call would leave a file: the dry run must do neither.
  env["STORAGE_EMULATOR_HOST"] = "http://127.0.0.1:9"
  argv_file, _ = _fake_gcloud(tmp_path, env)
  result = _submit(["--config=configs/train-multiworker.yaml",
                    "--staging_bucket=gs://my-bucket", "--region=us-central1",
                    "--display_name=yt8m-test", "--dry_run", "--",
                    "--train_dir=gs://my-bucket/runs/moe/checkpoints",
                    "--model=MoeModel", "--moe_num_mixtures=4"], env)
  assert result.returncode == 0, result.stderr
  assert not argv_file.exists()
  path = re.search(r"--config=(\S+)", result.stdout).group(1)
  yield result.stdout, path
  work_dir = os.path.dirname(path)
  if os.path.basename(work_dir).startswith("yt8m-submit-"):
    shutil.rmtree(work_dir, ignore_errors=True)


@pytest.mark.slow
def test_dry_run_prints_gcloud_command_and_final_yaml(dry_run):
  stdout, path = dry_run
  lines = stdout.splitlines()
  submit = next(l for l in lines if l.startswith("Submit: "))
  assert shlex.split(submit[len("Submit: "):]) == [
      "gcloud", "ai", "custom-jobs", "create", "--region=us-central1",
      "--display-name=yt8m-test", f"--config={path}"]
  upload = next(l for l in lines if l.startswith("Upload: "))
  _, _, _, sdist, package_uri = shlex.split(upload[len("Upload: "):])
  assert STAGED.match(package_uri).group("bucket") == "my-bucket"
  assert os.path.basename(sdist) == f"youtube8m-{VERSION}.tar.gz"
  assert os.path.exists(sdist) and os.path.exists(path)  # kept for the user
  # The YAML printed is the file written.
  with open(path, encoding="utf-8") as f:
    assert stdout.endswith(f.read())

  final = _load(path)
  job_spec.validate_job_spec(final, path)
  assert "YOUR_" not in json.dumps(final)
  expected = _bucketed(_load(os.path.join(
      REPO, "configs", "train-multiworker.yaml")), "my-bucket")
  for pool, original in zip(final["workerPoolSpecs"],
                            expected["workerPoolSpecs"]):
    task, before = pool.pop("pythonPackageSpec"), original.pop(
        "pythonPackageSpec")
    assert task["packageUris"] == [package_uri]
    # --train_dir is replaced where it stood; new flags come last.
    args = [a if not a.startswith("--train_dir=") else
            "--train_dir=gs://my-bucket/runs/moe/checkpoints"
            for a in before["args"]]
    args = [a.replace("--model=LogisticModel", "--model=MoeModel")
            for a in args] + ["--moe_num_mixtures=4"]
    assert task["args"] == args
    assert task["pythonModule"] == before["pythonModule"]
    assert task["executorImageUri"] == before["executorImageUri"]
  assert final == expected  # nothing else changed


@pytest.mark.slow
def test_sdist_holds_package_data_and_installs(tmp_path):
  sdist = cloud.build_sdist(str(tmp_path / "dist"))
  top = f"youtube8m-{VERSION}/"
  with tarfile.open(sdist) as tar:
    names = set(tar.getnames())
  for name in ("setup.py", "README.md", "youtube8m/__init__.py",
               "youtube8m/train.py", "youtube8m/eval.py",
               "youtube8m/inference.py", "youtube8m/data/vocabulary.csv"):
    assert top + name in names
  # Install it as the Vertex image does (pip install <sdist>), without
  # dependencies, and check the data file made it into the install.
  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                  "--no-build-isolation", "--no-index", "--target",
                  str(tmp_path / "site"), sdist], check=True, timeout=120)
  assert (tmp_path / "site" / "youtube8m" / "data" / "vocabulary.csv").exists()


def test_sdist_needs_pypa_build(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "build", None)  # not installed
  with pytest.raises(utils.Yt8mError) as raised:
    cloud.build_sdist(str(tmp_path / "dist"))
  assert str(raised.value) == (
      "building the package needs PyPA's build: pip install "
      "'youtube8m[cloud]' (or pip install build)")
  assert not (tmp_path / "dist").exists()


@pytest.mark.slow
def test_submit_uploads_to_bucket_and_runs_gcloud(gcs, tmp_path):
  env = gcs.subprocess_env()
  argv_file, config_copy = _fake_gcloud(tmp_path, env)
  result = _submit(["--config=configs/eval.yaml",
                    f"--staging_bucket=gs://{gcs.bucket}",
                    "--region=europe-west4", "--display_name=yt8m-eval-test",
                    "--", "--train_dir=gs://elsewhere/run/checkpoints"], env)
  assert result.returncode == 0, result.stderr

  argv = argv_file.read_text().splitlines()
  config_path = argv[-1][len("--config="):]
  assert argv == ["ai", "custom-jobs", "create", "--region=europe-west4",
                  "--display-name=yt8m-eval-test", f"--config={config_path}"]
  assert not os.path.exists(config_path)  # temp files are cleaned up

  (task,) = [p["pythonPackageSpec"] for p in _load(config_copy)[
      "workerPoolSpecs"]]
  (package_uri,) = task["packageUris"]
  assert STAGED.match(package_uri).group("bucket") == gcs.bucket
  assert f"Uploaded {package_uri}" in result.stdout
  assert "--train_dir=gs://elsewhere/run/checkpoints" in task["args"]
  assert f"--eval_data_pattern=gs://{gcs.bucket}/" in " ".join(task["args"])

  blob_name = package_uri.split("/", 3)[3]
  data = gcs.storage_client().bucket(gcs.bucket).blob(
      blob_name).download_as_bytes()
  with tarfile.open(fileobj=io.BytesIO(data)) as tar:
    assert f"youtube8m-{VERSION}/youtube8m/eval.py" in tar.getnames()


class _FakeVertex(http.server.BaseHTTPRequestHandler):
  """Answers the CustomJob create call and records the request."""
  requests = []

  def do_POST(self):  # pylint: disable=invalid-name
    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
    self.requests.append((self.path, body))
    reply = json.dumps(dict(body, name="projects/1/locations/us-central1/"
                            "customJobs/2", state="JOB_STATE_PENDING"))
    self.send_response(200)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(reply)))
    self.end_headers()
    self.wfile.write(reply.encode())

  def log_message(self, *args):
    pass


@pytest.mark.skipif(shutil.which("gcloud") is None,
                    reason="Google Cloud SDK not installed")
@pytest.mark.slow
def test_real_gcloud_sends_the_final_spec_unchanged(dry_run, tmp_path):
  """The printed command, run by the real gcloud against a fake endpoint."""
  stdout, path = dry_run
  submit = next(l for l in stdout.splitlines() if l.startswith("Submit: "))
  server = http.server.HTTPServer(("127.0.0.1", 0), _FakeVertex)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  token = tmp_path / "token"
  token.write_text("fake-token")
  env = dict(os.environ,
             CLOUDSDK_CONFIG=str(tmp_path / "gcloud-config"),
             CLOUDSDK_CORE_PROJECT="test-project",
             CLOUDSDK_AUTH_ACCESS_TOKEN_FILE=str(token),
             CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM=(
                 f"http://127.0.0.1:{server.server_port}/"),
             CLOUDSDK_CORE_DISABLE_PROMPTS="1",
             CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1")
  try:
    result = subprocess.run(shlex.split(submit[len("Submit: "):]), env=env,
                            capture_output=True, text=True, timeout=120,
                            check=False)
  finally:
    server.shutdown()
    server.server_close()
  assert result.returncode == 0, result.stderr
  ((url, body),) = _FakeVertex.requests
  assert url.startswith("/v1/projects/test-project/locations/us-central1/"
                        "customJobs")
  assert body["displayName"] == "yt8m-test"
  # The same message once both go through the schema (gcloud sends int64
  # fields as strings), and nothing dropped on the way.
  sent = job_spec.validate_job_spec(body["jobSpec"], "sent")
  assert sent == job_spec.validate_job_spec(_load(path), path)
  assert body["jobSpec"]["workerPoolSpecs"][1]["replicaCount"] == "2"


def test_merge_flags_replaces_in_place_and_appends():
  merged = cloud.merge_flags(["--a=1", "--b=2", "--run_once"],
                             ["--b=3", "--norun_once", "--c=4", "--c=5"])
  assert merged == ["--a=1", "--b=3", "--norun_once", "--c=5"]
  with pytest.raises(utils.Yt8mError, match="'gs://x' is not a --name=value"):
    cloud.merge_flags(["--a=1"], ["--train_dir", "gs://x"])


def test_flags_after_dashes_go_to_the_trainers_only():
  spec = {"workerPoolSpecs": [
      {"pythonPackageSpec": {"pythonModule": "youtube8m.train",
                             "args": ["--model=A"], "packageUris": []}},
      {},
      {"pythonPackageSpec": {"pythonModule": "youtube8m.data_service",
                             "args": ["--role=tf_config"],
                             "packageUris": []}}]}
  filled = cloud.fill_spec(spec, "b", "", ["--model=B", "--seed=1"], "s")
  pools = filled["workerPoolSpecs"]
  assert pools[0]["pythonPackageSpec"]["args"] == ["--model=B", "--seed=1"]
  assert pools[2]["pythonPackageSpec"]["args"] == ["--role=tf_config"]


def test_source_root_needs_setup_py(tmp_path):
  (tmp_path / "youtube8m").mkdir()
  with pytest.raises(utils.Yt8mError, match="no setup.py in"):
    cloud.source_root(str(tmp_path / "youtube8m"))
  assert cloud.source_root() == REPO


def test_missing_aiplatform_is_one_clear_line(monkeypatch):
  monkeypatch.setitem(sys.modules, "google.cloud.aiplatform_v1.types", None)
  with pytest.raises(utils.Yt8mError, match="needs google-cloud-aiplatform"):
    job_spec.validate_job_spec({"workerPoolSpecs": []})


def test_missing_bucket_is_reported(gcs, tmp_path, monkeypatch):
  monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
  monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", gcs.project)
  path = tmp_path / "x.tar.gz"
  path.write_bytes(b"x")
  with pytest.raises(utils.Yt8mError, match="gs://no-such-bucket does not"):
    cloud.upload(str(path), "gs://no-such-bucket/youtube8m/x.tar.gz")


def _config_with_placeholder(tmp_path):
  spec = _load(os.path.join(REPO, "configs", "train-1gpu.yaml"))
  spec.update(tensorboard="projects/YOUR_PROJECT/locations/us-central1/"
              "tensorboards/1", serviceAccount="sa@p.iam.gserviceaccount.com")
  path = tmp_path / "tb.yaml"
  path.write_text(yaml.safe_dump(spec))
  return str(path)


@pytest.mark.parametrize("args, message", [
    (["--staging_bucket=my-bucket"], "--staging_bucket must look like gs://"),
    (["--config=configs/nope.yaml"], "--config: cannot read configs/nope.yaml"),
    (["--", "--train_dir", "gs://x"], "'gs://x' is not a --name=value flag"),
    (["--config={placeholder}"], "placeholder YOUR_PROJECT is still"),
    (["--display_name=job\nserviceAccount: evil@x"],
     "--display_name: 'job\\nserviceAccount: evil@x' holds the control"),
    (["--", "--train_dir=gs://x/\nimageUri: evil"],
     "flags after --: '--train_dir=gs://x/\\nimageUri: evil' holds the"),
], ids=["bucket", "config", "flag-form", "placeholder", "display-name",
        "module-flag"])
def test_errors_are_one_line(tmp_path, args, message):
  defaults = {"--config": "configs/train-1gpu.yaml",
              "--staging_bucket": "gs://my-bucket", "--region": "us-central1"}
  args = [a.format(placeholder=_config_with_placeholder(tmp_path))
          for a in args]
  given = {a.split("=")[0] for a in args}
  flags = [f"{k}={v}" for k, v in defaults.items() if k not in given]
  (tmp_path / "tmp").mkdir()
  env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
  result = _submit(flags + ["--dry_run"] + args, env)
  assert result.returncode == 1
  (line,) = result.stderr.strip().splitlines()
  assert line.startswith("error: ") and message in line, line
  # A failed run, dry or not, leaves no temporary files behind.
  assert not os.listdir(tmp_path / "tmp")


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f",
                                  "\x85", "\x9b"])
def test_control_characters_are_refused_everywhere(char):
  with pytest.raises(utils.Yt8mError, match=r"^--region: .* holds the "
                     "control character"):
    job_spec.check_text(f"us-central1{char}", "--region")
  job_spec.check_text("gs://b/ünïcode path", "--base_output_dir")  # fine
  spec = _load(os.path.join(REPO, "configs", "train-1gpu.yaml"))
  spec["workerPoolSpecs"][0]["pythonPackageSpec"]["executorImageUri"] += char
  with pytest.raises(utils.Yt8mError, match=(
      r"^x.yaml: spec.workerPoolSpecs\[0\].pythonPackageSpec."
      r"executorImageUri: .* holds the control character")) as error:
    job_spec.validate_job_spec(spec, "x.yaml")
  assert "\n" not in str(error.value)
  spec = _load(os.path.join(REPO, "configs", "train-1gpu.yaml"))
  spec[f"bad{char}Key"] = 1
  with pytest.raises(utils.Yt8mError, match="a key of spec: .* holds"):
    job_spec.validate_job_spec(spec, "x.yaml")
  with pytest.raises(utils.Yt8mError, match="flags after --: .* holds"):
    cloud.merge_flags(["--a=1"], [f"--b=2{char}"])


def test_bucket_and_region_match_whole_values():
  # A trailing newline used to pass `$`: now the whole value must match.
  # pylint: disable-next=protected-access
  bucket, region = cloud._BUCKET, cloud._REGION
  assert bucket.fullmatch("gs://my-bucket")
  assert not bucket.fullmatch("gs://my-bucket\n")
  assert not region.fullmatch("us-central1\n")


def test_no_command_prints_usage():
  result = subprocess.run([sys.executable, "-m", "youtube8m.cloud"], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          check=False)
  assert result.returncode == 1
  assert result.stderr.strip().startswith("error: usage: python -m "
                                          "youtube8m.cloud submit")
