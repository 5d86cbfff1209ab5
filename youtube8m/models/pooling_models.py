"""Learnable pooling models: NetVLAD, NetFV, Soft-DBoF, NeXtVLAD, a mixture.

The models that won the YouTube-8M challenges: NetVLAD / NetRVLAD, NetFV
and Soft-DBoF with Context Gating (Miech, Laptev, Sivic, arXiv:1706.06905,
1st in 2017) and NeXtVLAD with its on-the-fly distilled mixture (Lin, Xiao,
Fan, arXiv:1811.05014, 3rd in 2018). Layers are in pooling_layers.py.

Input [B, T, D] (l2-normalized frames, zero padded) is pooled in two
streams when D == 1152, the dataset's rgb (1024) and audio (128) features
concatenated, as both papers do: the audio stream gets fewer clusters (and
NeXtVLAD half the groups). Any other D is pooled as one stream.

Flag defaults are those of the published code's flag definitions
(antoine77340/Youtube-8M-WILLOW frame_level_models.py and
video_level_models.py; linrongc/youtube-8m nextvlad.py); the published runs
overrode several (the values are in the comments below). Differences from
the published code: frames are sampled deterministically at evaluation;
NeXtVLAD's batch norms and frame mean skip padding frames; NetFV's second
order is intra-normalized like its first.
"""

import keras
import tensorflow as tf

from youtube8m.models import base
from youtube8m.models import model_utils
from youtube8m.models import pooling_layers as layers
from youtube8m.models import video_level_models

# Flags (with the published runs' values): catalog.py, netvlad_*, fv_*,
# gating*, softdbof_maxpool, pooling_bn_momentum, debias_batch_norm.


def build_classifier(model_name, num_classes, model_flags):
  """The video-level model that classifies pooled features [B, H]."""
  base.check_model_flags(video_level_classifier_model=model_name)
  flags = {k: v for k, v in model_flags.items() if k != "name"}
  return base.build_model(model_name, num_classes, name="classifier",
                          **flags)


def classify_features(classifier, features, num_frames, training):
  """classifier.classify on features [B, H] -> probabilities [B, C].

  `call` would l2-normalize the features again, so `classify` is used, and
  the classifier is marked built (its layers built themselves).
  """
  probabilities = classifier.classify(features, num_frames, training=training)
  classifier.built = True
  return probabilities


def classifier_logits(classifier, features, num_frames, training):
  """(logits, probabilities) [B, C] of a video-level classifier.

  LogisticModel's logits are exact; for another classifier (a MoE has no
  single logit) they are the inverse sigmoid of its probabilities, clipped
  to [1e-7, 1 - 1e-7].
  """
  probabilities = classify_features(classifier, features, num_frames,
                                    training)
  if isinstance(classifier, video_level_models.LogisticModel):
    dense = classifier.logistic
    logits = tf.matmul(features, dense.kernel) + dense.bias
    return logits, tf.sigmoid(logits)
  # In float32: under mixed_float16, 1 - 1e-7 would round to 1.
  p = tf.clip_by_value(tf.cast(probabilities, tf.float32), 1e-7, 1 - 1e-7)
  return tf.math.log(p) - tf.math.log1p(-p), probabilities


class PoolingModel(base.BaseModel):
  """Shared body of the Willow models (NetVLAD, NetFV, Soft-DBoF).

  classify: `iterations` frames are sampled (at random while training,
  evenly spaced otherwise, as DbofModel does, so evaluation is
  deterministic and padding is never sampled), batch-normalized, pooled per
  stream, projected by a linear hidden layer with bias (the published runs
  used --netvlad_relu=False etc.), optionally context-gated, classified by
  `video_level_classifier_model`, and the probabilities optionally gated
  (`moe_prob_gating`). Shapes: [B, T, D] -> [B, num_classes].
  """

  frame_level = True
  padding_invariant = True  # tested: test_pooling_models.py

  def __init__(self, num_classes, make_pooler, *, cluster_size, hidden_size,
               add_batch_norm, gating, gating_remove_diag, moe_prob_gating,
               iterations, sample_random_frames, video_level_classifier_model,
               pooling_bn_momentum, debias_batch_norm, model_flags):
    """make_pooler(audio, name, bn) -> the pooling layer of a stream (bn:
    the batch norms' keywords of pooling_layers);
    the rest are the model flags of that name (model_flags: all of them)."""
    base.check_model_flags(
      gating=gating, gating_remove_diag=gating_remove_diag,
      moe_prob_gating=moe_prob_gating, iterations=iterations,
      sample_random_frames=sample_random_frames,
      pooling_bn_momentum=pooling_bn_momentum,
      debias_batch_norm=debias_batch_norm)
    super().__init__(num_classes, **model_flags)
    # Every batch norm's keywords (pooling_layers).
    bn = dict(bn_momentum=float(pooling_bn_momentum),
              bn_debias=debias_batch_norm)
    self.iterations = int(iterations)
    self.sample_random_frames = sample_random_frames
    self.input_bn = layers.batch_norm(
        "input_bn", bn["bn_momentum"], debias_batch_norm) \
        if add_batch_norm else None
    self.pooling = layers.StreamPooling(
        lambda audio, name: make_pooler(audio, name, bn), name="pooling")
    # Willow's stddev 1/sqrt(clusters): the pooled vector has unit norm.
    self.hidden = keras.layers.Dense(
        int(hidden_size), kernel_initializer=layers.normal(
            1 / float(cluster_size) ** 0.5), name="hidden")
    self.gating = layers.ContextGating(
        add_batch_norm, gating_remove_diag, name="gating", **bn) \
        if gating else None
    self.classifier = build_classifier(video_level_classifier_model,
                                       num_classes, model_flags)
    self.prob_gating = layers.ContextGating(
        True, gating_remove_diag, name="prob_gating", **bn) \
        if moe_prob_gating else None

  def sample_frames(self, model_input, num_frames, training=False):
    """[B, T, D] -> the `iterations` frames pooled, [B, K, D]."""
    return model_utils.sample_frames(model_input, num_frames, self.iterations,
                                     self.sample_random_frames, training)

  def frame_indices(self, num_frames, length, training=False):
    """The `iterations` frames [B, K] `call` gathers before dequantizing."""
    return model_utils.sample_indices(num_frames, length, self.iterations,
                                      self.sample_random_frames, training)

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    return self.classify_sampled(
        self.sample_frames(model_input, num_frames, training), num_frames,
        training)

  def classify_sampled(self, frames, num_frames, training=False):
    """frames: the sampled float32 [B, K, D] -> probabilities [B, C]."""
    if self.input_bn is not None:
      frames = self.input_bn(frames, training=training)
    hidden = self.hidden(self.pooling(frames, training=training))  # [B, H]
    if self.gating is not None:
      hidden = self.gating(hidden, training=training)
    probabilities = classify_features(self.classifier, hidden, num_frames,
                                      training)
    if self.prob_gating is not None:
      probabilities = self.prob_gating(probabilities, training=training)
    return probabilities


@base.register
class NetVLADModel(PoolingModel):
  """NetVLAD (or NetRVLAD with `lightvlad`) pooling; see PoolingModel."""

  def __init__(self, num_classes, netvlad_cluster_size=64,
               netvlad_hidden_size=1024, netvlad_add_batch_norm=True,
               lightvlad=False, gating=False, gating_remove_diag=False,
               moe_prob_gating=False, iterations=30, sample_random_frames=True,
               video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, debias_batch_norm=True,
               **model_flags):
    base.check_model_flags(
      netvlad_cluster_size=netvlad_cluster_size,
      netvlad_hidden_size=netvlad_hidden_size,
      netvlad_add_batch_norm=netvlad_add_batch_norm, lightvlad=lightvlad)
    k = int(netvlad_cluster_size)
    super().__init__(
        num_classes, lambda audio, name, bn: layers.NetVLAD(
            layers.audio_share(k, audio), netvlad_add_batch_norm,
            not lightvlad, name=name, **bn),
        cluster_size=k, hidden_size=netvlad_hidden_size,
        add_batch_norm=netvlad_add_batch_norm, gating=gating,
        gating_remove_diag=gating_remove_diag, moe_prob_gating=moe_prob_gating,
        iterations=iterations, sample_random_frames=sample_random_frames,
        video_level_classifier_model=video_level_classifier_model,
        pooling_bn_momentum=pooling_bn_momentum,
        debias_batch_norm=debias_batch_norm, model_flags=model_flags)


@base.register
class NetFVModel(PoolingModel):
  """Learnable Fisher vector pooling; see PoolingModel."""

  def __init__(self, num_classes, fv_cluster_size=64, fv_hidden_size=2048,
               fv_couple_weights=True, fv_coupling_factor=0.01,
               netvlad_add_batch_norm=True, gating=False,
               gating_remove_diag=False, moe_prob_gating=False, iterations=30,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, debias_batch_norm=True,
               **model_flags):
    base.check_model_flags(
      fv_cluster_size=fv_cluster_size, fv_hidden_size=fv_hidden_size,
      fv_couple_weights=fv_couple_weights,
      fv_coupling_factor=fv_coupling_factor,
      netvlad_add_batch_norm=netvlad_add_batch_norm)
    k = int(fv_cluster_size)
    super().__init__(
        num_classes, lambda audio, name, bn: layers.NetFV(
            layers.audio_share(k, audio), netvlad_add_batch_norm,
            fv_couple_weights, fv_coupling_factor, name=name, **bn),
        cluster_size=k, hidden_size=fv_hidden_size,
        add_batch_norm=netvlad_add_batch_norm, gating=gating,
        gating_remove_diag=gating_remove_diag, moe_prob_gating=moe_prob_gating,
        iterations=iterations, sample_random_frames=sample_random_frames,
        video_level_classifier_model=video_level_classifier_model,
        pooling_bn_momentum=pooling_bn_momentum,
        debias_batch_norm=debias_batch_norm, model_flags=model_flags)


@base.register
class SoftDbofModel(PoolingModel):
  """Soft-assignment bag of frames (audio: 1/8 of the clusters, as
  published); see PoolingModel."""

  def __init__(self, num_classes, dbof_cluster_size=8192, dbof_hidden_size=1024,
               dbof_add_batch_norm=True, softdbof_maxpool=False, gating=False,
               gating_remove_diag=False, moe_prob_gating=False, iterations=30,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, debias_batch_norm=True,
               **model_flags):
    base.check_model_flags(
      dbof_cluster_size=dbof_cluster_size, dbof_hidden_size=dbof_hidden_size,
      dbof_add_batch_norm=dbof_add_batch_norm,
      softdbof_maxpool=softdbof_maxpool)
    k = int(dbof_cluster_size)
    super().__init__(
        num_classes, lambda audio, name, bn: layers.SoftDBoF(
            layers.audio_share(k, audio, 8), dbof_add_batch_norm,
            softdbof_maxpool, name=name, **bn),
        cluster_size=k, hidden_size=dbof_hidden_size,
        add_batch_norm=dbof_add_batch_norm, gating=gating,
        gating_remove_diag=gating_remove_diag, moe_prob_gating=moe_prob_gating,
        iterations=iterations, sample_random_frames=sample_random_frames,
        video_level_classifier_model=video_level_classifier_model,
        pooling_bn_momentum=pooling_bn_momentum,
        debias_batch_norm=debias_batch_norm, model_flags=model_flags)
