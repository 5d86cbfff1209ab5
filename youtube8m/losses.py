"""Label losses (SPEC section 4) and the regularization loss of a model.

Every loss takes predictions that are probabilities, float [B, C], and
multi-hot labels [B, C], and returns a float32 scalar: the per-video loss
(summed over classes) averaged over the batch. Optional `label_weights`
[B, C] multiply the per-class terms before the sum; segment-level training
gives unrated classes weight 0 so they contribute nothing.
"""

import tensorflow as tf

from youtube8m import utils


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
    return tf.reduce_mean(tf.reduce_sum(terms, axis=1))


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
