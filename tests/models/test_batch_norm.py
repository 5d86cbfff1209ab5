"""Debiased batch-norm moving statistics (--debias_batch_norm) and old
train_dirs, which must keep restoring and predicting exactly as before."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.common import utils
from youtube8m.models import batch_norm
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.training import train_lib

from support import records

# Train dirs written by train.py at commit c9b76e5 (before the flag), with
# the predictions that version's code made from them on 8 validate videos
# (`expected.npz`: video_matrix uint8 [8, 300, 128], num_frames, and
# predictions float32 [8, 5]). Made by `make_dataset --num_classes=5
# --feature... audio` and `train.py --max_steps=4 --batch_size=8` with tiny
# model flags (see their model_flags.json).
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                        "support", "fixtures")
OLD_DIRS = ["train_dir_c9b76e5_NeXtVLADModel", "train_dir_c9b76e5_DbofModel"]


def _batches(rng, count, shape=(6, 3)):
  """Batches [6, 3] with different means and spreads per batch."""
  return [(rng.normal(size=shape) * (1 + i) + 3 * i).astype(np.float32)
          for i in range(count)]


def _layer(cls, momentum, shape=(None, 3)):
  layer = cls(momentum=momentum, epsilon=1e-3)
  layer.build(shape)
  return layer


@pytest.mark.parametrize("masked", [False, True])
def test_moving_statistics_are_the_debiased_average(masked):
  momentum = 0.9
  layer = _layer(batch_norm.DebiasedBatchNormalization, momentum,
                 (None, None, 3))
  rng = np.random.default_rng(0)
  means, variances = [], []
  for n, x in enumerate(_batches(rng, 5), 1):
    x = x.reshape(2, 3, 3)  # [B, T, D] frames
    valid = np.array([[1, 1, 0], [1, 0, 0]], bool) if masked else \
        np.ones((2, 3), bool)
    layer(x, training=True, mask=valid if masked else None)
    seen = x[valid]  # [valid frames, D]
    means.append(seen.mean(0))
    variances.append(seen.var(0))
    weights = (1 - momentum) * momentum ** np.arange(n - 1, -1, -1)
    weights /= 1 - momentum ** n  # they sum to 1: a weighted average
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_mean.numpy(),
                               weights @ np.array(means), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               weights @ np.array(variances), rtol=1e-4,
                               atol=1e-4)
    assert int(layer.moving_updates.numpy()) == n
  # The first update took the first batch's statistics whole.
  assert not np.allclose(means[0], 0.0)


def test_training_and_evaluation_compute_as_keras_does():
  """Same outputs as Keras' layer given the same statistics; only what the
  moving statistics hold differs (plain: still mostly 0 and 1)."""
  rng = np.random.default_rng(1)
  plain = _layer(keras.layers.BatchNormalization, 0.999)
  debiased = _layer(batch_norm.DebiasedBatchNormalization, 0.999)
  for layer in (plain, debiased):
    layer.gamma.assign([0.5, 2.0, 1.0])
    layer.beta.assign([1.0, 0.0, -1.0])
  for x in _batches(rng, 3):
    np.testing.assert_allclose(debiased(x, training=True),
                               plain(x, training=True), rtol=1e-6,
                               atol=1e-6)
  # Plain: 99.7% initial values; debiased: the batches' average.
  assert np.allclose(plain.moving_mean.numpy(), 0.0, atol=0.02)
  assert np.all(debiased.moving_mean.numpy() > 1.0)
  x = _batches(rng, 1)[0]
  plain.moving_mean.assign(debiased.moving_mean)
  plain.moving_variance.assign(debiased.moving_variance)
  np.testing.assert_array_equal(debiased(x, training=False),
                                plain(x, training=False))


def test_long_runs_keep_the_usual_statistics():
  """Once momentum^n is negligible, both updates give the same values."""
  rng = np.random.default_rng(2)
  plain = _layer(keras.layers.BatchNormalization, 0.5)
  debiased = _layer(batch_norm.DebiasedBatchNormalization, 0.5)
  for x in _batches(rng, 60):
    plain(x, training=True)
    debiased(x, training=True)
  np.testing.assert_allclose(debiased.moving_mean.numpy(),
                             plain.moving_mean.numpy(), rtol=1e-5)
  np.testing.assert_allclose(debiased.moving_variance.numpy(),
                             plain.moving_variance.numpy(), rtol=1e-5)


def _batch_norms(model):
  found, stack = [], [model]
  while stack:  # the layer tree, through the tracked attributes
    layer = stack.pop()
    if isinstance(layer, keras.layers.BatchNormalization):
      found.append(layer)
    stack.extend(v for v in vars(layer).values()
                 if isinstance(v, keras.layers.Layer) and v is not layer)
  return found


@pytest.mark.parametrize("name", ["NeXtVLADModel", "MixNeXtVLADModel",
                                  "NetVLADModel", "DbofModel"])
def test_the_flag_reaches_every_batch_norm(name):
  flags = dict(models.model_flag_defaults(), groups=2,
               nextvlad_cluster_size=4, nextvlad_hidden_size=8,
               gating_reduction=2, mix_number=2, netvlad_cluster_size=4,
               netvlad_hidden_size=8, gating=True, moe_prob_gating=True,
               dbof_cluster_size=8, dbof_hidden_size=8, iterations=4)
  for debias in (True, False):
    model = models.build_model(name, 5, **dict(flags,
                                               debias_batch_norm=debias))
    model.create_variables(8)
    kinds = {type(layer) for layer in _batch_norms(model)}
    want = batch_norm.DebiasedBatchNormalization if debias else \
        keras.layers.BatchNormalization
    assert kinds == {want}, (name, debias)
  with pytest.raises(utils.Yt8mError, match="debias_batch_norm"):
    models.build_model(name, 5, **dict(flags, debias_batch_norm="yes"))


def _old_dir(tmp_path, name):
  """A copy of a fixture train_dir (tests write nothing into the repo)."""
  path = tmp_path / name
  shutil.copytree(os.path.join(FIXTURES, name), path)
  return str(path)


@pytest.mark.parametrize("name", OLD_DIRS)
def test_old_train_dirs_predict_exactly_as_before(tmp_path, name):
  train_dir = _old_dir(tmp_path, name)
  saved = json.load(open(os.path.join(train_dir, model_config.FILENAME)))
  assert "debias_batch_norm" not in saved  # written before the flag
  assert model_config.load(train_dir)["debias_batch_norm"] is False
  model, flags, _ = checkpoints.load_trained_model(train_dir, {}, set())
  assert not flags["debias_batch_norm"]
  assert {type(layer) for layer in _batch_norms(model)} == {
      keras.layers.BatchNormalization}
  expected = np.load(os.path.join(train_dir, "expected.npz"))
  predictions = model({"video_matrix": tf.constant(expected["video_matrix"]),
                       "num_frames": tf.constant(expected["num_frames"])},
                      training=False)["predictions"].numpy()
  np.testing.assert_array_equal(predictions, expected["predictions"])


@pytest.mark.slow
def test_an_old_train_dir_resumes_training(tmp_path):
  """Restored whole (model, optimizer, step) and trained on, unchanged in
  kind: its model_flags.json keeps the plain statistics."""
  train_dir = _old_dir(tmp_path, OLD_DIRS[0])
  rng = np.random.default_rng(3)
  data = records.write(tmp_path / "train.tfrecord", [records.frame_record(
      f"v{n}", [n % 5], {"audio": rng.integers(0, 256, (6, 128))})
                                                     for n in range(16)])
  flags = model_config.load(train_dir)
  train_lib.train(train_lib.TrainConfig(
      train_dir=train_dir, train_data_pattern=data, batch_size=8,
      max_steps=6, export_model_steps=0, num_readers=1, model_flags=flags,
      explicit_flags=frozenset()))
  assert checkpoints.checkpoint_step(checkpoints.latest_checkpoint(
      train_dir)) == 6
  assert json.load(open(os.path.join(
      train_dir, model_config.FILENAME)))["debias_batch_norm"] is False


def test_new_checkpoints_hold_the_update_counts(tmp_path):
  flags = dict(model_config.all_defaults(), model="NeXtVLADModel",
               frame_features=True, feature_names="rgb", feature_sizes="8",
               num_classes=5, groups=2, nextvlad_cluster_size=4,
               nextvlad_hidden_size=8, gating_reduction=2)
  assert flags["debias_batch_norm"] is True
  model, _ = builders.build_model(flags)
  model({"video_matrix": tf.random.uniform([4, 3, 8]),
         "num_frames": tf.constant([3, 2, 3, 1])}, training=True)
  path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
  counts = {name: tf.train.load_checkpoint(path).get_tensor(name)
            for name, _ in tf.train.list_variables(path)
            if "moving_updates" in name}
  # cluster_bn, vlad_bn, hidden_bn, the gating's squeeze_bn.
  assert len(counts) == len(_batch_norms(model)) == 4
  assert set(counts.values()) == {1}
