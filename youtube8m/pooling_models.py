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

from youtube8m import model_utils
from youtube8m import models
from youtube8m import pooling_layers as layers
from youtube8m import video_level_models

_flag = models.define_flag
_int, _bool = models.positive_int, models.boolean
# Willow's defaults. Its README's runs: NetVLAD (and NetRVLAD) 256 clusters,
# hidden 1024; NetFV 128 clusters, hidden 1024, uncoupled; Soft-DBoF 8000
# clusters, hidden 1024; all but Soft-DBoF with --gating --moe_prob_gating;
# --iterations=300 and, as hard-coded here, no ReLU after the hidden layer.
_flag("netvlad_cluster_size", 64, "NetVLADModel clusters of the rgb stream "
      "(the audio stream gets half).", _int)
_flag("netvlad_hidden_size", 1024, "NetVLADModel hidden layer width.", _int)
_flag("netvlad_add_batch_norm", True, "NetVLADModel and NetFVModel: batch "
      "norm on the input and the cluster logits (instead of biases), and in "
      "context gating.", _bool)
_flag("lightvlad", False, "NetVLADModel without cluster centres (NetRVLAD): "
      "sums assignment-weighted frames instead of residuals.", _bool)
_flag("gating", False, "Context gating after the hidden layer of NetVLADModel,"
      " NetFVModel and SoftDbofModel.", _bool)
_flag("gating_remove_diag", False, "Context gating ignores each unit's own "
      "weight (the diagonal).", _bool)
_flag("moe_prob_gating", False, "Context gating of the classifier's "
      "probabilities in NetVLADModel, NetFVModel and SoftDbofModel.", _bool)
_flag("fv_cluster_size", 64, "NetFVModel clusters of the rgb stream (audio: "
      "half).", _int)
_flag("fv_hidden_size", 2048, "NetFVModel hidden layer width.", _int)
_flag("fv_couple_weights", True, "NetFVModel cluster means are "
      "fv_coupling_factor * the assignment weights.", _bool)
_flag("fv_coupling_factor", 0.01, "NetFVModel factor of the coupled means.",
      models.positive)
_flag("softdbof_maxpool", False, "SoftDbofModel also max-pools the soft "
      "assignments.", _bool)
# linrongc's nextvlad.py defaults. Its scripts: single model groups 8,
# clusters 128, hidden 2048, expansion 2, reduction 8, dropout 0.5; final
# mixture clusters 112, reduction 16, mix 3, temperature 3, lambda 9; both
# with --video_level_classifier_model=LogisticModel --l2_penalty=1e-5.
_flag("groups", 8, "NeXtVLAD groups of the rgb stream (audio: half).", _int)
_flag("nextvlad_cluster_size", 64, "NeXtVLAD clusters of the rgb stream "
      "(audio: half).", _int)
_flag("nextvlad_hidden_size", 1024, "NeXtVLAD hidden layer width.", _int)
_flag("expansion", 2, "NeXtVLAD feature expansion factor (lambda).", _int)
_flag("gating_reduction", 8, "NeXtVLAD SE gating reduction factor.", _int)
_flag("drop_rate", 0.5, "NeXtVLAD dropout rate on the pooled features "
      "(training only).", models.fraction)
_flag("mix_number", 3, "MixNeXtVLADModel: NeXtVLAD students.", _int)
_flag("cl_temperature", 2.0, "MixNeXtVLADModel distillation temperature.",
      models.positive)
_flag("cl_lambda", 1.0, "MixNeXtVLADModel weight of the distillation loss "
      "(the paper uses temperature^2).", models.non_negative)
_flag("pooling_bn_momentum", layers.BN_MOMENTUM, "Momentum of the batch-norm "
      "moving statistics of NetVLADModel, NetFVModel, SoftDbofModel, "
      "NeXtVLADModel and MixNeXtVLADModel (the published 0.999). Evaluation "
      "uses those statistics: for runs of a few hundred steps lower it (e.g. "
      "0.99), or they are still near their initial values.", models.fraction)



def build_classifier(model_name, num_classes, model_flags):
  """The video-level model that classifies pooled features [B, H]."""
  models.check_model_flags(video_level_classifier_model=model_name)
  flags = {k: v for k, v in model_flags.items() if k != "name"}
  return models.build_model(model_name, num_classes, name="classifier",
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


class PoolingModel(models.BaseModel):
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

  def __init__(self, num_classes, make_pooler, cluster_size, hidden_size,
               add_batch_norm, gating, gating_remove_diag, moe_prob_gating,
               iterations, sample_random_frames, video_level_classifier_model,
               pooling_bn_momentum, model_flags):
    models.check_model_flags(
        gating=gating, gating_remove_diag=gating_remove_diag,
        moe_prob_gating=moe_prob_gating, iterations=iterations,
        sample_random_frames=sample_random_frames,
        pooling_bn_momentum=pooling_bn_momentum)
    super().__init__(num_classes, **model_flags)
    momentum = float(pooling_bn_momentum)
    self.iterations = int(iterations)
    self.sample_random_frames = sample_random_frames
    self.input_bn = layers.batch_norm("input_bn", momentum) \
        if add_batch_norm else None
    self.pooling = layers.StreamPooling(
        lambda audio, name: make_pooler(audio, name, momentum),
        name="pooling")
    # Willow's stddev 1/sqrt(clusters): the pooled vector has unit norm.
    self.hidden = keras.layers.Dense(
        int(hidden_size), kernel_initializer=layers.normal(
            1 / float(cluster_size) ** 0.5), name="hidden")
    self.gating = layers.ContextGating(
        add_batch_norm, gating_remove_diag, name="gating",
        bn_momentum=momentum) if gating else None
    self.classifier = build_classifier(video_level_classifier_model,
                                       num_classes, model_flags)
    self.prob_gating = layers.ContextGating(
        True, gating_remove_diag, name="prob_gating",
        bn_momentum=momentum) if moe_prob_gating else None

  def sample_frames(self, model_input, num_frames, training=False):
    """[B, T, D] -> the `iterations` frames pooled, [B, K, D]."""
    k = self.iterations
    if training:
      if self.sample_random_frames:
        return model_utils.sample_random_frames(model_input, num_frames, k)
      return model_utils.sample_random_sequence(model_input, num_frames, k)
    if self.sample_random_frames:
      return model_utils.sample_evenly(model_input, num_frames, k)
    return model_utils.sample_centered_sequence(model_input, num_frames, k)

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    frames = self.sample_frames(model_input, num_frames, training)
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


@models.register
class NetVLADModel(PoolingModel):
  """NetVLAD (or NetRVLAD with `lightvlad`) pooling; see PoolingModel."""

  def __init__(self, num_classes, netvlad_cluster_size=64,
               netvlad_hidden_size=1024, netvlad_add_batch_norm=True,
               lightvlad=False, gating=False, gating_remove_diag=False,
               moe_prob_gating=False, iterations=30, sample_random_frames=True,
               video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, **model_flags):
    models.check_model_flags(
        netvlad_cluster_size=netvlad_cluster_size,
        netvlad_hidden_size=netvlad_hidden_size,
        netvlad_add_batch_norm=netvlad_add_batch_norm, lightvlad=lightvlad)
    k = int(netvlad_cluster_size)
    super().__init__(
        num_classes, lambda audio, name, momentum: layers.NetVLAD(
            layers.audio_share(k, audio), netvlad_add_batch_norm,
            not lightvlad, name=name, bn_momentum=momentum),
        k, netvlad_hidden_size, netvlad_add_batch_norm, gating,
        gating_remove_diag, moe_prob_gating, iterations, sample_random_frames,
        video_level_classifier_model, pooling_bn_momentum, model_flags)


@models.register
class NetFVModel(PoolingModel):
  """Learnable Fisher vector pooling; see PoolingModel."""

  def __init__(self, num_classes, fv_cluster_size=64, fv_hidden_size=2048,
               fv_couple_weights=True, fv_coupling_factor=0.01,
               netvlad_add_batch_norm=True, gating=False,
               gating_remove_diag=False, moe_prob_gating=False, iterations=30,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, **model_flags):
    models.check_model_flags(
        fv_cluster_size=fv_cluster_size, fv_hidden_size=fv_hidden_size,
        fv_couple_weights=fv_couple_weights,
        fv_coupling_factor=fv_coupling_factor,
        netvlad_add_batch_norm=netvlad_add_batch_norm)
    k = int(fv_cluster_size)
    super().__init__(
        num_classes, lambda audio, name, momentum: layers.NetFV(
            layers.audio_share(k, audio), netvlad_add_batch_norm,
            fv_couple_weights, fv_coupling_factor, name=name,
            bn_momentum=momentum),
        k, fv_hidden_size, netvlad_add_batch_norm, gating, gating_remove_diag,
        moe_prob_gating, iterations, sample_random_frames,
        video_level_classifier_model, pooling_bn_momentum, model_flags)


@models.register
class SoftDbofModel(PoolingModel):
  """Soft-assignment bag of frames (audio: 1/8 of the clusters, as
  published); see PoolingModel."""

  def __init__(self, num_classes, dbof_cluster_size=8192, dbof_hidden_size=1024,
               dbof_add_batch_norm=True, softdbof_maxpool=False, gating=False,
               gating_remove_diag=False, moe_prob_gating=False, iterations=30,
               sample_random_frames=True,
               video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, **model_flags):
    models.check_model_flags(
        dbof_cluster_size=dbof_cluster_size, dbof_hidden_size=dbof_hidden_size,
        dbof_add_batch_norm=dbof_add_batch_norm,
        softdbof_maxpool=softdbof_maxpool)
    k = int(dbof_cluster_size)
    super().__init__(
        num_classes, lambda audio, name, momentum: layers.SoftDBoF(
            layers.audio_share(k, audio, 8), dbof_add_batch_norm,
            softdbof_maxpool, name=name, bn_momentum=momentum),
        k, dbof_hidden_size, dbof_add_batch_norm, gating, gating_remove_diag,
        moe_prob_gating, iterations, sample_random_frames,
        video_level_classifier_model, pooling_bn_momentum, model_flags)


def _check_nextvlad_flags(**flags):
  """Checks the NeXtVLAD branch flags; returns the branch's keywords."""
  models.check_model_flags(**flags)
  return {k: flags[k] for k in ("groups", "expansion", "gating_reduction",
                                "drop_rate")}


def _valid_frames(model_input, num_frames):
  """float32 [B, T]: 1 at real frames, 0 at padding."""
  return tf.sequence_mask(num_frames, tf.shape(model_input)[1], tf.float32)


@models.register
class NeXtVLADModel(models.BaseModel):
  """NeXtVLAD over all valid frames (no sampling, padding masked out), SE
  context gating and `video_level_classifier_model` (the paper's: a
  LogisticModel). [B, T, D] -> [B, num_classes]."""

  frame_level = True

  def __init__(self, num_classes, groups=8, nextvlad_cluster_size=64,
               nextvlad_hidden_size=1024, expansion=2, gating_reduction=8,
               drop_rate=0.5, video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, **model_flags):
    flags = _check_nextvlad_flags(
        groups=groups, nextvlad_cluster_size=nextvlad_cluster_size,
        nextvlad_hidden_size=nextvlad_hidden_size, expansion=expansion,
        gating_reduction=gating_reduction, drop_rate=drop_rate)
    models.check_model_flags(pooling_bn_momentum=pooling_bn_momentum)
    super().__init__(num_classes, **model_flags)
    self.branch = layers.NeXtVLADBranch(
        build_classifier(video_level_classifier_model, num_classes,
                         model_flags),
        nextvlad_cluster_size, nextvlad_hidden_size, name="branch",
        bn_momentum=float(pooling_bn_momentum), **flags)

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    hidden = self.branch(model_input, _valid_frames(model_input, num_frames),
                         training=training)
    return classify_features(self.branch.classifier, hidden, num_frames,
                             training)


@models.register
class MixNeXtVLADModel(models.BaseModel):
  """`mix_number` NeXtVLAD students and their mixture, distilled on the fly.

  Mixture logits z = sum_m w_m z_m, with w = softmax(Dense(BN(the mean valid
  frame))); predictions are sigmoid(z), in training and at inference. The
  training loss has three parts (Lin et al., Eq. 12):
    * the --label_loss of the mixture's predictions (as for any model);
    * the --label_loss of each student's predictions, unscaled: in training
      the outputs hold `student_predictions` [N, B, C], and the train step
      (trainer.Trainer) adds one label loss per student;
    * distillation, cl_lambda * mean_b sum_m KL(p || p_m), p = softmax(
      stop_gradient(z) / T), p_m = softmax(z_m / T) over the classes. The
      model adds it with `add_loss`, so it reaches the loss through
      `losses.regularization_loss(model)` and is multiplied by
      --regularization_penalty like the L2 terms (so did the published
      train.py; with the default penalty 1 the weight is cl_lambda alone).
  Logits, the mixture and the distillation are computed in float32, also
  under --mixed_precision.
  """

  frame_level = True

  def __init__(self, num_classes, mix_number=3, cl_temperature=2.0,
               cl_lambda=1.0, groups=8, nextvlad_cluster_size=64,
               nextvlad_hidden_size=1024, expansion=2, gating_reduction=8,
               drop_rate=0.5, video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, **model_flags):
    models.check_model_flags(mix_number=mix_number,
                             cl_temperature=cl_temperature,
                             cl_lambda=cl_lambda,
                             pooling_bn_momentum=pooling_bn_momentum)
    flags = _check_nextvlad_flags(
        groups=groups, nextvlad_cluster_size=nextvlad_cluster_size,
        nextvlad_hidden_size=nextvlad_hidden_size, expansion=expansion,
        gating_reduction=gating_reduction, drop_rate=drop_rate)
    super().__init__(num_classes, **model_flags)
    momentum = float(pooling_bn_momentum)
    self.mix_number = int(mix_number)
    self.temperature, self.cl_lambda = float(cl_temperature), float(cl_lambda)
    for i in range(self.mix_number):  # attributes, for tf.train.Checkpoint
      setattr(self, f"branch_{i}", layers.NeXtVLADBranch(
          build_classifier(video_level_classifier_model, num_classes,
                           model_flags),
          nextvlad_cluster_size, nextvlad_hidden_size, name=f"branch_{i}",
          bn_momentum=momentum, **flags))
    self.mix_bn = layers.batch_norm("mix_bn", momentum)
    self.mix_gate = keras.layers.Dense(
        self.mix_number, kernel_initializer=keras.initializers.HeNormal(),
        name="mix_gate")
    # The students' probabilities of the training call, from classify() to
    # call(); a plain dict, not tracked.
    object.__setattr__(self, "_students", {})

  def call(self, inputs, training=False):
    """BaseModel.call, plus `student_predictions` [N, B, C] in training."""
    try:
      outputs = super().call(inputs, training=training)
      students = self._students.get("probabilities")
    finally:
      self._students.clear()
    if students is not None:
      outputs["student_predictions"] = students
    return outputs

  def forward(self, model_input, num_frames, training=False):
    """[B, T, D] -> mixture logits [B, C], students' logits and
    probabilities [N, B, C]."""
    valid = _valid_frames(model_input, num_frames)
    logits, probabilities = [], []
    for i in range(self.mix_number):
      branch = getattr(self, f"branch_{i}")
      z, p = classifier_logits(
          branch.classifier, branch(model_input, valid, training=training),
          num_frames, training)
      # float32 also under a mixed precision policy: the softmaxes of the
      # distillation and the mixture's sigmoid need its range.
      logits.append(tf.cast(z, tf.float32))
      probabilities.append(tf.cast(p, tf.float32))
    logits, probabilities = tf.stack(logits), tf.stack(probabilities)
    counts = tf.maximum(tf.reduce_sum(valid, axis=1, keepdims=True), 1.0)
    mean_frame = tf.reduce_sum(model_input, axis=1) / counts  # [B, D]
    weights = tf.nn.softmax(tf.cast(self.mix_gate(
        self.mix_bn(mean_frame, training=training)), tf.float32))  # [B, N]
    mixture = tf.einsum("bn,nbc->bc", weights, logits)
    return mixture, logits, probabilities

  def distillation_loss(self, mixture_logits, student_logits):
    """cl_lambda * batch mean of sum_m KL(mixture || student m), scalar."""
    t = self.temperature
    teacher = tf.nn.log_softmax(tf.stop_gradient(mixture_logits) / t, -1)
    students = tf.nn.log_softmax(student_logits / t, -1)  # [N, B, C]
    kl = tf.reduce_sum(tf.exp(teacher) * (teacher - students), axis=-1)
    return self.cl_lambda * tf.reduce_mean(tf.reduce_sum(kl, axis=0))

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> mixture probabilities [B, C]."""
    mixture, logits, probabilities = self.forward(model_input, num_frames,
                                                  training)
    if training:
      self.add_loss(self.distillation_loss(mixture, logits))
      self._students["probabilities"] = probabilities
    return tf.sigmoid(mixture)
