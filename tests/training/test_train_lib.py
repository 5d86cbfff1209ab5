"""train_lib.py: the loop's bookkeeping, locks, bad input and NaN stops."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.evaluation import eval_lib
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.training import train_lib
from youtube8m.training import train_lock

from support import one_line
from support import records
from support import tiny


def _config(train_dir, pattern, **kwargs):
  kwargs.setdefault("model_flags", tiny.video_flags())
  kwargs.setdefault("explicit_flags", frozenset({"model", "feature_names",
                                                 "feature_sizes",
                                                 "num_classes"}))
  return train_lib.TrainConfig(
      train_dir=str(train_dir), train_data_pattern=pattern,
      **{"batch_size": 4, "num_epochs": 2, "export_model_steps": 0,
         "num_readers": 1, "seed": 1, **kwargs})


def _last_step(train_dir):
  return checkpoints.checkpoint_step(checkpoints.latest_checkpoint(
      str(train_dir)))


@pytest.mark.slow
def test_epochs_count_over_restarts(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=10)
  # 2 epochs x 10 videos / batch 4 -> 5 steps, whether or not interrupted.
  assert train_lib.train(_config(tmp_path / "a", path)) == 5
  assert train_lib.train(_config(tmp_path / "b", path, max_steps=2)) == 2
  assert train_lib.train(_config(tmp_path / "b", path)) == 5
  assert train_lib.train(_config(tmp_path / "b", path)) == 5  # nothing left
  assert _last_step(tmp_path / "b") == 5


def test_a_limit_already_passed_is_said(tmp_path, caplog):
  """Continuing a train_dir on smaller data: its epochs count from step 0."""
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=10)
  run = tmp_path / "run"
  assert train_lib.train(_config(run, path, max_steps=4, num_epochs=0)) == 4
  caplog.set_level("INFO", logger="absl")
  # 1 epoch x 10 videos / batch 4 -> 3 steps, and the train_dir is at 4.
  assert train_lib.train(_config(run, path, num_epochs=1)) == 4
  assert (f"Nothing to train: {run} is at step 4, past the 3 steps of "
          "--num_epochs=1" in caplog.text)
  assert train_lib.train(_config(run, path, num_epochs=0, max_steps=6)) == 6
  assert caplog.text.count("Nothing to train") == 1


def test_bad_settings_and_data_fail_before_writing(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=3)
  empty = tmp_path / "empty.tfrecord"
  tf.io.TFRecordWriter(str(empty)).close()
  cases = [
      (dict(batch_size=0), "--batch_size=0 is invalid"),
      (dict(model_flags=tiny.video_flags(model="NoSuchModel")),
       "unknown model 'NoSuchModel'"),
      (dict(optimizer="Adamm"), "--optimizer='Adamm' is invalid"),
  ]
  for kwargs, message in cases:
    with pytest.raises(utils.Yt8mError, match=message):
      train_lib.train(_config(tmp_path / "run", path, **kwargs))
    assert not os.path.exists(tmp_path / "run" / "model_flags.json")
  with pytest.raises(utils.Yt8mError, match="hold no record"):
    train_lib.train(_config(tmp_path / "run", str(empty)))
  with pytest.raises(utils.Yt8mError, match="matches only directories"):
    train_lib.train(_config(tmp_path / "run", str(tmp_path)))
  (tmp_path / "file").write_text("x")
  with pytest.raises(utils.Yt8mError, match="is a file, not a directory"):
    train_lib.train(_config(tmp_path / "file", path))
  assert not os.path.exists(tmp_path / "run" / "model_flags.json")


def _nan_file(tmp_path):
  videos = [records.video_record(f"ok{i}", [1], {"mean_rgb": [0.5] * 8})
            for i in range(6)]
  videos.insert(3, records.video_record("bad", [2], {
      "mean_rgb": [0.1] * 7 + [float("nan")]}))
  return records.write(tmp_path / "nan.tfrecord", videos)


@pytest.mark.slow
def test_nonfinite_features_are_named_or_skipped(tmp_path):
  path = _nan_file(tmp_path)
  with pytest.raises(tf.errors.OpError) as info:
    train_lib.train(_config(tmp_path / "run", path))
  message = utils.error_message(info.value)
  assert "nan.tfrecord" in message and "'bad'" in message
  assert "--skip_nonfinite_examples" in message
  assert not tf.train.latest_checkpoint(str(tmp_path / "run"))
  # 2 epochs x 6 good videos / batch 4: the bad one is dropped.
  assert train_lib.train(_config(tmp_path / "skip", path,
                                 skip_nonfinite_examples=True)) == 4


@pytest.mark.slow
def test_a_diverging_run_stops_before_saving(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=8)
  run = tmp_path / "run"
  assert train_lib.train(_config(run, path, max_steps=2)) == 2
  # An absurd learning rate without clipping sends the weights to inf.
  with pytest.raises(utils.Yt8mError) as info:
    train_lib.train(_config(run, path, num_epochs=50,
                            base_learning_rate=1e38, clip_gradient_norm=0,
                            optimizer="GradientDescentOptimizer",
                            model_flags=tiny.video_flags(),
                            explicit_flags=frozenset()))
  message = str(info.value)
  assert "the loss is not finite" in message and "videos v0" in message
  assert "ckpt-2" in message and _last_step(run) == 2


def test_a_second_trainer_is_refused_and_a_dead_ones_lock_taken(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=4)
  run = tmp_path / "run"
  run.mkdir()
  holder = subprocess.Popen([sys.executable, "-c",
                             "import time; time.sleep(60)"])
  lock_file = run / train_lock.FILENAME
  try:
    lock_file.write_text(json.dumps({
        "host": socket.gethostname(), "pid": holder.pid, "token": "t",
        "started": 0, "heartbeat": time.time()}))
    with pytest.raises(utils.Yt8mError, match=f"in use by another trainer "
                       f"\\(pid {holder.pid} on"):
      train_lib.train(_config(run, path))
  finally:
    holder.kill()
    holder.wait()
  # Its process is gone (as after kill -9): the lock is stale.
  (run / "ckpt-9_temp").mkdir()
  (run / f"model_flags.json.yt8m-tmp-{socket.gethostname()}-{holder.pid}"
   ).write_text("{")
  assert train_lib.train(_config(run, path)) == 2
  assert sorted(os.listdir(run)) == sorted(
      n for n in os.listdir(run) if "tmp" not in n and "_temp" not in n)
  assert not lock_file.exists()  # released at the end


def test_a_foreign_lock_is_judged_by_its_heartbeat(tmp_path):
  lock_file = tmp_path / train_lock.FILENAME
  lock_file.write_text(json.dumps({"host": "elsewhere", "pid": 1,
                                   "token": "t", "started": 0,
                                   "heartbeat": 1e12}))
  with pytest.raises(utils.Yt8mError, match="pid 1 on elsewhere"):
    train_lock.TrainDirLock(str(tmp_path)).acquire()
  lock_file.write_text(json.dumps({"host": "elsewhere", "pid": 1,
                                   "token": "t", "started": 0,
                                   "heartbeat": 0}))
  with train_lock.TrainDirLock(str(tmp_path)) as lock:
    assert json.loads(lock_file.read_text())["token"] == lock.token
  assert not lock_file.exists()


def test_a_lock_with_an_old_heartbeat_is_stale_whatever_the_hostname(
    tmp_path):
  # A restarted container often has the old one's hostname, and the old
  # holder's pid may run again there (here: this very process's parent).
  lock_file = tmp_path / train_lock.FILENAME
  lock_file.write_text(json.dumps({
      "host": socket.gethostname(), "pid": os.getppid(), "token": "t",
      "started": 0,
      "heartbeat": time.time() - 700}))
  with train_lock.TrainDirLock(str(tmp_path), stale_secs=600) as lock:
    assert json.loads(lock_file.read_text())["token"] == lock.token
  # Another machine with the same hostname: its pid says nothing either.
  lock_file.write_text(json.dumps({
      "host": socket.gethostname(), "boot_id": "another-machine",
      "pid": 999999, "token": "t", "started": 0, "heartbeat": time.time()}))
  with pytest.raises(utils.Yt8mError, match="in use by another trainer"):
    train_lock.TrainDirLock(str(tmp_path), stale_secs=600).acquire()


def test_a_held_lock_beats_while_nothing_else_happens(tmp_path):
  lock_file = tmp_path / train_lock.FILENAME
  with train_lock.TrainDirLock(str(tmp_path), stale_secs=0.4):
    first = json.loads(lock_file.read_text())["heartbeat"]
    time.sleep(1.0)  # no step, no checkpoint: a long export, say
    later = json.loads(lock_file.read_text())["heartbeat"]
    assert later > first
    assert time.time() - later < 0.4
    with pytest.raises(utils.Yt8mError, match="in use by another trainer"):
      train_lock.TrainDirLock(str(tmp_path), stale_secs=0.4).acquire()
  assert not lock_file.exists()


@pytest.mark.slow
def test_resuming_after_the_newest_checkpoint_was_deleted(tmp_path, caplog):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=8)
  run = tmp_path / "run"
  assert train_lib.train(_config(run, path, max_steps=3, num_epochs=100)) == 3
  assert train_lib.train(_config(run, path, max_steps=5, num_epochs=100)) == 5
  for name in os.listdir(run):
    if name.startswith("ckpt-5."):
      os.remove(run / name)
  # It resumes from ckpt-3, not from step 0.
  caplog.set_level("INFO", logger="absl")
  assert train_lib.train(_config(run, path, max_steps=4, num_epochs=100)) == 4
  assert f"Restored {run}/ckpt-3 at step 3" in caplog.text
  assert _last_step(run) == 4


@pytest.mark.parametrize("name", ["exp[lr=0.01]", "run[1]*?", "lauf ü"])
@pytest.mark.slow
def test_a_train_dir_with_glob_characters_resumes(tmp_path, name, caplog):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=8)
  run = tmp_path / name
  assert train_lib.train(_config(run, path, max_steps=2, num_epochs=100)) == 2
  # A neighbour the glob run[1]*? matches keeps its files.
  neighbour = tmp_path / "run1xy"
  neighbour.mkdir(exist_ok=True)
  (neighbour / "ckpt-2.index").write_text("theirs")
  caplog.set_level("INFO", logger="absl")
  assert train_lib.train(_config(run, path, max_steps=9, num_epochs=100,
                                 max_checkpoints_to_keep=1)) == 9
  assert f"Restored {run}/ckpt-2 at step 2" in caplog.text
  assert sorted(n for n in os.listdir(run) if n.startswith("ckpt-")) == [
      "ckpt-9.data-00000-of-00001", "ckpt-9.index"]
  assert (neighbour / "ckpt-2.index").read_text() == "theirs"


def test_restore_errors_are_one_line(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=4)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", step=3)
  prefix = f"{train_dir}/ckpt-3"
  flags = model_config.load(train_dir)
  # model_flags.json edited to another model: the checkpoint does not match.
  model_config.save(train_dir, dict(flags, model="MoeModel"))
  with pytest.raises(utils.Yt8mError, match="does not hold the model") as e:
    checkpoints.load_trained_model(train_dir, model_config.all_defaults(), ())
  one_line.message(e.value)
  model_config.save(train_dir, flags)
  data = [f for f in os.listdir(train_dir) if f.startswith("ckpt-3.data")]
  with open(os.path.join(train_dir, data[0]), "r+b") as f:
    f.truncate(10)
  with pytest.raises(utils.Yt8mError, match="cannot be read") as e:
    checkpoints.load_trained_model(train_dir, model_config.all_defaults(), ())
  one_line.message(e.value)
  del path, prefix


@pytest.fixture(name="read_only_run")
def _read_only_run(tmp_path):
  """A trained run in a directory nobody may write: chmod for a user; for
  root, whom permissions do not stop, a read-only tmpfs (or a skip)."""
  mount = tmp_path / "ro"
  mount.mkdir()
  if os.geteuid() == 0:
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                       str(mount)], capture_output=True).returncode != 0:
      pytest.skip("root without mount: no read-only directory to test")
  train_dir, _ = tiny.checkpoint_dir(mount / "run", step=3)
  try:
    if os.geteuid() == 0:
      subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    else:
      os.chmod(train_dir, 0o555)
    yield train_dir
  finally:
    if os.geteuid() == 0:
      subprocess.run(["umount", str(mount)], check=False)
    else:
      os.chmod(train_dir, 0o755)


def test_a_read_only_train_dir_is_one_line(tmp_path, read_only_run):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=4)
  with pytest.raises(utils.Yt8mError, match=(
      f"--train_dir={read_only_run} is not writable \\((Read-only file "
      "system|Permission denied)\\): training writes its checkpoints there")):
    train_lib.train(_config(read_only_run, path, max_steps=4))
  # Evaluating it only needs a writable --eval_summary_dir.
  config = eval_lib.EvalConfig(train_dir=read_only_run,
                               eval_data_pattern=path, run_once=True,
                               batch_size=4, top_k=3)
  with pytest.raises(utils.Yt8mError, match="give a writable "
                     "--eval_summary_dir"):
    eval_lib.evaluate(config)
  config.eval_summary_dir = str(tmp_path / "summaries")
  assert eval_lib.evaluate(config)["num_examples"] == 4
