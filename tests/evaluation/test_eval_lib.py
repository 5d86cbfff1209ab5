"""eval_lib.py: the Evaluator against numpy, and eval.py's checkpoint loop."""

import os
import threading

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import eval_util
from youtube8m.models import checkpoints
from youtube8m.models import model_config

from support import tiny


def _config(train_dir, path, **kwargs):
  kwargs = {"batch_size": 4, "run_once": True, "top_k": 5, **kwargs}
  return eval_lib.EvalConfig(train_dir=train_dir, eval_data_pattern=path,
                             **kwargs)


@pytest.mark.parametrize("xla", [False, True])
def test_evaluator_matches_metrics_on_the_whole_set(tmp_path, xla):
  path, videos = tiny.video_file(tmp_path / "val.tfrecord", count=11)
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run")
  metrics = eval_lib.evaluate(_config(train_dir, path, xla=xla))
  # Independent: predictions of the model on all videos at once.
  features = np.stack([f for _, f in videos.values()])
  norms = np.linalg.norm(features, axis=1, keepdims=True)
  predictions = model({"video_matrix": tf.constant(features / norms),
                       "num_frames": tf.ones([11], tf.int32)})[
                           "predictions"].numpy()
  labels = np.zeros((11, tiny.NUM_CLASSES))
  for row, (truth, _) in enumerate(videos.values()):
    labels[row, truth] = 1
  assert metrics["gap"] == pytest.approx(
      eval_util.calculate_gap(predictions, labels, top_k=5), abs=1e-6)
  assert metrics["avg_hit_at_one"] == pytest.approx(
      eval_util.calculate_hit_at_one(predictions, labels), abs=1e-6)
  assert metrics["num_examples"] == 11
  assert tf.io.gfile.glob(os.path.join(train_dir, "eval", "events.*"))


@pytest.mark.slow
def test_evaluator_interface_and_summary_dir(tmp_path):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  flags = model_config.load(train_dir)
  config = _config(train_dir, path, eval_summary_dir=str(tmp_path / "tb"))
  evaluator, checkpoint = eval_lib.Evaluator.from_config(config, flags)
  checkpoint.restore(checkpoints.latest_checkpoint(train_dir)).expect_partial()
  first, second = evaluator.run(7), evaluator.run(7)
  assert first["gap"] == second["gap"]  # deterministic, cleared between runs
  eval_lib.evaluate(config)
  assert tf.io.gfile.glob(str(tmp_path / "tb" / "events.*"))
  assert eval_lib.Evaluator.SUMMARY_SUBDIR == "eval"


def test_no_checkpoint_and_empty_data_are_errors(tmp_path):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  model_config.save(str(tmp_path / "empty"), tiny.video_flags())
  with pytest.raises(utils.Yt8mError, match="no checkpoint in --train_dir"):
    eval_lib.evaluate(_config(str(tmp_path / "empty"), path))
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  empty = tmp_path / "none.tfrecord"
  tf.io.TFRecordWriter(str(empty)).close()
  with pytest.raises(utils.Yt8mError, match="holds no example"):
    eval_lib.evaluate(_config(train_dir, str(empty)))


def test_watch_mode_stops_after_the_timeout(tmp_path):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  config = _config(train_dir, path, eval_poll_secs=0.1,
                   eval_timeout_secs=0.5)
  config.run_once = False
  metrics = eval_lib.evaluate(config)  # the existing checkpoint, then stop
  assert metrics is not None and metrics["num_examples"] == 3


@pytest.mark.slow
def test_watch_mode_waits_for_training_to_start(tmp_path):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  run = tmp_path / "run"
  config = _config(str(run), path, eval_poll_secs=0.05, eval_timeout_secs=0.3)
  config.run_once = False
  with pytest.raises(utils.Yt8mError, match="no training started in"):
    eval_lib.evaluate(config)
  config.eval_timeout_secs = 20
  starter = threading.Timer(0.5, tiny.checkpoint_dir, args=(run,))
  starter.start()
  try:
    config.eval_timeout_secs = 3
    metrics = eval_lib.evaluate(config)  # waits, evaluates, then times out
  finally:
    starter.join()
  assert metrics["num_examples"] == 3


def test_bad_settings_are_named(tmp_path):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  with pytest.raises(utils.Yt8mError, match="--batch_size=0 is invalid"):
    eval_lib.evaluate(_config(train_dir, path, batch_size=0))
  with pytest.raises(utils.Yt8mError, match="--top_k=7 is more than"):
    eval_lib.evaluate(_config(train_dir, path, top_k=7))


def test_a_bad_vocabulary_file_is_named_before_the_pass(tmp_path, caplog):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  caplog.set_level("INFO", logger="absl")
  with pytest.raises(utils.Yt8mError, match="--vocabulary_file: vocabulary "
                     "file .*missing.csv not found"):
    eval_lib.evaluate(_config(train_dir, path,
                              vocabulary_file=str(tmp_path / "missing.csv")))
  assert "examples_processed" not in caplog.text


def test_a_truncated_index_is_one_line(tmp_path):
  path, _ = tiny.video_file(tmp_path / "val.tfrecord", count=3)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  index = os.path.join(train_dir, "ckpt-7.index")
  with open(index, "r+b") as f:
    f.truncate(os.path.getsize(index) // 2)
  with pytest.raises(utils.Yt8mError, match="checkpoint .*ckpt-7 cannot be "
                     "read .*delete its files to fall back"):
    eval_lib.evaluate(_config(train_dir, path))
