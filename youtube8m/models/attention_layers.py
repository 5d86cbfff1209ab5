"""Keras layers of the frame Transformer and the attention-pooling models.

Shapes: B = batch, K = frames the model reads (all T, or K sampled), W =
model width, D = features per frame. `valid` is bool [B, K], false at
padding frames; no output of a valid frame, and no pooled vector, depends
on what the padding frames hold or on how many there are.

References: the Transformer, Vaswani et al., "Attention Is All You Need"
(NeurIPS 2017, arXiv:1706.03762), with its sinusoidal position encoding;
pre-norm blocks (layer norm before each sub-layer, a final layer norm):
Xiong et al., "On Layer Normalization in the Transformer Architecture"
(ICML 2020, arXiv:2002.04745), which shows they train without warm-up;
the CLS token of BERT (Devlin et al. 2019, arXiv:1810.04805); pooling by a
learned query, Lee et al., "Set Transformer" (ICML 2019, arXiv:1810.00825),
its PMA block with one seed vector.
"""

import math

import keras
import tensorflow as tf

from youtube8m.models import catalog

# The frame readers keep the first 300 frames (seconds) of a video, so
# learned positions have 300 entries.
MAX_FRAMES = 300
POSITIONS = catalog.POSITIONS  # --transformer_positions


def sinusoidal_encoding(positions, width):
  """Vaswani et al.'s encoding: positions int [B, K] -> float32 [B, K, W].

  Entry 2i is sin(p / 10000^(2i / W)), entry 2i + 1 cos of the same (an odd
  W drops the last cosine).
  """
  half = (width + 1) // 2
  rates = tf.exp(-math.log(10000.0) * 2.0 * tf.range(half, dtype=tf.float32)
                 / width)  # [W / 2]
  angles = tf.cast(positions, tf.float32)[..., None] * rates  # [B, K, W/2]
  pairs = tf.stack([tf.sin(angles), tf.cos(angles)], axis=-1)
  shape = tf.concat([tf.shape(angles)[:-1], [2 * half]], axis=0)
  return tf.reshape(pairs, shape)[..., :width]


def dense_lookup(table, index):
  """tf.gather(table [P, W], index int [B, K]) -> [B, K, W] whose gradient
  is a dense [P, W] tensor.

  tf.gather's gradient is IndexedSlices holding each index as often as it
  occurs (every position once per video), and Keras' optimizers apply
  IndexedSlices element by element: Adam would square each occurrence's
  gradient apart, not their sum. Summed per row here, as a dense update.
  """
  rows, width = tf.shape(table)[0], tf.shape(table)[1]

  @tf.custom_gradient
  def lookup(values):
    def grad(upstream):
      return tf.math.unsorted_segment_sum(
          tf.reshape(upstream, [-1, width]), tf.reshape(index, [-1]), rows)
    return tf.gather(values, index), grad

  return lookup(tf.convert_to_tensor(table))


class PositionEncoding(keras.layers.Layer):
  """Adds position information: x [B, K, W], positions int [B, K] -> same.

  `positions` are frame indices (seconds), also when the model reads
  sampled frames. "learned": a trainable [MAX_FRAMES, W] table, started
  at the sinusoidal encoding (a frame past the last entry, which the
  readers never give, uses the last); "sinusoidal": sinusoidal_encoding,
  no weights, any length.
  """

  def __init__(self, kind, name=None):
    super().__init__(name=name)
    if kind not in POSITIONS:
      raise ValueError(f"position encoding {kind!r}: use one of {POSITIONS}")
    self.kind = kind

  def build(self, input_shape):
    if self.kind == "learned":
      # Started at the sinusoidal encoding: order is visible from the first
      # step. (BERT's small random start, 0.02, hid it behind the unit-scale
      # frames: a model with it had not learnt order after 190 steps, where
      # the sinusoidal start had.)
      width = int(input_shape[-1])
      self.table = self.add_weight(
          shape=(MAX_FRAMES, width), name="table",
          initializer=lambda shape, dtype=None: tf.cast(sinusoidal_encoding(
              tf.range(MAX_FRAMES)[None], width)[0], dtype or tf.float32))

  def call(self, x, positions):
    if self.kind == "learned":
      index = tf.minimum(tf.cast(positions, tf.int32), MAX_FRAMES - 1)
      encoding = dense_lookup(self.table, index)
    else:
      encoding = sinusoidal_encoding(positions, int(x.shape[-1]))
    return x + tf.cast(encoding, x.dtype)


class Dropout(keras.layers.Layer):
  """Dropout (training only) drawing Philox random bits.

  Keras' Dropout draws with the default generator from a seed that changes
  every step, which XLA compiles very slowly on CPU: 300 ms against 3 ms
  for a [32, 33, 256] tensor (TensorFlow 2.21, Keras 3.15). The seed
  comes from a keras.random.SeedGenerator, as Keras' layer does.
  """

  def __init__(self, rate, name=None):
    super().__init__(name=name)
    self.rate = float(rate)
    self.seed_generator = keras.random.SeedGenerator() if rate else None

  def call(self, x, training=False):
    if not training or not self.rate:
      return x
    seed = tf.cast(tf.math.floormod(self.seed_generator.next(),
                                    tf.int32.max - 1), tf.int32)
    return tf.nn.experimental.stateless_dropout(x, self.rate, seed,
                                                rng_alg="philox")


def key_mask(valid):
  """bool [B, K] -> the attention mask [B, 1, K]: every query may attend to
  the valid keys only (broadcast over queries and heads)."""
  return valid[:, None, :]


class TransformerBlock(keras.layers.Layer):
  """One pre-norm encoder block: x [B, K, W], valid [B, K] -> [B, K, W].

  x + Dropout(SelfAttention(LN(x))), then y + Dropout(FFN(LN(y))) with
  FFN = Dense(ff_width, GELU), Dense(W); dropout on the two sub-layers'
  outputs (Vaswani et al.'s residual dropout). Attention to padding frames
  is masked out; outputs at padding frames are computed but never used.
  """

  def __init__(self, heads, ff_width, dropout, name=None):
    super().__init__(name=name)
    self.heads, self.ff_width, self.rate = int(heads), int(ff_width), dropout

  def build(self, input_shape):
    width = int(input_shape[-1])
    self.attention_norm = keras.layers.LayerNormalization(
        epsilon=1e-6, name="attention_norm")
    self.attention = keras.layers.MultiHeadAttention(
        self.heads, width // self.heads, name="attention")
    self.ff_norm = keras.layers.LayerNormalization(epsilon=1e-6,
                                                   name="ff_norm")
    self.ff_in = keras.layers.Dense(self.ff_width, activation="gelu",
                                    name="ff_in")
    self.ff_out = keras.layers.Dense(width, name="ff_out")
    self.dropout = Dropout(self.rate)

  def call(self, x, valid, training=False):
    h = self.attention_norm(x)
    h = self.attention(h, h, attention_mask=key_mask(valid),
                       training=training)
    x = x + self.dropout(h, training=training)
    h = self.ff_out(self.ff_in(self.ff_norm(x)))
    return x + self.dropout(h, training=training)


class QueryPooling(keras.layers.Layer):
  """Attention of one learned query over the valid frames: [B, K, W] ->
  [B, W] (Set Transformer's PMA with one seed, without its feed-forward)."""

  def __init__(self, heads, name=None):
    super().__init__(name=name)
    self.heads = int(heads)

  def build(self, input_shape):
    width = int(input_shape[-1])
    self.query = self.add_weight(
        shape=(1, 1, width), name="query",
        initializer=keras.initializers.TruncatedNormal(stddev=0.02))
    self.attention = keras.layers.MultiHeadAttention(
        self.heads, width // self.heads, name="attention")

  def call(self, x, valid, training=False):
    query = tf.tile(tf.cast(self.query, x.dtype), [tf.shape(x)[0], 1, 1])
    pooled = self.attention(query, x, attention_mask=key_mask(valid),
                            training=training)  # [B, 1, W]
    return pooled[:, 0]


def masked_mean(x, valid):
  """The mean of x [B, K, W] over the valid frames [B, K] -> [B, W] (a
  video without valid frames gives zeros)."""
  weights = tf.cast(valid, x.dtype)[:, :, None]
  count = tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)
  return tf.reduce_sum(tf.where(valid[:, :, None], x, tf.zeros_like(x)),
                       axis=1) / count


def masked_softmax(scores, valid):
  """Softmax over the valid frames of scores [B, K] -> float32 [B, K]
  weights, 0 at padding (computed in float32, also under half policies)."""
  scores = tf.where(valid, tf.cast(scores, tf.float32), -1e30)
  weights = tf.nn.softmax(scores, axis=-1)
  return tf.where(valid, weights, 0.0)


class AttentionPooling(keras.layers.Layer):
  """Learned attention weights over time: [B, K, F], valid [B, K] ->
  [B, F], sum_t a_t h_t with a = softmax over the valid frames of w . h_t
  (the attention LSTM's pooling: one linear score per frame)."""

  def __init__(self, name=None):
    super().__init__(name=name)
    # A recurrent layer's output carries its frame mask, which `valid`
    # already gives; the pooled vector has none.
    self.supports_masking = True

  def compute_mask(self, inputs, mask=None):
    return None

  def build(self, input_shape):
    self.score = keras.layers.Dense(1, use_bias=False, name="score")

  def call(self, h, valid, mask=None):
    del mask  # the same frames as `valid`
    weights = masked_softmax(self.score(h)[:, :, 0], valid)  # [B, K]
    return tf.einsum("bk,bkf->bf", tf.cast(weights, h.dtype), h)
