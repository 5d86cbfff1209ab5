"""Batch normalization whose moving statistics are debiased averages.

Keras' BatchNormalization keeps moving statistics that start at mean 0 and
variance 1 and move by

    moving = momentum * moving + (1 - momentum) * batch statistic.

After n training steps a fraction momentum^n of them is still the initial
value: at the published momentum 0.999, 75% after 282 steps and 37% after
1000. Evaluation normalizes with them, so a short run evaluates with
statistics it never saw, and scores stop being comparable across videos
(held-out GAP 0.47 where the training batches showed 0.999; docs/models.md).

`DebiasedBatchNormalization` divides that bias out, as Adam debiases its
moment estimates (Kingma and Ba 2015, section 3). Its moving statistics
hold, after n updates with batch statistics x_1 ... x_n,

    sum_i (1 - momentum) momentum^(n - i) x_i / (1 - momentum^n),

the same exponentially weighted average without the initial value's share.
It is kept by the equivalent update moving += rate_n * (x_n - moving) with
rate_n = (1 - momentum) / (1 - momentum^n): the first update takes the batch
statistics whole, and once momentum^n is negligible (about 16,000 steps at
0.999) the update is the usual one. The update count is a non-trainable
int64 variable `moving_updates`, checkpointed with the statistics. Training
outputs (batches normalized by their own statistics) and evaluation (by the
moving statistics, used as they are) are computed as by Keras' layer; only
what the moving statistics hold changes, so exports, the weight average
(--ema_decay) and float16 exports need nothing special.

--debias_batch_norm (default true; flag in catalog.py) chooses it for every model with batch
norm. A model_flags.json written before the flag existed reads as false:
such a train_dir's checkpoints hold plain moving statistics and no
`moving_updates`, and keep restoring and predicting exactly as before.
"""

import keras
import tensorflow as tf




class DebiasedBatchNormalization(keras.layers.BatchNormalization):
  """BatchNormalization with debiased moving statistics (module docstring).

  Only the default initializers (moving mean 0, variance 1), the last axis
  and plain (not renormalized, not synchronized) statistics are supported.
  """

  def build(self, input_shape):
    super().build(input_shape)
    # int64: an exact count however long the run.
    self.moving_updates = self.add_weight(
        shape=(), dtype="int64", name="moving_updates", initializer="zeros",
        trainable=False, autocast=False)

  def call(self, inputs, training=None, mask=None):
    if not (training and self.trainable):
      return super().call(inputs, training=False, mask=mask)
    # As Keras' layer: statistics in float32 also under a half policy.
    x = tf.cast(inputs, tf.float32) if inputs.dtype in (
        tf.float16, tf.bfloat16) else inputs
    mean, variance = self._moments(x, mask)
    updates = self.moving_updates + 1
    self.moving_updates.assign(updates)
    rate = (1.0 - self.momentum) / (1.0 - tf.pow(
        tf.constant(self.momentum, x.dtype), tf.cast(updates, x.dtype)))
    for moving, batch in ((self.moving_mean, mean),
                          (self.moving_variance, variance)):
      value = tf.cast(moving, x.dtype)
      moving.assign(value + rate * (batch - value))
    outputs = keras.ops.batch_normalization(
        x, mean, variance, axis=self.axis,
        offset=None if self.beta is None else tf.cast(self.beta, x.dtype),
        scale=None if self.gamma is None else tf.cast(self.gamma, x.dtype),
        epsilon=self.epsilon)
    return tf.cast(outputs, self.compute_dtype)


def batch_norm(name, momentum, debias=True, epsilon=1e-3):
  """A batch-norm layer over the last axis.

  Args:
    name: layer name (its checkpoint key is the attribute that holds it).
    momentum: of the moving statistics.
    debias: debiased moving statistics (--debias_batch_norm); false gives
      Keras' plain layer, whose checkpoints the older versions wrote.
    epsilon: slim.batch_norm's 1e-3 by default, as the published models.
  """
  cls = DebiasedBatchNormalization if debias else \
      keras.layers.BatchNormalization
  return cls(momentum=momentum, epsilon=epsilon, name=name)
