"""tf.data service: parsing and batching on a pool of CPU workers.

A frame-level video is up to 300 x 1,152 bytes to parse; when one host's
CPUs cannot parse as fast as its accelerators train, TensorFlow's answer is
the tf.data service: a dispatcher hands the input files to worker
processes (any number, on other machines), which read, parse and batch
them and stream the batches to the trainer. Here:

  * `distribute(dataset, address)`: the reader's pipeline (readers.
    make_dataset) runs on the service's workers instead of in-process.
  * `python -m youtube8m.data_service dispatcher|worker|tf_config` starts
    the servers (`run`): a dispatcher, a worker, or on Vertex AI the role
    TF_CONFIG gives this replica of the data-service pool
    (configs/train-data-service.yaml).

Processing mode: DYNAMIC sharding (ShardingPolicy.DYNAMIC, "distributed
epoch"). The dispatcher gives each worker the next file when it asks, so
every record of an epoch is read by exactly one worker, once: no video is
repeated or left out, and fast workers take more files. The alternative,
OFF ("parallel epochs"), has every worker read every file, which repeats
each video once per worker. DYNAMIC's guarantee is at-most-once: a worker
that is restarted mid-file loses the rest of that file for that epoch. The
price of either: batches are formed per worker and arrive in no fixed
order, so eval's metrics equal the in-process ones up to float rounding
(the same videos, each once; metrics/pooled ranking are order-free) and
inference's CSV rows come in another order.
"""

import dataclasses
import hashlib

from absl import logging
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import data_service_config

FROM_TF_CONFIG = data_service_config.FROM_TF_CONFIG
CLUSTER_ROLE = data_service_config.CLUSTER_ROLE
ROLES = data_service_config.ROLES
check_address = data_service_config.check_address
DataServiceConfig = data_service_config.DataServiceConfig


def _cluster_tasks(config):
  return (config or {}).get("cluster", {}).get(CLUSTER_ROLE, [])


def service_target(address, tf_config=None):
  """grpc://host:port of the dispatcher that `address` names.

  Args:
    address: host:port, grpc://host:port, or FROM_TF_CONFIG.
    tf_config: the parsed TF_CONFIG (for FROM_TF_CONFIG).
  """
  check_address("data_service_address", address)
  if address == FROM_TF_CONFIG:
    tasks = _cluster_tasks(tf_config)
    if not tasks:
      raise utils.Yt8mError(
          f"--data_service_address={FROM_TF_CONFIG}: TF_CONFIG names no "
          f"'{CLUSTER_ROLE}' task (Vertex AI's worker pool 2, where the "
          "data service runs); see configs/train-data-service.yaml")
    address = tasks[0]
  return address if address.startswith("grpc://") else f"grpc://{address}"


def job_name_for(key):
  """A job name shared by every trainer reading the same run's data."""
  return "yt8m-" + hashlib.sha1(str(key).encode()).hexdigest()[:16]


def distribute(dataset, target, job_name=None):
  """`dataset` produced by the tf.data service at `target` (grpc://...).

  DYNAMIC sharding: each record once per epoch (module docstring). With a
  job_name, several consumers (the hosts of a multi-worker run) share one
  job, each batch going to one of them; without, each iteration is a job
  of its own (eval's passes, inference).
  """
  service = tf.data.experimental.service
  return dataset.apply(service.distribute(
      processing_mode=service.ShardingPolicy.DYNAMIC, service=target,
      job_name=job_name))


def start_dispatcher(config):
  """A running tf.data DispatchServer; returns it."""
  service = tf.data.experimental.service
  server = service.DispatchServer(service.DispatcherConfig(
      port=config.port, work_dir=config.work_dir or None,
      fault_tolerant_mode=bool(config.work_dir)))
  logging.info("tf.data service dispatcher at %s", server.target)
  return server


def start_worker(config):
  """A running tf.data WorkerServer registered with the dispatcher."""
  if not config.dispatcher_address:
    raise utils.Yt8mError("worker: --dispatcher_address is required")
  service = tf.data.experimental.service
  dispatcher = service_target(config.dispatcher_address)[len("grpc://"):]
  server = service.WorkerServer(service.WorkerConfig(
      dispatcher_address=dispatcher, port=config.port,
      worker_address=config.worker_address or None))
  logging.info("tf.data service worker on port %d, dispatcher %s",
               config.port, dispatcher)
  return server


def run(config, tf_config=None):
  """Starts the server `config.role` names; returns it (running)."""
  if config.role == "dispatcher":
    return start_dispatcher(config)
  if config.role == "worker":
    return start_worker(config)
  if config.role == FROM_TF_CONFIG:
    return from_tf_config(config, tf_config)
  data_service_config.check_role(config.role)
  raise utils.Yt8mError("--role is required")


def from_tf_config(config, tf_config):
  """The server this replica of the data-service pool runs: the first 'ps'
  task is the dispatcher, the others workers, each on the host:port that
  TF_CONFIG names for it."""
  tasks = _cluster_tasks(tf_config)
  task = (tf_config or {}).get("task", {})
  if task.get("type") != CLUSTER_ROLE or not tasks:
    raise utils.Yt8mError(
        f"tf_config: this replica is not a '{CLUSTER_ROLE}' task of "
        "TF_CONFIG (run it in Vertex AI's worker pool 2)")
  index = int(task.get("index", 0))
  port = int(tasks[index].rsplit(":", 1)[1])
  if index == 0:
    return start_dispatcher(dataclasses.replace(config, port=port))
  return start_worker(dataclasses.replace(
      config, port=port, dispatcher_address=tasks[0],
      worker_address=tasks[index]))
