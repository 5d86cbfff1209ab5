"""Tests of youtube8m.models.losses against hand-computed numpy values."""

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.common import utils
from youtube8m.models import losses

PREDICTIONS = np.array([[0.9, 0.2, 0.0, 0.6],
                        [0.5, 1.0, 0.1, 0.3],
                        [0.3, 0.7, 0.4, 0.05]], np.float32)
LABELS = np.array([[1, 0, 0, 1],
                   [0, 1, 1, 0],
                   [0, 0, 0, 0]], np.float32)  # the last video has no label


def _numpy_terms(name, p, y):
  """Per-class loss terms [B, C] as the starter code defines them, in float64."""
  p, y = p.astype(np.float64), y.astype(np.float64)
  if name == "CrossEntropyLoss":
    return -(y * np.log(p + 1e-5) + (1 - y) * np.log(1 - p + 1e-5))
  if name == "HingeLoss":
    return np.maximum(0.0, 1.0 - (2 * y - 1) * p)
  assert name == "SoftmaxLoss"
  norm = y / np.maximum(y.sum(axis=1, keepdims=True), 1e-7)
  softmax = np.exp(p) / np.exp(p).sum(axis=1, keepdims=True)
  return -norm * np.log(softmax)


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "HingeLoss",
                                  "SoftmaxLoss"])
def test_loss_matches_formula(name):
  loss = losses.get_loss(name).calculate_loss(PREDICTIONS, LABELS)
  expected = _numpy_terms(name, PREDICTIONS, LABELS).sum(axis=1).mean()
  assert loss.shape == ()
  assert loss.dtype == tf.float32
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_hand_computed_values():
  # One video, two classes: p = (0.8, 0.25), y = (1, 0).
  p = np.array([[0.8, 0.25]], np.float32)
  y = np.array([[1.0, 0.0]], np.float32)
  ce = losses.get_loss("CrossEntropyLoss").calculate_loss(p, y)
  np.testing.assert_allclose(
      float(ce), -np.log(0.80001) - np.log(0.75001), rtol=1e-6)
  hinge = losses.get_loss("HingeLoss").calculate_loss(p, y)
  np.testing.assert_allclose(float(hinge), (1 - 0.8) + (1 + 0.25), rtol=1e-6)
  # Equal scores over 4 classes: the softmax is uniform, loss = log(4).
  softmax = losses.get_loss("SoftmaxLoss").calculate_loss(
      np.full([1, 4], 0.5, np.float32), np.array([[0, 1, 1, 0]], np.float32))
  np.testing.assert_allclose(float(softmax), np.log(4.0), rtol=1e-6)


def test_softmax_loss_ignores_videos_without_labels():
  loss = losses.get_loss("SoftmaxLoss")
  with_empty = float(loss.calculate_loss(PREDICTIONS, LABELS))
  without = float(loss.calculate_loss(PREDICTIONS[:2], LABELS[:2]))
  # The label-less video adds 0 but still counts in the batch mean.
  np.testing.assert_allclose(with_empty, without * 2 / 3, rtol=1e-6)


@pytest.mark.parametrize("name", ["CrossEntropyLoss", "HingeLoss",
                                  "SoftmaxLoss"])
def test_label_weights_remove_classes(name):
  loss = losses.get_loss(name)
  weights = np.ones_like(LABELS)
  weights[:, 1] = 0.0  # class 1 unrated everywhere
  weights[0, 3] = 0.0
  weighted = float(loss.calculate_loss(PREDICTIONS, LABELS,
                                       label_weights=weights))
  terms = _numpy_terms(name, PREDICTIONS, LABELS)
  np.testing.assert_allclose(weighted, (terms * weights).sum(axis=1).mean(),
                             rtol=1e-5)
  unweighted = float(loss.calculate_loss(PREDICTIONS, LABELS))
  assert abs(weighted - unweighted) > 1e-3
  ones = float(loss.calculate_loss(PREDICTIONS, LABELS,
                                   label_weights=np.ones_like(LABELS)))
  np.testing.assert_allclose(ones, unweighted, rtol=1e-6)


def test_unknown_loss_lists_valid_names():
  with pytest.raises(utils.Yt8mError) as error:
    losses.get_loss("FocalLoss")
  message = str(error.value)
  assert "FocalLoss" in message and "\n" not in message
  for name in ("CrossEntropyLoss", "HingeLoss", "SoftmaxLoss"):
    assert name in message
  assert losses.loss_names() == ["CrossEntropyLoss", "HingeLoss",
                                 "SoftmaxLoss"]


def test_regularization_loss():
  model = models.build_model("LogisticModel", 3, l2_penalty=0.2)
  model.create_variables(feature_size=4)
  kernel = model.logistic.kernel.numpy()
  np.testing.assert_allclose(float(losses.regularization_loss(model)),
                             0.2 * np.sum(kernel ** 2) / 2, rtol=1e-5)
  unregularized = models.build_model("LogisticModel", 3, l2_penalty=0.0)
  unregularized.create_variables(feature_size=4)
  assert float(losses.regularization_loss(unregularized)) == 0.0


def test_regularization_loss_has_gradients():
  model = models.build_model("LogisticModel", 3, l2_penalty=0.2)
  model.create_variables(feature_size=4)
  with tf.GradientTape() as tape:
    reg = losses.regularization_loss(model)
  gradient = tape.gradient(reg, model.logistic.kernel)
  np.testing.assert_allclose(gradient.numpy(),
                             0.2 * model.logistic.kernel.numpy(), rtol=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_matmul_sums_match_numpy_and_tf_clip(jit_compile):
  # The step's sums are matmuls with ones (faster under XLA on CPU); they
  # must equal plain float64 sums, compiled or not.
  rng = np.random.default_rng(3)
  x = rng.normal(size=(5, 7, 300)).astype(np.float32)
  row_sums = tf.function(losses.sum_last_axis, jit_compile=jit_compile)
  squares = tf.function(losses.sum_of_squares, jit_compile=jit_compile)
  clip = tf.function(losses.clip_by_norm, jit_compile=jit_compile)
  costly = tf.function(lambda t: losses.sum_last_axis(t, costly_producer=True),
                       jit_compile=jit_compile)
  for sums in (row_sums, costly):
    np.testing.assert_allclose(sums(tf.constant(x)).numpy(),
                               x.astype(np.float64).sum(axis=-1), atol=1e-4)
  assert row_sums(tf.constant(x[0])).shape == (7,)
  for value in (x, x[0], x[0, 0], np.float32(2.5)):
    np.testing.assert_allclose(float(squares(tf.constant(value))),
                               np.sum(np.float64(value) ** 2), rtol=1e-5)
  # Above, below and at zero norm: the same as tf.clip_by_norm.
  for value, clip_norm in ((x[0], 1.0), (x[0], 1e3), (x[0] * 0, 1.0),
                           (x[0, 0], 0.5)):
    got = clip(tf.constant(value), clip_norm).numpy()
    want = tf.clip_by_norm(tf.constant(value), clip_norm).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  sparse = tf.IndexedSlices(tf.constant(x[0]), tf.constant(np.arange(7) * 2),
                            tf.constant([14, 300], tf.int64))
  np.testing.assert_allclose(
      tf.convert_to_tensor(losses.clip_by_norm(sparse, 1.0)).numpy(),
      tf.convert_to_tensor(tf.clip_by_norm(sparse, 1.0)).numpy())
  assert np.linalg.norm(x[0]) > 1.0  # so clipping to 1 bites
  np.testing.assert_allclose(np.linalg.norm(clip(tf.constant(x[0]), 1.0)),
                             1.0, rtol=1e-5)


def test_l2_regularizer_config_round_trips():
  regularizer = losses.L2(0.25)
  again = losses.L2.from_config(regularizer.get_config())
  w = tf.constant([[1.0, -2.0], [3.0, 0.5]])
  assert float(again(w)) == pytest.approx(0.25 * (1 + 4 + 9 + 0.25))
