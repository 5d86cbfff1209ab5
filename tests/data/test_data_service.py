"""data_service.py: the reader's pipeline on tf.data service workers.

A dispatcher and two workers run on 127.0.0.1 (in this process, and as the
`python -m youtube8m.data_service` commands): every video comes exactly
once per epoch, and training and evaluation through the service give the
in-process results.
"""

import collections
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import data_service
from youtube8m.data import readers
from youtube8m.evaluation import eval_lib
from youtube8m.training import train_lib

from support import records
from support import tiny


@pytest.fixture(name="service", scope="module")
def _service():
  """grpc:// target of a dispatcher with two workers on 127.0.0.1."""
  service = tf.data.experimental.service
  dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
  address = dispatcher.target[len("grpc://"):]
  workers = [service.WorkerServer(service.WorkerConfig(
      dispatcher_address=address)) for _ in range(2)]
  yield dispatcher.target
  del workers


def _frame_files(tmp_path, shards=3, per_shard=7):
  rng = np.random.default_rng(0)
  for shard in range(shards):
    records.write(tmp_path / f"f{shard}.tfrecord", [records.frame_record(
        f"s{shard}v{n}", [int(rng.integers(tiny.NUM_CLASSES))],
        {"rgb": rng.integers(0, 256, (int(rng.integers(1, 6)), 8))})
        for n in range(per_shard)])
  return str(tmp_path / "f*.tfrecord")


def _ids(dataset):
  counts = collections.Counter()
  for batch in dataset:
    counts.update(v.decode() for v in batch["video_ids"].numpy())
  return counts


@pytest.mark.slow
def test_every_video_once_per_epoch_across_two_workers(service, tmp_path):
  pattern = _frame_files(tmp_path)
  reader = readers.get_reader(True, tiny.NUM_CLASSES, "rgb", "8", raw=True,
                              pad_to_longest=True)
  local = _ids(readers.make_dataset(reader, pattern, 4))
  assert len(local) == 21
  for epochs, shuffle in [(1, False), (3, True)]:
    served = _ids(readers.make_dataset(
        reader, pattern, 4, num_epochs=epochs, shuffle=shuffle, seed=1,
        data_service=service))
    assert served == collections.Counter({v: epochs for v in local})


@pytest.mark.slow
def test_train_and_eval_through_the_service(service, tmp_path):
  for i in range(3):
    tiny.video_file(tmp_path / f"t{i}.tfrecord", count=9, seed=i)
  pattern = str(tmp_path / "t*.tfrecord")
  config = train_lib.TrainConfig(
      train_dir=str(tmp_path / "run"), train_data_pattern=pattern,
      batch_size=4, num_epochs=2, export_model_steps=0, num_readers=2,
      seed=1, model_flags=tiny.video_flags(),
      explicit_flags=frozenset({"model", "feature_names", "feature_sizes",
                                "num_classes"}),
      data_service_address=service)
  # 2 epochs x 27 videos, batches of 4 formed on each worker: the step
  # count of the in-process run (14) is reached from the repeated data.
  assert train_lib.train(config) == 14
  evaluation = eval_lib.EvalConfig(
      train_dir=str(tmp_path / "run"), eval_data_pattern=pattern,
      batch_size=5, run_once=True, top_k=3)
  local = eval_lib.evaluate(evaluation)
  evaluation.data_service_address = service
  served = eval_lib.evaluate(evaluation)
  assert served["num_examples"] == local["num_examples"] == 27
  for key in ("gap", "avg_hit_at_one", "avg_perr", "map"):
    assert served[key] == pytest.approx(local[key], abs=1e-6), key
  np.testing.assert_allclose(served["aps"], local["aps"], atol=1e-6)


def test_addresses_are_checked_in_one_line():
  for good in ("localhost:5050", "grpc://10.0.0.2:5050", "[::1]:5050",
               data_service.FROM_TF_CONFIG, ""):
    data_service.check_address("data_service_address", good)
  for bad in ("localhost", "http://h:1", "h:port", "a b:1"):
    with pytest.raises(utils.Yt8mError, match="is not an address"):
      data_service.check_address("data_service_address", bad)
  cluster = {"cluster": {"chief": ["c:2222"], "ps": ["d:2222", "w:2222"]},
             "task": {"type": "ps", "index": 1}}
  assert data_service.service_target("tf_config", cluster) == "grpc://d:2222"
  assert data_service.service_target("h:1") == "grpc://h:1"
  with pytest.raises(utils.Yt8mError, match="names no 'ps' task"):
    data_service.service_target("tf_config", {"cluster": {"chief": ["c:1"]}})
  with pytest.raises(utils.Yt8mError, match="not a 'ps' task"):
    data_service.from_tf_config(data_service.DataServiceConfig(),
                                {"cluster": cluster["cluster"],
                                 "task": {"type": "chief", "index": 0}})
  assert data_service.job_name_for("gs://b/run") == data_service.job_name_for(
      "gs://b/run") != data_service.job_name_for("gs://b/other")


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_the_command_starts_a_dispatcher_and_workers(tmp_path):
  pattern = _frame_files(tmp_path, shards=2, per_shard=5)
  ports = [_free_port() for _ in range(3)]
  command = [sys.executable, "-m", "youtube8m.data_service"]
  processes = [subprocess.Popen(command + ["dispatcher", f"--port={ports[0]}"],
                                stderr=subprocess.DEVNULL)]
  try:
    for port in ports[1:]:
      processes.append(subprocess.Popen(command + [
          "worker", f"--port={port}",
          f"--dispatcher_address=127.0.0.1:{ports[0]}",
          f"--worker_address=127.0.0.1:{port}"], stderr=subprocess.DEVNULL))
    reader = readers.get_reader(True, tiny.NUM_CLASSES, "rgb", "8", raw=True)
    deadline = time.time() + 120
    while True:  # the servers need TensorFlow's start-up first
      try:
        served = _ids(readers.make_dataset(
            reader, pattern, 3,
            data_service=f"grpc://127.0.0.1:{ports[0]}"))
        break
      except tf.errors.OpError:
        if time.time() > deadline:
          raise
        time.sleep(2)
    assert served == collections.Counter(
        {f"s{s}v{n}": 1 for s in range(2) for n in range(5)})
    bad = subprocess.run(command + ["janitor"], capture_output=True,
                         text=True, check=False, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("error: give one "
                                                         "role")
    # What a scheduler sends when it stops the pool: each server exits.
    for process in processes:
      process.send_signal(signal.SIGTERM)
    assert [p.wait(timeout=30) for p in processes] == [143] * 3
  finally:
    for process in processes:
      process.kill()
      process.wait()
