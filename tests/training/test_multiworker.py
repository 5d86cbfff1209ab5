"""Multi-worker training: two train processes on 127.0.0.1, as Vertex AI runs.

Each test starts a chief and a worker (`python -m youtube8m.train`, the form
Vertex AI's Python package jobs use) with a TF_CONFIG naming both, so
train.py picks MultiWorkerMirroredStrategy. Their TMPDIRs are separate
directories of the test, so everything a task puts in its scratch space is
visible; the worker runs with YT8M_KEEP_WORKER_DIR=1 where its copy of the
checkpoint is compared with the chief's.

The unit tests at the end cover the scratch-dir bookkeeping and the one-line
messages for the other ways TensorFlow reports a lost peer (missed
heartbeats, an unreachable coordination service, a collective timeout),
using the messages TensorFlow 2.21 printed when a peer was SIGSTOPped.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m.training import distribution

from support import workflow_helpers as wh

# Subprocesses and end-to-end runs: the full suite only.
pytestmark = pytest.mark.slow

NUM_CLASSES = 100  # small, so a step's all-reduce is cheap
STEP_LINE = re.compile(r"training step (\d+)(?:/\d+)? \|.*?Loss: ([0-9.]+)")


@pytest.fixture(name="data", scope="module")
def _data(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("multiworker_data"))
  # Two training files: each worker reads its own (readers.make_dataset).
  make_dataset.generate(out, num_train=256, num_validate=8, num_test=8,
                        shards=2, num_classes=NUM_CLASSES, min_frames=2,
                        max_frames=4, seed=3, frame_level=False)
  return out


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Cluster:
  """A chief and a worker process; always killed by `stop()`."""

  TASKS = ("chief", "worker")

  def __init__(self, tmp_path, data, flags, env=None, train_dir=None):
    self.root = tmp_path
    self.train_dir = train_dir or str(tmp_path / "train")
    self.addresses = {task: f"127.0.0.1:{_free_port()}" for task in self.TASKS}
    cluster = {task: [address] for task, address in self.addresses.items()}
    self.processes, self.logs = {}, {}
    for task in self.TASKS:
      tmpdir = tmp_path / f"{task}_tmp"
      tmpdir.mkdir()
      task_env = {"TF_CONFIG": json.dumps({
          "cluster": cluster, "task": {"type": task, "index": 0}}),
                  "TMPDIR": str(tmpdir)}
      task_env.update((env or {}).get(task, {}))
      self.logs[task] = str(tmp_path / f"{task}.log")
      with open(self.logs[task], "w") as log:
        self.processes[task] = subprocess.Popen(
            [sys.executable, "-m", "youtube8m.train",
             f"--train_dir={self.train_dir}",
             f"--train_data_pattern={data}/video/train*.tfrecord",
             f"--num_classes={NUM_CLASSES}", "--batch_size=16",
             "--num_readers=1", "--log_every_steps=1"] + flags,
            cwd=wh.REPO, env=wh.script_env(task_env), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT)

  def log(self, task):
    with open(self.logs[task]) as f:
      return f.read()

  def scratch_dirs(self, task):
    """The task's yt8m_* dirs in its TMPDIR (autograph puts files there too)."""
    return sorted(name for name in os.listdir(self.root / f"{task}_tmp")
                  if name.startswith("yt8m_"))

  def wait(self, task, timeout):
    try:
      return self.processes[task].wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      raise AssertionError(f"{task} still running after {timeout} s:\n"
                           f"{self.log(task)[-3000:]}") from None

  def stop(self):
    # SIGKILL: in multi-worker mode TensorFlow catches SIGTERM (its
    # preemption notifier) and the process goes on.
    for process in self.processes.values():
      if process.poll() is None:
        process.kill()
      process.wait()


@pytest.fixture(name="start")
def _start(tmp_path, data):
  clusters = []

  def start(flags, env=None, data_dir=None, train_dir=None):
    clusters.append(Cluster(tmp_path, data_dir or data, flags, env, train_dir))
    return clusters[-1]
  yield start
  for cluster in clusters:
    cluster.stop()


def _checkpoint_values(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def test_workers_end_identical_and_only_the_chief_writes(start):
  # No --seed: the chief's initial weights are broadcast to the worker.
  cluster = start(["--max_steps=4", "--export_model_steps=4"],
                  env={"worker": {"YT8M_KEEP_WORKER_DIR": "1"}})
  for task in Cluster.TASKS:
    assert cluster.wait(task, 100) == 0, cluster.log(task)[-3000:]
  logs = {task: cluster.log(task) for task in Cluster.TASKS}
  for text in logs.values():
    assert "2 replica(s) x batch 16 = 32 examples per step" in text
    assert [int(s) for s, _ in STEP_LINE.findall(text)] == [1, 2, 3, 4]
  # Each logs its own replica's loss: they read different files...
  losses = {task: [float(l) for _, l in STEP_LINE.findall(logs[task])]
            for task in Cluster.TASKS}
  assert losses["chief"] != losses["worker"]

  # ...yet end with the same weights: the worker's kept checkpoint (model,
  # optimizer slots and step) equals the chief's, bit for bit.
  kept = [os.path.join(cluster.root, "worker_tmp", name)
          for name in cluster.scratch_dirs("worker")]
  assert all(os.path.basename(d).startswith("yt8m_worker_0_") for d in kept)
  kept_ckpt = [d for d in kept if os.path.exists(f"{d}/ckpt-4.index")]
  kept_export = [d for d in kept if os.path.exists(f"{d}/saved_model.pb")]
  assert len(kept_ckpt) == 1 and len(kept_export) == 1 and len(kept) == 2
  chief = _checkpoint_values(f"{cluster.train_dir}/ckpt-4")
  worker = _checkpoint_values(f"{kept_ckpt[0]}/ckpt-4")
  assert sorted(chief) == sorted(worker) and len(chief) > 3
  for name, value in chief.items():
    assert np.array_equal(value, worker[name]), name
  assert chief[[n for n in chief if "iterations" in n][0]] == 4

  # Only the chief wrote to train_dir: one event file, with its pid.
  chief_pid = cluster.processes["chief"].pid
  names = sorted(os.listdir(cluster.train_dir))
  events = [n for n in names if n.startswith("events.out.tfevents.")]
  assert len(events) == 1 and f".{chief_pid}." in events[0], names
  assert sorted(set(names) - set(events)) == [
      "checkpoint", "ckpt-4.data-00000-of-00001", "ckpt-4.index", "export",
      "model_flags.json", "model_size.json"]
  assert os.listdir(f"{cluster.train_dir}/export") == ["step_4"]
  assert os.path.exists(f"{cluster.train_dir}/export/step_4/saved_model.pb")
  assert cluster.scratch_dirs("chief") == []  # the chief has no scratch dir


def test_two_workers_on_gcs_chief_writes_worker_cleans_up(start, data, gcs):
  """The Vertex AI setting: data and train_dir on gs:// (the local emulator)."""
  bucket = gcs.storage_client().bucket(gcs.bucket)
  for name in sorted(os.listdir(f"{data}/video")):
    if name.startswith("train"):
      bucket.blob(f"multiworker/data/video/{name}").upload_from_filename(
          f"{data}/video/{name}")
  env = dict(gcs.env)
  cluster = start(["--max_steps=3", "--export_model_steps=0"],
                  env={"chief": env, "worker": env},
                  data_dir=gcs.path("multiworker", "data"),
                  train_dir=gcs.path("multiworker", "train"))
  for task in Cluster.TASKS:
    assert cluster.wait(task, 100) == 0, cluster.log(task)[-3000:]
  names = sorted(blob.name.split("/", 2)[2] for blob in bucket.list_blobs(
      prefix="multiworker/train/"))
  chief_pid = cluster.processes["chief"].pid
  events = [n for n in names if n.startswith("events.out.tfevents.")]
  assert len(events) == 1 and f".{chief_pid}." in events[0], names
  assert sorted(set(names) - set(events)) == [
      "", "checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index",
      "model_flags.json", "model_size.json"]  # "": makedirs' directory marker
  assert cluster.scratch_dirs("worker") == []  # removed when training ended


def test_lost_worker_fails_the_chief_fast_with_one_line(start):
  cluster = start(["--max_steps=100000", "--num_epochs=0"])
  deadline = time.time() + 90
  while not re.search(r"training step 3[/ ]", cluster.log("worker")):
    for task in Cluster.TASKS:
      assert cluster.processes[task].poll() is None, cluster.log(task)[-3000:]
    assert time.time() < deadline, cluster.log("worker")[-3000:]
    time.sleep(0.2)
  cluster.processes["worker"].send_signal(signal.SIGKILL)
  killed = time.time()
  assert cluster.wait("chief", 60) == 1
  elapsed = time.time() - killed
  assert elapsed < 60
  text = cluster.log("chief")
  errors = [line for line in text.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, text[-3000:]
  assert errors[0].startswith(
      f"error: lost contact with worker 0 ({cluster.addresses['worker']}): ")
  assert "restart the job" in errors[0] and "Traceback" not in text
  assert cluster.scratch_dirs("chief") == []


def test_sigterm_to_one_task_stops_both_at_the_same_saved_step(start):
  """Preemption: the tasks agree on the step; the chief saves it."""
  cluster = start(["--max_steps=100000", "--num_epochs=0",
                   "--export_model_steps=0", "--save_checkpoint_secs=1e9"])
  deadline = time.time() + 90
  while not re.search(r"training step 3[/ ]", cluster.log("worker")):
    for task in Cluster.TASKS:
      assert cluster.processes[task].poll() is None, cluster.log(task)[-3000:]
    assert time.time() < deadline, cluster.log("worker")[-3000:]
    time.sleep(0.2)
  cluster.processes["worker"].send_signal(signal.SIGTERM)
  for task in Cluster.TASKS:
    assert cluster.wait(task, 60) == 143, cluster.log(task)[-3000:]
  stops = {task: re.findall(r"stopped by SIGTERM after step (\d+): saved "
                            r"(\S+);", cluster.log(task))
           for task in Cluster.TASKS}
  assert all(len(found) == 1 for found in stops.values()), stops
  step = int(stops["chief"][0][0])
  assert int(stops["worker"][0][0]) == step >= 3
  assert stops["chief"][0][1] == f"{cluster.train_dir}/ckpt-{step}"
  assert os.path.exists(f"{cluster.train_dir}/ckpt-{step}.index")
  assert not os.path.exists(f"{cluster.train_dir}/.train.lock")
  assert "Traceback" not in cluster.log("chief") + cluster.log("worker")


def test_hung_chief_fails_the_worker_which_removes_its_scratch_dir(start):
  """SIGSTOP: no connection reset, as when a host vanishes from the network.

  The chief runs the coordination service; the worker's heartbeats to it go
  unanswered (TensorFlow's default heartbeat timeout is 10 s).
  """
  cluster = start(["--max_steps=100000", "--num_epochs=0"])
  deadline = time.time() + 90
  while not re.search(r"training step 3[/ ]", cluster.log("chief")):
    for task in Cluster.TASKS:
      assert cluster.processes[task].poll() is None, cluster.log(task)[-3000:]
    assert time.time() < deadline, cluster.log("chief")[-3000:]
    time.sleep(0.2)
  assert len(cluster.scratch_dirs("worker")) == 1  # its checkpoint scratch dir
  cluster.processes["chief"].send_signal(signal.SIGSTOP)
  stopped = time.time()
  assert cluster.wait("worker", 60) == 1
  assert time.time() - stopped < 60
  text = cluster.log("worker")
  errors = [line for line in text.splitlines() if line.startswith("error:")]
  assert errors == [
      f"error: lost contact with chief 0 ({cluster.addresses['chief']}): the "
      "coordination service it runs stopped answering; restart the job "
      "(training resumes from the latest checkpoint in train_dir)"], text[-3000:]
  assert cluster.scratch_dirs("worker") == []  # removed at exit


# -- unit tests: no processes -------------------------------------------------

_CLUSTER = {"chief": ["10.0.0.2:2222"], "worker": ["10.0.0.3:2222",
                                                   "10.0.0.4:2222"]}
# What the survivors got in TensorFlow 2.21 (abridged to the lines that matter).
_HEARTBEATS = (
    "{{function_node __inference_<lambda>_785}} Collective ops is aborted by:"
    " Error reported from /job:worker/task:0: The following tasks are "
    "unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\n"
    "The tasks have crashed. Check the task logs for an earlier error, or "
    "scheduler events (e.g. preemption, eviction) to debug further.\n"
    "The error could be from a previous operation. Restart your program to "
    "reset.\n\t [[{{node CollectiveReduceV2}}]] [Op:__inference_<lambda>_785]")
_SERVICE_GONE = (
    "{{function_node __inference_<lambda>_773}} Collective ops is aborted by: "
    "Deadline Exceeded\n\nRPC: /tensorflow.CoordinationService/Heartbeat\n"
    "The error could be from a previous operation. Restart your program to "
    "reset.\n\t [[{{node CollectiveReduceV2}}]]")
_RESET = (
    "{{function_node __inference_<lambda>_773}} Collective ops is aborted by: "
    "recvmsg:Connection reset by peer\nAdditional GRPC error information from "
    "remote target /job:chief/replica:0/task:0 while calling "
    "/tensorflow.WorkerService/CompleteInstance:\n:UNKNOWN:Error received "
    "from peer  {grpc_status:14, grpc_message:\"recvmsg:Connection reset by "
    "peer\"}\nThe error could be from a previous operation.")
_TIMEOUT = ("Collective ops is aborted by: Collective has timed out during "
            "execution.\nThe error could be from a previous operation.")


@pytest.mark.parametrize("error_class, text, expected", [
    (tf.errors.UnavailableError, _HEARTBEATS,
     "lost contact with worker 1 (10.0.0.4:2222): stopped sending "
     "heartbeats"),
    (tf.errors.DeadlineExceededError, _SERVICE_GONE,
     "lost contact with chief 0 (10.0.0.2:2222): the coordination service"),
    (tf.errors.UnavailableError, _RESET,
     "lost contact with chief 0 (10.0.0.2:2222): recvmsg:Connection reset by "
     "peer; restart the job"),
    (tf.errors.DeadlineExceededError, _TIMEOUT,
     "lost contact with one of chief 0 (10.0.0.2:2222), worker 1 "
     "(10.0.0.4:2222): an all-reduce waited longer than "
     "--collective_timeout_secs"),
])
def test_peer_failure_messages(monkeypatch, error_class, text, expected):
  from youtube8m.common import cli  # pylint: disable=import-outside-toplevel
  monkeypatch.setenv("TF_CONFIG", json.dumps({
      "cluster": _CLUSTER, "task": {"type": "worker", "index": 0}}))
  message = cli._one_line(error_class(None, None, text))  # pylint: disable=protected-access
  assert message.startswith(expected) and "\n" not in message, message
  # The same classes from elsewhere (a GCS read, say) are left alone.
  assert distribution.peer_failure_message(
      error_class(None, None, "Deadline exceeded reading gs://b/x")) is None


def test_scratch_dirs_removed_kept_or_removed_at_exit(monkeypatch, tmp_path):
  monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
  monkeypatch.setenv("TF_CONFIG", json.dumps({
      "cluster": _CLUSTER, "task": {"type": "worker", "index": 1}}))
  worker = types.SimpleNamespace(cluster_resolver=types.SimpleNamespace(
      task_type="worker", task_id=1))
  chief = types.SimpleNamespace(cluster_resolver=types.SimpleNamespace(
      task_type="chief", task_id=0))
  assert distribution.worker_dir("/train", chief) == "/train"
  scratch = distribution.worker_dir("/train", worker)
  assert os.path.basename(scratch).startswith("yt8m_worker_1_")
  assert os.path.dirname(scratch) == str(tmp_path)
  distribution.cleanup_worker_dir(scratch, worker)  # the normal path
  assert not os.path.exists(scratch)
  # A run that fails before cleanup_worker_dir: removed at exit.
  failed = distribution.worker_dir("/train", worker)
  distribution._remove_scratch_dirs()  # pylint: disable=protected-access
  assert not os.path.exists(failed)
  monkeypatch.setenv(distribution.KEEP_WORKER_DIR_ENV, "1")
  kept = distribution.worker_dir("/train", worker)
  distribution.cleanup_worker_dir(kept, worker)
  distribution._remove_scratch_dirs()  # pylint: disable=protected-access
  assert os.path.isdir(kept)
