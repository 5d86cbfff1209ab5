r"""Submits Vertex AI custom jobs described by configs/*.yaml.

  python -m youtube8m.cloud submit --config=configs/train-1gpu.yaml \
      --staging_bucket=gs://BUCKET --region=us-central1 [--dry_run] \
      -- --num_epochs=10

Builds the sdist of this source tree and uploads it to
gs://BUCKET/youtube8m/staging/; fills in the config's placeholders (the
package URI, YOUR_BUCKET); adds the flags after `--` to the args of every
pool that runs the primary pool's module (a flag given there replaces the
config's flag of the same name; a tf.data service pool keeps its own); checks
the
result against Vertex AI's CustomJobSpec schema; then runs
`gcloud ai custom-jobs create`. With --dry_run it uploads and submits nothing:
it prints the upload and gcloud commands and the final YAML, and keeps those
files so the commands can be run by hand.
"""

import dataclasses
import glob
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.vertex import job_spec

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


def _text(flag, value):
  """Check: a value that may go into the job YAML or the gcloud command."""
  if value:
    job_spec.check_text(value, f"--{flag}")


def _bucket(flag, value):
  _text(flag, value)
  if not _BUCKET.fullmatch(value):
    raise cli.UsageError(f"--{flag} must look like gs://BUCKET, got "
                         f"{value!r}")


def _region(flag, value):
  _text(flag, value)
  if not _REGION.fullmatch(value):
    raise cli.UsageError(f"--{flag} must look like us-central1, got "
                         f"{value!r}")


@dataclasses.dataclass
class CloudConfig:
  """The settings of `python -m youtube8m.cloud submit`."""
  config: str = settings.setting(
      "", "CustomJobSpec YAML to submit, e.g. configs/train-1gpu.yaml.",
      check=_text, required=True)
  staging_bucket: str = settings.setting(
      "", "gs://BUCKET: receives the sdist and replaces YOUR_BUCKET in the "
      "config.", check=_bucket, required=True)
  region: str = settings.setting(
      "", "Vertex AI region, e.g. us-central1 (pick the bucket's region).",
      check=_region, required=True)
  display_name: str = settings.setting(
      "", "Job name shown by Vertex AI (default yt8m-<config>-<UTC time>).",
      check=_text)
  project: str = settings.setting(
      "", "Google Cloud project (default: the one gcloud and the client "
      "libraries are configured for).", check=_text)
  base_output_dir: str = settings.setting(
      "", "gs:// prefix replacing the config's baseOutputDirectory (Vertex "
      "derives AIP_CHECKPOINT_DIR, AIP_MODEL_DIR and AIP_TENSORBOARD_LOG_DIR "
      "from it).", check=_text)
  tensorboard: str = settings.setting(
      "", "Vertex AI TensorBoard resource (projects/P/locations/R/"
      "tensorboards/ID) the job streams its logs to; needs "
      "--service_account.", check=_text)
  service_account: str = settings.setting(
      "", "Service account to run as.", check=_text)
  dry_run: bool = settings.setting(
      False, "Build and check only: print the upload and gcloud commands and "
      "the final YAML.")
def _flag_name(arg, where):
  if not isinstance(arg, str) or not re.match(r"^--\w[\w.-]*(=|$)", arg):
    raise utils.Yt8mError(f"{where}: {arg!r} is not a --name=value flag")
  return arg[2:].split("=", 1)[0]


def merge_flags(base, extra, where_base="args", where_extra="flags after --"):
  """`base` with each flag of `extra` replacing the same flag, else appended.

  absl takes `--noname` for `--name=false`, so those count as the same flag.
  """
  for arg in extra:
    job_spec.check_text(arg, where_extra)
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
  tasks = list(_tasks(spec))
  primary = tasks[0][1].get("pythonModule") if tasks else None
  for i, task in tasks:
    if package_uri and "packageUris" in task:
      task["packageUris"] = [package_uri if PACKAGE_PLACEHOLDER.match(str(u))
                             else u for u in task["packageUris"]]
    # Training flags are for the trainers, not for another program's pool
    # (configs/train-data-service.yaml's data-service workers).
    if module_flags and task.get("pythonModule") == primary:
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
  """Builds the checkout's sdist with PyPA's `build` into a new or empty
  out_dir; returns the .tar.gz.

  With setuptools installed (pip install -e . needs it) the build runs in
  this environment (--no-isolation): no download, and the package is built
  by the setuptools that installs it here. Without it, `build` makes its
  usual isolated environment, which fetches setuptools from the index.
  """
  root = root or source_root()
  try:
    import build  # pylint: disable=g-import-not-at-top,import-outside-toplevel,unused-import
  except ImportError:
    raise utils.Yt8mError(
        "building the package needs PyPA's build: pip install "
        "'youtube8m[cloud]' (or pip install build)") from None
  os.makedirs(out_dir, exist_ok=True)
  command = [sys.executable, "-m", "build", "--sdist", "--outdir", out_dir]
  if importlib.util.find_spec("setuptools") is not None:
    command.append("--no-isolation")
  result = subprocess.run(command + [root], capture_output=True, text=True,
                          check=False)
  tarballs = glob.glob(os.path.join(out_dir, "*.tar.gz"))
  if result.returncode or len(tarballs) != 1:
    lines = [l for l in (result.stderr + result.stdout).splitlines()
             if l.strip()] or ["?"]
    raise utils.Yt8mError(f"building the sdist in {root} failed (exit "
                          f"{result.returncode}): {lines[-1].strip()}")
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


def submit(config, module_flags):
  """The `submit` command of a validated CloudConfig; see the module
  docstring."""
  bucket = _BUCKET.fullmatch(config.staging_bucket).group(1)
  merge_flags([], module_flags)  # a malformed flag fails before any work
  source = config.config
  spec = load_config(source)
  job_spec.validate_job_spec(spec, source)
  if config.base_output_dir:
    spec["baseOutputDirectory"] = {"outputUriPrefix": config.base_output_dir}
  if config.tensorboard:
    spec["tensorboard"] = config.tensorboard
  if config.service_account:
    spec["serviceAccount"] = config.service_account
  stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
  stem = os.path.splitext(os.path.basename(source))[0]
  display_name = config.display_name or f"yt8m-{stem}-{stamp}"
  if not config.dry_run and shutil.which("gcloud") is None:
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
    job_spec.validate_job_spec(final, f"{source} (filled in)")
    config_path = os.path.join(work_dir, os.path.basename(source))
    gcloud = ["gcloud", "ai", "custom-jobs", "create",
              f"--region={config.region}", f"--display-name={display_name}",
              f"--config={config_path}"]
    if config.project:
      gcloud.append(f"--project={config.project}")
    import yaml  # pylint: disable=import-outside-toplevel
    text = (f"# Made by `python -m youtube8m.cloud submit` from {source} at "
            f"{stamp} UTC.\n# Submit with: {shlex.join(gcloud)}\n" +
            yaml.safe_dump(final, sort_keys=False, width=1000))
    with open(config_path, "w", encoding="utf-8") as f:
      f.write(text)
    if config.dry_run:
      print(f"Dry run: nothing uploaded or submitted; files kept in {work_dir}")
      if sdist:
        print("Upload: " + shlex.join(["gcloud", "storage", "cp", sdist,
                                       package_uri]))
      print("Submit: " + shlex.join(gcloud))
      print(f"Final job spec ({config_path}):\n{text}", end="")
      keep = True
      return
    if sdist:
      upload(sdist, package_uri, config.project)
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
  submit(settings.validate(settings.from_flags(CloudConfig)), argv[2:])


if __name__ == "__main__":
  settings.define_flags(CloudConfig)
  cli.run(main)
