"""Choosing the tf.distribute strategy, and the chief's role among workers.

- TF_CONFIG naming two or more tasks (Vertex AI sets it for multi-replica
  jobs: `chief` + `worker`): MultiWorkerMirroredStrategy.
- Otherwise two or more local GPUs (capped by --num_gpu): MirroredStrategy;
  each replica gets a full --batch_size and gradients are summed.
- One GPU: OneDeviceStrategy on it. No GPU: the default strategy.
Create the strategy before any other TensorFlow op in the process.
"""

import json
import os
import tempfile

from absl import logging
import tensorflow as tf

from youtube8m import utils


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


def get_strategy(num_gpu=None):
  """The strategy for this process; see the module docstring."""
  config = tf_config()
  if num_tasks(config) > 1:
    if config.get("cluster", {}).get("ps"):
      raise utils.Yt8mError(
          "TF_CONFIG names parameter servers: this trainer uses "
          "MultiWorkerMirroredStrategy (chief + workers) instead")
    task = config.get("task", {})
    logging.info("MultiWorkerMirroredStrategy: %d tasks, this is %s %s",
                 num_tasks(config), task.get("type"), task.get("index"))
    return tf.distribute.MultiWorkerMirroredStrategy()
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


def worker_dir(path, strategy):
  """Where this task writes: `path` on the chief, a scratch dir elsewhere.

  Under MultiWorkerMirroredStrategy every worker must run the same save ops
  (they are collective), so non-chief workers save to a local temporary
  directory that `cleanup_worker_dir` removes.
  """
  if is_chief(strategy):
    return path
  task_type, index = task_type_and_index(strategy)
  return tempfile.mkdtemp(prefix=f"yt8m_{task_type}_{index}_")


def cleanup_worker_dir(path, strategy):
  if not is_chief(strategy) and tf.io.gfile.exists(path):
    tf.io.gfile.rmtree(path)
