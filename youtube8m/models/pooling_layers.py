"""Keras layers of the learnable pooling models (see pooling_models.py).

Shapes: B = batch, T = frames, D = features per frame, K = clusters,
F = the width of a pooled or hidden vector. Each pooling layer maps frames
[B, T, D] to one vector per video [B, F]; `valid` float32 [B, T] (1 for a
real frame, 0 for padding; optional except in NeXtVLAD) removes padding
frames from the sums and from the batch-norm statistics, so a padded video
pools like an unpadded one.

References: NetVLAD, Arandjelovic et al., CVPR 2016; NetRVLAD, NetFV,
Soft-DBoW and Context Gating, Miech, Laptev, Sivic, arXiv:1706.06905;
NeXtVLAD and SE Context Gating, Lin, Xiao, Fan, arXiv:1811.05014.
"""

import math

import keras
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.models import batch_norm as norms

RGB_AUDIO = (1024, 128)


def feature_streams(feature_size):
  """[(start, size, is_audio)]: rgb and audio when D == 1152, else one."""
  if feature_size == sum(RGB_AUDIO):
    return [(0, RGB_AUDIO[0], False), (RGB_AUDIO[0], RGB_AUDIO[1], True)]
  return [(0, feature_size, False)]


# slim.batch_norm's decay 0.999, which the published models used (as DbofModel
# does); --pooling_bn_momentum changes it.
BN_MOMENTUM = 0.999


def batch_norm(name, momentum=BN_MOMENTUM, debias=True):
  """slim.batch_norm's epsilon 1e-3, as published; `debias`: moving
  statistics without their initial values' share (batch_norm.py)."""
  return norms.batch_norm(name, momentum, debias)


def normal(stddev, mean=0.0):
  return keras.initializers.RandomNormal(mean=mean, stddev=stddev)


def l2_normalize(x, axis=-1):
  """x / ||x||, computed in float32 and returned in x's dtype: under
  mixed_float16 the sum of squares would overflow (or underflow to 0, and
  the epsilon 1e-12 is 0 in float16)."""
  normalized = tf.math.l2_normalize(tf.cast(x, tf.float32), axis=axis,
                                    epsilon=1e-12)
  return tf.cast(normalized, x.dtype)


class SoftAssignment(keras.layers.Layer):
  """Soft assignment of each frame to K clusters: [B, T, D] -> [B, T, K].

  softmax_k(x W + b), where batch norm replaces the bias b when
  `add_batch_norm`; padding frames (valid = 0) get all-zero assignments.
  """

  def __init__(self, cluster_size, add_batch_norm=True, name=None,
               bn_momentum=BN_MOMENTUM, bn_debias=True):
    super().__init__(name=name)
    self.cluster_size = int(cluster_size)
    self.bn = batch_norm("cluster_bn", bn_momentum, bn_debias) \
        if add_batch_norm else None

  def build(self, input_shape):
    d = int(input_shape[-1])
    k = self.cluster_size
    # Frames are unit vectors, so 1/sqrt(D) gives logits of unit scale.
    self.kernel = self.add_weight(shape=(d, k), name="kernel",
                                  initializer=normal(1 / math.sqrt(d)))
    self.bias = None if self.bn else self.add_weight(
        shape=(k,), name="bias", initializer="zeros")

  def call(self, frames, valid=None, training=False):
    logits = tf.einsum("btd,dk->btk", frames, self.kernel)
    if self.bn is not None:
      mask = None if valid is None else valid > 0
      logits = self.bn(logits, training=training, mask=mask)
    else:
      logits += self.bias
    assignment = tf.nn.softmax(logits, axis=-1)
    return assignment if valid is None else assignment * valid[:, :, None]


class NetVLAD(keras.layers.Layer):
  """NetVLAD, or NetRVLAD without centres: [B, T, D] -> [B, K * D].

  v[k] = sum_t a_tk (x_t - c_k) (NetRVLAD: sum_t a_tk x_t); each v[k] is
  l2-normalized (intra-normalization), then the flattened, cluster-major
  vector is l2-normalized.
  """

  def __init__(self, cluster_size, add_batch_norm=True, residuals=True,
               name=None, bn_momentum=BN_MOMENTUM, bn_debias=True):
    super().__init__(name=name)
    self.cluster_size = int(cluster_size)
    self.residuals = residuals
    self.assign = SoftAssignment(cluster_size, add_batch_norm, name="assign",
                                 bn_momentum=bn_momentum, bn_debias=bn_debias)

  def build(self, input_shape):
    d = int(input_shape[-1])
    self.centers = self.add_weight(
        shape=(self.cluster_size, d), name="centers",
        initializer=normal(1 / math.sqrt(d))) if self.residuals else None

  def call(self, frames, valid=None, training=False):
    a = self.assign(frames, valid, training=training)  # [B, T, K]
    vlad = tf.einsum("btk,btd->bkd", a, frames)
    if self.residuals:
      vlad -= tf.reduce_sum(a, axis=1)[:, :, None] * self.centers
    width = self.cluster_size * int(frames.shape[-1])
    return l2_normalize(tf.reshape(l2_normalize(vlad), [-1, width]))


class NetFV(keras.layers.Layer):
  """Learnable Fisher vector: [B, T, D] -> [B, 2 * K * D].

  With soft assignments a_tk, means mu_k and deviations s_k = w_k^2 + 1e-6:
  first order sum_t a_tk (x_t - mu_k) / s_k, second order
  sum_t a_tk ((x_t - mu_k)^2 / s_k^2 - 1). Each order is intra-normalized
  and then l2-normalized. `couple_weights`: mu = coupling_factor * the
  assignment kernel (no separate means); otherwise mu is its own weight.
  """

  def __init__(self, cluster_size, add_batch_norm=True, couple_weights=True,
               coupling_factor=0.01, name=None, bn_momentum=BN_MOMENTUM,
               bn_debias=True):
    super().__init__(name=name)
    self.cluster_size = int(cluster_size)
    self.couple_weights = couple_weights
    self.coupling_factor = float(coupling_factor)
    self.assign = SoftAssignment(cluster_size, add_batch_norm, name="assign",
                                 bn_momentum=bn_momentum, bn_debias=bn_debias)

  def build(self, input_shape):
    d, k = int(input_shape[-1]), self.cluster_size
    # Deviations start near 1 (mean 1 before squaring), as published.
    self.deviation = self.add_weight(
        shape=(k, d), name="deviation",
        initializer=normal(1 / math.sqrt(d), mean=1.0))
    self.means = None if self.couple_weights else self.add_weight(
        shape=(k, d), name="means", initializer=normal(1 / math.sqrt(d)))

  def call(self, frames, valid=None, training=False):
    a = self.assign(frames, valid, training=training)  # [B, T, K]
    mu = (self.coupling_factor * tf.transpose(self.assign.kernel)
          if self.couple_weights else self.means)  # [K, D]
    sigma = tf.square(self.deviation) + 1e-6
    mass = tf.reduce_sum(a, axis=1)[:, :, None]  # [B, K, 1]
    first = tf.einsum("btk,btd->bkd", a, frames)
    second = tf.einsum("btk,btd->bkd", a, tf.square(frames))
    # sum_t a (x - mu)^2 expanded, so no [B, T, K, D] tensor is formed.
    second = (second - 2 * mu * first + mass * tf.square(mu)) / tf.square(
        sigma) - mass
    first = (first - mass * mu) / sigma
    width = self.cluster_size * int(frames.shape[-1])
    return tf.concat([l2_normalize(tf.reshape(l2_normalize(v), [-1, width]))
                      for v in (first, second)], axis=1)


class SoftDBoF(keras.layers.Layer):
  """Soft bag of frames: [B, T, D] -> [B, K] (or [B, 2K] with max pooling).

  The summed soft assignments, l2-normalized; `max_pool` appends the
  l2-normalized maximum assignment over frames.
  """

  def __init__(self, cluster_size, add_batch_norm=True, max_pool=False,
               name=None, bn_momentum=BN_MOMENTUM, bn_debias=True):
    super().__init__(name=name)
    self.max_pool = max_pool
    self.assign = SoftAssignment(cluster_size, add_batch_norm, name="assign",
                                 bn_momentum=bn_momentum, bn_debias=bn_debias)

  def build(self, input_shape):
    # Keras builds a layer without build() by tracing call symbolically,
    # which made a restored model create the assignment weights twice.
    del input_shape

  def call(self, frames, valid=None, training=False):
    a = self.assign(frames, valid, training=training)  # [B, T, K]
    pooled = [l2_normalize(tf.reduce_sum(a, axis=1))]
    if self.max_pool:
      # Assignments are positive on real frames and 0 on padding.
      pooled.append(l2_normalize(tf.reduce_max(a, axis=1)))
    return tf.concat(pooled, axis=1)


class NeXtVLAD(keras.layers.Layer):
  """NeXtVLAD: [B, T, D] -> [B, K * lambda * D / G].

  Frames are expanded to lambda * D features and split into G groups of
  F = lambda * D / G; group g of frame t is assigned softly to K shared
  clusters and weighted by a sigmoid attention a_tg. v[k] = sum_{t,g}
  a_tg a_tgk (x_tg - c_k), intra-normalized, flattened (cluster-major) and
  batch-normalized.
  """

  def __init__(self, cluster_size, groups, expansion, name=None,
               bn_momentum=BN_MOMENTUM, bn_debias=True):
    super().__init__(name=name)
    self.cluster_size, self.groups = int(cluster_size), int(groups)
    self.expansion = int(expansion)
    self.cluster_bn = batch_norm("cluster_bn", bn_momentum, bn_debias)
    self.vlad_bn = batch_norm("vlad_bn", bn_momentum, bn_debias)

  def build(self, input_shape):
    d = int(input_shape[-1])
    wide, g, k = self.expansion * d, self.groups, self.cluster_size
    if wide % g:
      raise utils.Yt8mError(
          f"--groups={g} must divide --expansion * features = {wide}")
    self.group_size = wide // g
    he = keras.initializers.HeNormal  # slim's variance scaling (fan in)
    self.expand = keras.layers.Dense(wide, kernel_initializer=he(),
                                     name="expand")
    self.attention = keras.layers.Dense(g, activation="sigmoid",
                                        kernel_initializer=he(),
                                        name="attention")
    self.cluster = keras.layers.Dense(g * k, use_bias=False,
                                      kernel_initializer=he(), name="cluster")
    self.centers = self.add_weight(shape=(k, self.group_size), name="centers",
                                   initializer=he())

  def call(self, frames, valid, training=False):
    b, t = tf.shape(frames)[0], tf.shape(frames)[1]
    g, k = self.groups, self.cluster_size
    wide = self.expand(frames)  # [B, T, lambda * D]
    attention = self.attention(wide) * valid[:, :, None]  # [B, T, G]
    logits = self.cluster_bn(self.cluster(wide), training=training,
                             mask=valid > 0)
    a = tf.nn.softmax(tf.reshape(logits, [b, t, g, k]), axis=-1)
    a = a * attention[:, :, :, None]  # padding frames: all zero
    grouped = tf.reshape(wide, [b, t, g, self.group_size])
    vlad = tf.einsum("btgk,btgf->bkf", a, grouped)
    vlad -= tf.reduce_sum(a, axis=[1, 2])[:, :, None] * self.centers
    vlad = tf.reshape(l2_normalize(vlad), [b, k * self.group_size])
    return self.vlad_bn(vlad, training=training)


class ContextGating(keras.layers.Layer):
  """Context Gating: x [B, F] -> x * sigmoid(BN(x W)) (or x W + b), [B, F].

  `remove_diag` drops W's diagonal, so a unit cannot gate itself.
  """

  def __init__(self, add_batch_norm=True, remove_diag=False, name=None,
               bn_momentum=BN_MOMENTUM, bn_debias=True):
    super().__init__(name=name)
    self.remove_diag = remove_diag
    self.bn = batch_norm("gating_bn", bn_momentum, bn_debias) \
        if add_batch_norm else None

  def build(self, input_shape):
    f = int(input_shape[-1])
    self.kernel = self.add_weight(shape=(f, f), name="kernel",
                                  initializer=normal(1 / math.sqrt(f)))
    self.bias = None if self.bn else self.add_weight(
        shape=(f,), name="bias", initializer="zeros")

  def call(self, x, training=False):
    gates = tf.matmul(x, self.kernel)
    if self.remove_diag:
      gates -= x * tf.linalg.diag_part(self.kernel)
    if self.bn is not None:
      gates = self.bn(gates, training=training)
    else:
      gates += self.bias
    return x * tf.sigmoid(gates)


class SEContextGating(keras.layers.Layer):
  """Squeeze-excitation gating: x [B, F] -> x * sigmoid(W2 relu(BN(x W1))).

  W1 is [F, F / reduction] and W2 [F / reduction, F], 2 F^2 / r weights
  against Context Gating's F^2.
  """

  def __init__(self, reduction, name=None, bn_momentum=BN_MOMENTUM,
               bn_debias=True):
    super().__init__(name=name)
    self.reduction = int(reduction)
    self.bn = batch_norm("squeeze_bn", bn_momentum, bn_debias)

  def build(self, input_shape):
    f = int(input_shape[-1])
    if f // self.reduction < 1:
      raise utils.Yt8mError(f"--gating_reduction={self.reduction} is larger "
                            f"than the hidden size {f}")
    he = keras.initializers.HeNormal
    self.squeeze = keras.layers.Dense(f // self.reduction, use_bias=False,
                                      kernel_initializer=he(), name="squeeze")
    self.excite = keras.layers.Dense(f, use_bias=False, activation="sigmoid",
                                     kernel_initializer=he(), name="excite")

  def call(self, x, training=False):
    squeezed = tf.nn.relu(self.bn(self.squeeze(x), training=training))
    return x * self.excite(squeezed)


class StreamPooling(keras.layers.Layer):
  """Pools each feature stream and concatenates: [B, T, D] -> [B, P].

  `make_pooler(is_audio, name)` returns the pooling layer of one stream.
  """

  def __init__(self, make_pooler, name=None):
    super().__init__(name=name)
    self.make_pooler = make_pooler

  def build(self, input_shape):
    self.feature_size = int(input_shape[-1])
    for i, (_, _, audio) in enumerate(feature_streams(self.feature_size)):
      # One attribute per stream: tf.train.Checkpoint sees no Python lists.
      setattr(self, f"stream_{i}", self.make_pooler(audio, f"stream_{i}"))

  def call(self, frames, valid=None, training=False):
    pooled = [getattr(self, f"stream_{i}")(
        frames[:, :, start:start + size], valid, training=training)
              for i, (start, size, _) in enumerate(
                  feature_streams(self.feature_size))]
    return pooled[0] if len(pooled) == 1 else tf.concat(pooled, axis=1)


def audio_share(n, audio, divisor=2):
  """The audio stream's share of n clusters (or groups)."""
  return max(1, n // divisor) if audio else n


class NeXtVLADBranch(keras.layers.Layer):
  """One NeXtVLAD network: NeXtVLAD per stream (audio: half the clusters and
  groups), dropout (training only), a linear hidden layer with batch norm
  and SE context gating. frames [B, T, D], valid [B, T] -> [B, H], which
  `classifier` (a video-level model, tracked here) classifies.
  """

  def __init__(self, classifier, cluster_size, hidden_size, groups,
               expansion, gating_reduction, drop_rate, name=None,
               bn_momentum=BN_MOMENTUM, bn_debias=True):
    super().__init__(name=name)
    k, g = int(cluster_size), int(groups)
    self.pooling = StreamPooling(lambda audio, name: NeXtVLAD(
        audio_share(k, audio), audio_share(g, audio), expansion, name=name,
        bn_momentum=bn_momentum, bn_debias=bn_debias), name="pooling")
    self.dropout = keras.layers.Dropout(drop_rate) if drop_rate else None
    self.hidden = keras.layers.Dense(
        int(hidden_size), use_bias=False,
        kernel_initializer=keras.initializers.HeNormal(), name="hidden")
    self.hidden_bn = batch_norm("hidden_bn", bn_momentum, bn_debias)
    self.gating = SEContextGating(gating_reduction, name="gating",
                                  bn_momentum=bn_momentum, bn_debias=bn_debias)
    self.classifier = classifier

  def build(self, input_shape):
    del input_shape  # The sublayers build on their first call.

  def call(self, frames, valid, training=False):
    pooled = self.pooling(frames, valid, training=training)
    if self.dropout is not None:
      pooled = self.dropout(pooled, training=training)
    hidden = self.hidden_bn(self.hidden(pooled), training=training)
    return self.gating(hidden, training=training)
