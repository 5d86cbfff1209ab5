"""Frame models that see time: a frame Transformer (recurrent ones: see
recurrent_models.py).

Every other model but LstmModel pools a bag of frames, so a video whose
evidence is "this, then that" looks to it like "that, then this". The
models here read the frames in order: `TransformerModel` with position
information and self-attention, `GruModel` and `AttentionLstmModel` with
recurrent layers. `make_dataset --order_classes=N` writes data on which
only such models can learn some classes (docs/models.md).

Frames. By default a model reads every valid frame, padding masked out,
so predictions do not depend on the padding. `--sampled_frames=K` reads K
frames instead, in time order, picked as `--sample_random_frames` says
for the other sampling models: in training K random frames (with
replacement, sorted in time) or a random run of K consecutive frames; in
evaluation K evenly spaced frames or the centred run, so evaluation is
reproducible. Positions are the frames' indices in the video (seconds),
sampled or not, so a model trained on samples can read whole videos.

Input [B, T, D] (l2-normalized frames, zero padded) -> probabilities
[B, num_classes], through `--video_level_classifier_model` (MoeModel or
LogisticModel) on the pooled [B, F] vector, as the pooling models do.
"""

import keras
import tensorflow as tf

from youtube8m.models import attention_layers
from youtube8m.models import base
from youtube8m.models import model_utils
from youtube8m.models import pooling_models

# Flags: catalog.py (sampled_frames, transformer_*).


def frames_in_order(model_input, num_frames, sampled_frames, random_frames,
                    training):
  """(frames [B, K, D], positions int32 [B, K], valid bool [B, K]).

  sampled_frames 0: the first K frames, K the batch's longest video (the
  readers pad every video to 300 frames: short videos cost what they
  hold), positions 0..K-1, valid marks the real frames. Otherwise K =
  sampled_frames frames in time order (model_utils.sample_indices),
  all valid, positions their indices.
  """
  total = tf.shape(model_input)[1]
  if not sampled_frames:
    longest = tf.clip_by_value(tf.reduce_max(num_frames), 1,
                               tf.maximum(total, 1))
    frames = model_input[:, :longest]
    positions = tf.broadcast_to(tf.range(longest)[None, :],
                                tf.shape(frames)[:2])
    return frames, positions, tf.sequence_mask(num_frames, longest)
  positions = model_utils.sample_indices(
      num_frames, total, sampled_frames, random_frames, training,
      in_order=True)
  frames = tf.gather(model_input, positions, batch_dims=1)
  return frames, positions, tf.ones_like(positions, tf.bool)


class TemporalModel(base.BaseModel):
  """Shared body: frames in order -> `encode` -> [B, F] -> classifier."""

  frame_level = True
  padding_invariant = True  # masked; tested: test_temporal_models.py
  # On CPU the uncompiled step is faster: XLA's matmuls trail oneDNN's
  # (TransformerModel, batch 32 of 300 frames: 5.5 against 7.3 examples/s;
  # of 32 sampled frames: 50 against 86). The model also trains compiled.
  jit_compile = False

  def __init__(self, num_classes, sampled_frames, sample_random_frames,
               video_level_classifier_model, model_flags):
    base.check_model_flags(sampled_frames=sampled_frames,
                           sample_random_frames=sample_random_frames)
    super().__init__(num_classes, **model_flags)
    self.sampled_frames = int(sampled_frames)
    self.sample_random_frames = sample_random_frames
    self.classifier = pooling_models.build_classifier(
        video_level_classifier_model, num_classes, model_flags)

  def encode(self, frames, positions, valid, training):
    """frames [B, K, D], positions [B, K], valid [B, K] -> [B, F]."""
    raise NotImplementedError

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    frames, positions, valid = frames_in_order(
        model_input, num_frames, self.sampled_frames,
        self.sample_random_frames, training)
    features = self.encode(frames, positions, valid, training)
    return pooling_models.classify_features(self.classifier, features,
                                            num_frames, training)


@base.register
class TransformerModel(TemporalModel):
  """A Transformer encoder over the frames (Vaswani et al. 2017), pre-norm.

  Each frame is projected to `transformer_width`, its position added
  (learned or sinusoidal), `transformer_layers` pre-norm blocks attend
  among the valid frames, a final layer norm, and the frames are pooled
  (`transformer_pooling`) into the classifier. jit-compiled like the
  pooling models.
  """

  def __init__(self, num_classes, transformer_layers=2, transformer_heads=4,
               transformer_width=256, transformer_ff_width=1024,
               transformer_dropout=0.1, transformer_positions="learned",
               transformer_pooling="mean", sampled_frames=0,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel", **model_flags):
    base.check_model_flags(
        transformer_layers=transformer_layers,
        transformer_heads=transformer_heads,
        transformer_width=transformer_width,
        transformer_ff_width=transformer_ff_width,
        transformer_dropout=transformer_dropout,
        transformer_positions=transformer_positions,
        transformer_pooling=transformer_pooling)
    if transformer_width % transformer_heads:
      raise base.bad_flag("transformer_heads", transformer_heads,
                          f"it must divide --transformer_width="
                          f"{transformer_width}")
    super().__init__(num_classes, sampled_frames, sample_random_frames,
                     video_level_classifier_model, model_flags)
    width, self.num_layers = int(transformer_width), int(transformer_layers)
    self.pooling_method = transformer_pooling
    # Frames are unit vectors: unit-variance weights give unit-scale
    # features, the scale of the sinusoidal encoding.
    self.projection = keras.layers.Dense(
        width, kernel_initializer=keras.initializers.RandomNormal(
            stddev=1.0), name="projection")
    self.positions = attention_layers.PositionEncoding(
        transformer_positions, name="positions")
    self.input_dropout = attention_layers.Dropout(transformer_dropout)
    # One attribute per block: tf.train.Checkpoint does not see layers kept
    # in a Python list on a Keras 3 model.
    for i in range(self.num_layers):
      setattr(self, f"block_{i}", attention_layers.TransformerBlock(
          transformer_heads, transformer_ff_width, transformer_dropout,
          name=f"block_{i}"))
    self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6,
                                                      name="final_norm")
    self.cls_token = self.add_weight(
        shape=(1, 1, width), name="cls_token",
        initializer=keras.initializers.TruncatedNormal(stddev=0.02)) \
        if transformer_pooling == "cls" else None
    self.query_pooling = attention_layers.QueryPooling(
        transformer_heads, name="query_pooling") \
        if transformer_pooling == "query" else None

  def encode(self, frames, positions, valid, training):
    """frames [B, K, D] -> pooled [B, transformer_width]."""
    x = self.positions(self.projection(frames), positions)
    if self.cls_token is not None:
      # The token has no position; it is always valid.
      token = tf.tile(tf.cast(self.cls_token, x.dtype),
                      [tf.shape(x)[0], 1, 1])
      x = tf.concat([token, x], axis=1)
      valid = tf.concat([tf.ones_like(valid[:, :1]), valid], axis=1)
    x = self.input_dropout(x, training=training)
    for i in range(self.num_layers):
      x = getattr(self, f"block_{i}")(x, valid, training=training)
    x = self.final_norm(x)
    if self.pooling_method == "cls":
      return x[:, 0]
    if self.pooling_method == "query":
      return self.query_pooling(x, valid, training=training)
    return attention_layers.masked_mean(x, valid)
