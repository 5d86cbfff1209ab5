"""Choosing the tf.distribute strategy, and the chief's role among workers.

- TF_CONFIG naming two or more tasks (Vertex AI sets it for multi-replica
  jobs: `chief` + `worker`): MultiWorkerMirroredStrategy.
- Otherwise two or more local GPUs (capped by --num_gpu): MirroredStrategy;
  each replica gets a full --batch_size and gradients are summed.
- One GPU: OneDeviceStrategy on it. No GPU: the default strategy.
Create the strategy before any other TensorFlow op in the process.

When a peer is lost. MultiWorkerMirroredStrategy starts TensorFlow's
coordination service on the chief (verified on TF 2.21); every task sends
it heartbeats. A peer that crashes (connection reset) or stops answering
(no heartbeat for ~10 s, e.g. a vanished host) aborts the collective ops on
the others with UnavailableError / DeadlineExceededError; `peer_failure_message`
turns that into one line naming the peer. --collective_timeout_secs also
bounds each collective op, for a peer that is alive but stuck (its input
pipeline, say): keep it above the longest pause between two steps (the
chief's checkpoint or SavedModel export to gs:// is one).

Non-chief scratch directories (`worker_dir`) are removed when training ends,
or at exit if training fails (not after SIGKILL). Set YT8M_KEEP_WORKER_DIR=1 to keep them for
inspection (a worker's copy of the checkpoints, e.g. to compare its weights
with the chief's); they are under the system temp dir ($TMPDIR).
"""

import atexit
import json
import os
import re
import shutil
import tempfile

from absl import logging
import tensorflow as tf

from youtube8m.common import cli
from youtube8m.common import outputs
from youtube8m.common import utils

# A bound on each collective op (all-reduce) under MultiWorkerMirroredStrategy.
# Generous: a healthy peer can spend minutes between two steps writing a
# checkpoint or an export to gs://, while the others wait in the all-reduce.
DEFAULT_COLLECTIVE_TIMEOUT_SECS = 900
KEEP_WORKER_DIR_ENV = "YT8M_KEEP_WORKER_DIR"


def tf_config():
  """The parsed TF_CONFIG environment variable ({} when unset)."""
  raw = os.environ.get("TF_CONFIG", "")
  if not raw.strip():
    return {}
  try:
    config = json.loads(raw)
  except ValueError as e:
    raise utils.Yt8mError(f"TF_CONFIG is not valid JSON: {e}") from e
  if not isinstance(config, dict):
    raise utils.Yt8mError("TF_CONFIG must be a JSON object")
  return config


def num_tasks(config=None):
  """Chief and worker tasks in TF_CONFIG's cluster (parameter servers aside)."""
  cluster = (tf_config() if config is None else config).get("cluster", {})
  return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def get_strategy(num_gpu=None,
                 collective_timeout_secs=DEFAULT_COLLECTIVE_TIMEOUT_SECS):
  """The strategy for this process; see the module docstring.

  Args:
    num_gpu: most local GPUs to use (None or < 0: all).
    collective_timeout_secs: multi-worker only: fail a collective op that
      has not completed after this long (None or <= 0: wait forever).
  """
  config = tf_config()
  if num_tasks(config) > 1:
    if config.get("cluster", {}).get("ps"):
      raise utils.Yt8mError(
          "TF_CONFIG names parameter servers: this trainer uses "
          "MultiWorkerMirroredStrategy (chief + workers) instead")
    task = config.get("task", {})
    logging.info("MultiWorkerMirroredStrategy: %d tasks, this is %s %s",
                 num_tasks(config), task.get("type"), task.get("index"))
    timeout = collective_timeout_secs
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=float(timeout) if timeout and timeout > 0 else None)
    return tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=options)
  gpus = tf.config.list_physical_devices("GPU")
  if num_gpu is not None and num_gpu >= 0:
    if num_gpu > len(gpus):
      logging.warning("--num_gpu=%d but only %d GPUs are visible", num_gpu,
                      len(gpus))
    gpus = gpus[:num_gpu]
  if len(gpus) > 1:
    devices = [f"/gpu:{i}" for i in range(len(gpus))]
    logging.info("MirroredStrategy over %s", devices)
    return tf.distribute.MirroredStrategy(devices)
  if len(gpus) == 1:
    logging.info("One GPU: OneDeviceStrategy('/gpu:0')")
    return tf.distribute.OneDeviceStrategy("/gpu:0")
  logging.info("No GPU: the default strategy on the CPU")
  return tf.distribute.get_strategy()


def task_type_and_index(strategy):
  """(type, index) of this task: ('chief', 0) outside multi-worker runs."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return "chief", 0
  return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy):
  """The chief writes checkpoints, summaries and exports; others do not.

  With a `chief` task in the cluster it is the chief; without one, worker 0.
  """
  task_type, index = task_type_and_index(strategy)
  if task_type == "chief":
    return True
  has_chief = bool(tf_config().get("cluster", {}).get("chief"))
  return task_type == "worker" and index == 0 and not has_chief


def _keep_worker_dirs():
  return os.environ.get(KEEP_WORKER_DIR_ENV, "").strip().lower() in (
      "1", "true", "yes")


_SCRATCH_DIRS = []  # this process's scratch dirs not yet removed


def _remove_scratch_dirs():
  """At exit: a run that failed half-way leaves no scratch dir behind."""
  while _SCRATCH_DIRS:
    shutil.rmtree(_SCRATCH_DIRS.pop(), ignore_errors=True)


atexit.register(_remove_scratch_dirs)


def worker_dir(path, strategy):
  """Where this task writes: `path` on the chief, a scratch dir elsewhere.

  Under MultiWorkerMirroredStrategy every worker must run the same save ops
  (they are collective), so non-chief workers save to a local temporary
  directory that `cleanup_worker_dir` removes (or the exit, on failure;
  YT8M_KEEP_WORKER_DIR=1 keeps it).
  """
  if is_chief(strategy):
    return path
  task_type, index = task_type_and_index(strategy)
  scratch = tempfile.mkdtemp(prefix=f"yt8m_{task_type}_{index}_")
  if _keep_worker_dirs():
    logging.info("%s is set: keeping this worker's copy of %s in %s",
                 KEEP_WORKER_DIR_ENV, path, scratch)
  else:
    _SCRATCH_DIRS.append(scratch)
  return scratch


def cleanup_worker_dir(path, strategy):
  """Removes a non-chief worker's scratch dir (unless asked to keep it)."""
  if is_chief(strategy) or _keep_worker_dirs():
    return
  if path in _SCRATCH_DIRS:
    _SCRATCH_DIRS.remove(path)
  outputs.remove(path)


# A task name in TensorFlow's messages: /job:worker/replica:0/task:1.
_TASK = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")


def _config_or_empty():
  """TF_CONFIG for error messages: never raises while reporting an error."""
  try:
    return tf_config()
  except utils.Yt8mError:
    return {}


def _peer_name(job, index):
  """`worker 1 (10.0.0.3:2222)`, with the address from TF_CONFIG if known."""
  addresses = _config_or_empty().get("cluster", {}).get(job, [])
  address = addresses[index] if index < len(addresses) else None
  return f"{job} {index}" + (f" ({address})" if address else "")


def _coordination_leader():
  """(job, index) of the task running the coordination service."""
  has_chief = bool(_config_or_empty().get("cluster", {}).get("chief"))
  return ("chief", 0) if has_chief else ("worker", 0)


def _other_tasks():
  """(job, index) of every chief/worker task but this one."""
  config = _config_or_empty()
  task = config.get("task", {})
  me = (task.get("type"), int(task.get("index") or 0))
  return [(job, i) for job in ("chief", "worker")
          for i in range(len(config.get("cluster", {}).get(job, [])))
          if (job, i) != me]


@cli.add_diagnosis
def peer_failure_message(error):
  """One line for a multi-worker run that lost a peer, or None.

  Recognizes what TensorFlow raises on the survivors when a peer crashes
  (connection reset), stops sending heartbeats, no longer answers as the
  coordination service, or lets an all-reduce exceed
  --collective_timeout_secs. The job cannot go on without the peer.
  """
  if not isinstance(error, (tf.errors.UnavailableError,
                            tf.errors.DeadlineExceededError,
                            tf.errors.FailedPreconditionError,
                            tf.errors.InternalError)):
    return None
  text = getattr(error, "message", "") or str(error)
  if "stopped sending heartbeats" in text:
    tasks = _TASK.findall(text.split("stopped sending heartbeats", 1)[1])
    reason = "stopped sending heartbeats (crashed, hung or unreachable)"
  elif "/tensorflow.CoordinationService/" in text:
    # This task's heartbeat RPC to the service went unanswered.
    tasks = [_coordination_leader()]
    reason = "the coordination service it runs stopped answering"
  elif "Collective has timed out" in text:
    tasks = []  # TensorFlow does not say whom it waited for
    reason = "an all-reduce waited longer than --collective_timeout_secs"
  elif "Collective ops is aborted by:" in text:
    remote = re.search("remote target " + _TASK.pattern, text)
    tasks = [remote.groups()] if remote else []
    reason = text.split("Collective ops is aborted by:", 1)[1].strip()
    reason = reason.splitlines()[0].strip() if reason else "aborted"
  else:
    return None
  unique = list(dict.fromkeys((job, int(index)) for job, index in tasks))
  peers = ", ".join(_peer_name(job, index)
                    for job, index in unique or _other_tasks())
  if not unique and len(_other_tasks()) != 1:
    peers = f"one of {peers}" if peers else "a peer"
  return (f"lost contact with {peers}: {reason}; restart the job (training "
          "resumes from the latest checkpoint in train_dir)")
