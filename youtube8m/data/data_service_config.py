"""The tf.data service's settings, without TensorFlow.

`DataServiceConfig` (python -m youtube8m.data_service) and the check of
--data_service_address (train.py, eval.py, inference.py) live here, so the
commands check them before TensorFlow loads; data_service.py starts the
servers and sends the pipeline to them.
"""

import dataclasses
import re

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils

# --data_service_address=tf_config: the dispatcher is the first replica of
# Vertex AI's worker pool 2 (TF_CONFIG task type "ps").
FROM_TF_CONFIG = "tf_config"
_ADDRESS = re.compile(r"^(grpc://)?([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):"
                      r"(\d{1,5})$")
CLUSTER_ROLE = "ps"  # Vertex AI pool 2 in TF_CONFIG
ROLES = ("dispatcher", "worker", FROM_TF_CONFIG)


def check_role(value):
  if value not in ("",) + ROLES:
    raise utils.Yt8mError(f"--role={value!r}: give one role: "
                          f"{' | '.join(ROLES)}")


def check_address(flag, value):
  """Check: "" (off), host:port, grpc://host:port or tf_config."""
  if value in ("", FROM_TF_CONFIG) or _ADDRESS.match(str(value)):
    return
  raise utils.Yt8mError(
      f"--{flag}={value!r} is not an address: give host:port of a tf.data "
      f"service dispatcher (python -m youtube8m.data_service dispatcher), "
      f"or {FROM_TF_CONFIG} on Vertex AI")


@dataclasses.dataclass
class DataServiceConfig:
  """The settings of `python -m youtube8m.data_service`."""
  role: str = settings.setting(
      "", "dispatcher, worker, or tf_config (the role TF_CONFIG gives this "
      "replica); also accepted as the first argument.",
      check=lambda flag, value: check_role(value))
  port: int = settings.setting(
      5050, "Port the dispatcher or worker listens on (0: any free port, "
      "logged).", check=checks.non_negative_int)
  dispatcher_address: str = settings.setting(
      "", "worker: host:port of the dispatcher.", check=check_address)
  worker_address: str = settings.setting(
      "", "worker: host:port the trainers reach this worker at (default: "
      "localhost:PORT, for a worker on the trainer's machine).")
  work_dir: str = settings.setting(
      "", "dispatcher: directory (local or gs://) for its journal, so a "
      "restarted dispatcher resumes its jobs (fault-tolerant mode).")
