"""Vertex AI CustomJobSpec checks: what the submit helper verifies offline.

`validate_job_spec` checks a spec dict (camelCase, as in configs/*.yaml)
against Vertex AI's own protobuf schema (google-cloud-aiplatform) and the
rules the schema cannot state; `check_text` refuses control characters in a
value bound for the job YAML. Both raise a one-line Yt8mError naming the
file or flag at fault.
"""

import re

from youtube8m.common import utils

# C0 (newline, tab, NUL...), DEL, C1: could end a YAML line, start a key.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Vertex machine types look like n1-standard-8, a2-highgpu-1g, g2-standard-4.
MACHINE_TYPE = re.compile(r"^(?:[a-z][a-z0-9]*-[a-z]+-[0-9]+[a-z]?|cloud-tpu)$")
# Each GPU type attaches to one machine family only (Vertex AI's compute
# docs); checked here so the error names the file rather than the API call.
GPU_MACHINE_FAMILY = dict(
    NVIDIA_TESLA_T4="n1", NVIDIA_TESLA_V100="n1", NVIDIA_TESLA_P100="n1",
    NVIDIA_TESLA_P4="n1", NVIDIA_TESLA_A100="a2", NVIDIA_A100_80GB="a2",
    NVIDIA_L4="g2", NVIDIA_H100_80GB="a3")


def control_message(value, where):
  """The message for a string holding a control character, else None."""
  match = _CONTROL.search(value) if isinstance(value, str) else None
  return match and (f"{where}: {value!r} holds the control character "
                    f"{match.group(0)!r}; job specs take none (no newlines, "
                    "tabs or NUL)")


def check_text(value, where):
  """Raises a Yt8mError naming `where` if `value` holds a control character."""
  if control_message(value, where):
    raise utils.Yt8mError(control_message(value, where))


def _spec_faults(node, path="spec"):
  """Yields a message per underscore key (gcloud reads camelCase keys only)
  and per key or string holding a control character."""
  if isinstance(node, dict):
    for key, value in node.items():
      fault = control_message(str(key), f"a key of {path}")
      if fault or "_" in str(key):
        yield fault or (f"key {path}.{key} has an underscore; gcloud reads "
                        "camelCase keys only")
      yield from _spec_faults(value, f"{path}.{key}")
  elif isinstance(node, list):
    for i, value in enumerate(node):
      yield from _spec_faults(value, f"{path}[{i}]")
  elif control_message(node, path):
    yield control_message(node, path)


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
