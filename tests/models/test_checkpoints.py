"""checkpoints.py: the latest checkpoint found by its files and restored,
whatever the state file says and whatever characters the path holds, local
and on gs://."""

import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.models import checkpoints
from youtube8m.models import model_config

from support import tiny

# Directory names TensorFlow reads as glob patterns, and non-ASCII ones.
ODD_NAMES = ["exp[lr=0.01]", "run[1]*?", "versuch ü 实验", "a\\b"]


def _save(train_dir, model, step):
  """As training wrote checkpoints before: tf.train.CheckpointManager."""
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                       str(train_dir), max_to_keep=5)
  return manager.save(checkpoint_number=step)


def _weights(model):
  return [v.numpy().copy() for v in model.trainable_variables]


def _restored(train_dir):
  model, _, path = checkpoints.load_trained_model(
      str(train_dir), model_config.all_defaults(), ())
  return _weights(model), path


def _delete_files_of(prefix):
  directory, base = os.path.split(prefix)
  for name in os.listdir(directory):
    if name.startswith(base + "."):
      os.remove(os.path.join(directory, name))


def test_deleting_the_newest_checkpoint_falls_back_to_the_one_before(
    tmp_path):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", step=3)
  old = _weights(model)
  for variable in model.trainable_variables:
    variable.assign(variable + 1.0)
  _save(train_dir, model, 5)
  assert _restored(train_dir)[1].endswith("ckpt-5")
  # What the "damaged or incomplete" error message advises.
  _delete_files_of(os.path.join(train_dir, "ckpt-5"))
  assert checkpoints.latest_checkpoint(train_dir) == os.path.join(
      train_dir, "ckpt-3")
  weights, path = _restored(train_dir)
  assert path.endswith("ckpt-3")
  for got, want in zip(weights, old):
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("garbage", [b"garbage {{{ not a proto\n",
                                     b"\x00\xff\xfe binary", b"x"])
def test_a_garbage_state_file_is_ignored(tmp_path, garbage):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", step=3)
  want = _weights(model)
  with open(os.path.join(train_dir, "checkpoint"), "wb") as f:
    f.write(garbage)
  weights, path = _restored(train_dir)
  assert path == os.path.join(train_dir, "ckpt-3")
  for got, expected in zip(weights, want):
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ODD_NAMES)
def test_paths_are_literal(tmp_path, name):
  train_dir, model = tiny.checkpoint_dir(tmp_path / name, step=3)
  want = _weights(model)
  assert checkpoints.latest_checkpoint(train_dir) == os.path.join(
      train_dir, "ckpt-3")
  weights, _ = _restored(train_dir)
  for got, expected in zip(weights, want):
    np.testing.assert_array_equal(got, expected)


def test_a_state_file_cannot_point_outside(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", step=3)
  other, _ = tiny.checkpoint_dir(tmp_path / "other", step=9)
  with open(os.path.join(train_dir, "checkpoint"), "w") as f:
    f.write(f'model_checkpoint_path: "{other}/ckpt-9"\n')
  assert checkpoints.latest_checkpoint(train_dir) == os.path.join(
      train_dir, "ckpt-3")


@pytest.mark.slow
def test_gcs_paths_with_odd_characters(gcs, tmp_path):
  gcs.apply_to_current_process()
  try:
    local, model = tiny.checkpoint_dir(tmp_path / "run", step=3)
    want = _weights(model)
    for name in ("exp[lr=0.01]", "run[1]*? ü"):
      remote = gcs.path("odd", name)
      for file_name in os.listdir(local):
        tf.io.gfile.copy(os.path.join(local, file_name),
                         f"{remote}/{file_name}", overwrite=True)
      _save(remote, model, 5)
      _delete_files_of_remote(f"{remote}/ckpt-5")
      assert checkpoints.latest_checkpoint(remote) == f"{remote}/ckpt-3"
      weights, path = _restored(remote)
      assert path == f"{remote}/ckpt-3"
      for got, expected in zip(weights, want):
        np.testing.assert_array_equal(got, expected)
  finally:
    gcs.restore_current_process()


def _delete_files_of_remote(prefix):
  directory, base = prefix.rsplit("/", 1)
  for name in tf.io.gfile.listdir(directory):
    if name.startswith(base + "."):
      tf.io.gfile.remove(f"{directory}/{name}")
