"""Label losses (the starter code's three) and the regularization loss of a model.

Every loss takes predictions that are probabilities, float [B, C], and
multi-hot labels [B, C], and returns a float32 scalar: the per-video loss
(summed over classes) averaged over the batch. Optional `label_weights`
[B, C] multiply the per-class terms before the sum; segment-level training
gives unrated classes weight 0 so they contribute nothing.
"""

import keras
import numpy as np
import tensorflow as tf

from youtube8m.common import utils

# Why the sums below are matmuls with a ones vector: XLA's CPU backend
# fuses a dot with ones into one loop that reads its producer (the loss
# terms, w**2, g**2) without writing it out, while it emits a reduce as a
# tree of reduce-windows over a materialized [B, C] array. In the compiled
# LogisticModel step (batch 1024, 3862 classes) that removes four passes
# over 16 MB arrays (`python -m youtube8m.benchmark train_step`; README).
# On GPUs a dot with ones is a plain matrix-vector product.
#
# Before TensorFlow 2.19, XLA emits a dot whose operand is a costly fusion
# (the loss's two logs per class) as a slow loop: 44 ms against 7 ms for the
# reduce at [1024, 3862] in 2.17 and 2.18, 5 ms in 2.19-2.21. So there the
# loss keeps its reduce; w**2 and g**2 gain from the dot in every version.
_FAST_DOT_OF_FUSION = tuple(
    int(part) for part in tf.__version__.split(".")[:2]) >= (2, 19)


def sum_last_axis(x, costly_producer=False):
  """float x [..., N] -> [...]: the sum over the last axis.

  `costly_producer`: x is computed with transcendentals (see above).
  """
  if costly_producer and not _FAST_DOT_OF_FUSION:
    return tf.reduce_sum(x, axis=-1)
  shape = tf.shape(x)
  ones = tf.ones([shape[-1], 1], x.dtype)
  sums = tf.linalg.matmul(tf.reshape(x, [-1, shape[-1]]), ones)  # [M, 1]
  return tf.reshape(sums, shape[:-1])


def sum_of_squares(x):
  """float x of any shape -> scalar sum(x**2)."""
  if x.shape.rank is not None and x.shape.rank < 2:
    return tf.reduce_sum(tf.square(x))
  return tf.reduce_sum(sum_last_axis(tf.square(x)))


def clip_by_norm(x, clip_norm):
  """`tf.clip_by_norm`: x * clip_norm / max(||x||_2, clip_norm)."""
  if isinstance(x, tf.IndexedSlices):  # a gather's sparse gradient
    return tf.clip_by_norm(x, clip_norm)
  norm = tf.sqrt(sum_of_squares(x))
  return x * (clip_norm / tf.maximum(norm, clip_norm))


class L2(keras.regularizers.Regularizer):
  """`l2 * sum(w**2)`, Keras' L2 summed as above."""

  def __init__(self, l2):
    self.l2 = float(l2)

  def __call__(self, x):
    return self.l2 * sum_of_squares(tf.cast(x, tf.float32))

  def get_config(self):
    return {"l2": self.l2}


def l2_regularizer(l2_penalty):
  """The seed's `l2_penalty * sum(w^2) / 2` (tf.nn.l2_loss), or None for 0.

  L2(l) is `l * sum(w^2)`, hence the halving.
  """
  if not l2_penalty:
    return None
  return L2(float(l2_penalty) / 2.0)


def batch_weighted_mean(losses, sizes):
  """Mean of per-batch mean losses [N] weighted by batch sizes [N]: the
  mean loss per example over a whole pass."""
  losses = np.asarray(losses, np.float64)
  sizes = np.asarray(sizes, np.float64)
  return float(np.sum(losses * sizes) / np.sum(sizes))


class BaseLoss:
  """A label loss; subclasses implement `per_class_loss`."""

  def per_class_loss(self, predictions, labels):
    """float32 [B, C] probabilities and labels -> float32 [B, C] terms."""
    raise NotImplementedError

  def calculate_loss(self, predictions, labels, label_weights=None,
                     **unused_params):
    """Scalar loss, averaged over the batch.

    Args:
      predictions: float [B, C] probabilities.
      labels: [B, C] multi-hot (any numeric or bool dtype).
      label_weights: optional float [B, C] weight of each class's term.

    Returns:
      float32 scalar.
    """
    predictions = tf.cast(predictions, tf.float32)
    labels = tf.cast(labels, tf.float32)
    terms = self.per_class_loss(predictions, labels)
    if label_weights is not None:
      terms *= tf.cast(label_weights, tf.float32)
    return tf.reduce_mean(sum_last_axis(terms, costly_producer=True))


class CrossEntropyLoss(BaseLoss):
  """Binary cross entropy of each class: -(y log(p+e) + (1-y) log(1-p+e))."""

  # Keeps log() finite when a sigmoid saturates to exactly 0 or 1.
  epsilon = 1e-5

  def per_class_loss(self, predictions, labels):
    e = self.epsilon
    return -(labels * tf.math.log(predictions + e) +
             (1.0 - labels) * tf.math.log(1.0 - predictions + e))


class HingeLoss(BaseLoss):
  """max(0, b - (2y - 1) p) per class, with margin b = 1."""

  margin = 1.0

  def per_class_loss(self, predictions, labels):
    signs = 2.0 * labels - 1.0
    return tf.maximum(0.0, self.margin - signs * predictions)


class SoftmaxLoss(BaseLoss):
  """Cross entropy between L1-normalized labels and softmax(predictions).

  A video without labels normalizes to all zeros and so adds 0.
  """

  # Denominator floor of the label normalization (a video may have no label).
  epsilon = 1e-7

  def per_class_loss(self, predictions, labels):
    totals = tf.maximum(tf.reduce_sum(labels, axis=1, keepdims=True),
                        self.epsilon)
    # log_softmax equals log(softmax(p)) without forming tiny softmax values.
    return -(labels / totals) * tf.nn.log_softmax(predictions, axis=1)


_LOSSES = {cls.__name__: cls
           for cls in (CrossEntropyLoss, HingeLoss, SoftmaxLoss)}


def loss_names():
  """Sorted names that `get_loss` accepts (--label_loss values)."""
  return sorted(_LOSSES)


def get_loss(name):
  """A new loss object for `--label_loss=name`."""
  name = str(name).strip()
  if name not in _LOSSES:
    raise utils.Yt8mError(f"unknown --label_loss '{name}'; valid losses: "
                          f"{', '.join(loss_names())}")
  return _LOSSES[name]()


def regularization_loss(model):
  """Sum of `model.losses` (the kernel L2 terms), float32 scalar; 0 if none.

  Keras recomputes these from the current weights on every access, so call
  this inside the GradientTape of the training step.
  """
  terms = [tf.cast(term, tf.float32) for term in model.losses]
  if not terms:
    return tf.constant(0.0)
  return tf.add_n(terms)
