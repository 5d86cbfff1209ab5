"""NeXtVLAD and its on-the-fly distilled mixture (Lin, Xiao, Fan 2018).

Lin, Xiao, Fan, "NeXtVLAD: An Efficient Neural Network to Aggregate
Frame-level Features for Large-scale Video Classification" (ECCV 2018
workshops, arXiv:1811.05014; 3rd in the 2018 challenge). The layers are in
pooling_layers.py, the shared classifier helpers in pooling_models.py.
Input [B, T, D] (l2-normalized frames, zero padded); rgb and audio are
pooled as two streams when D == 1152, as in pooling_models.py.
"""

import keras
import tensorflow as tf

from youtube8m.models import base
from youtube8m.models import pooling_layers as layers
from youtube8m.models import pooling_models

# Flags (with the published runs' values): catalog.py, groups,
# nextvlad_*, expansion, gating_reduction, drop_rate, mix_number, cl_*.


def _check_nextvlad_flags(**flags):
  """Checks the NeXtVLAD branch flags; returns the branch's keywords."""
  base.check_model_flags(**flags)
  return {k: flags[k] for k in ("groups", "expansion", "gating_reduction",
                                "drop_rate")}


def _valid_frames(model_input, num_frames):
  """float32 [B, T]: 1 at real frames, 0 at padding."""
  return tf.sequence_mask(num_frames, tf.shape(model_input)[1], tf.float32)


@base.register
class NeXtVLADModel(base.BaseModel):
  """NeXtVLAD over all valid frames (no sampling, padding masked out), SE
  context gating and `video_level_classifier_model` (the paper's: a
  LogisticModel). [B, T, D] -> [B, num_classes]."""

  frame_level = True
  padding_invariant = True  # tested: test_pooling_models.py

  def __init__(self, num_classes, groups=8, nextvlad_cluster_size=64,
               nextvlad_hidden_size=1024, expansion=2, gating_reduction=8,
               drop_rate=0.5, video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, debias_batch_norm=True,
               **model_flags):
    flags = _check_nextvlad_flags(
        groups=groups, nextvlad_cluster_size=nextvlad_cluster_size,
        nextvlad_hidden_size=nextvlad_hidden_size, expansion=expansion,
        gating_reduction=gating_reduction, drop_rate=drop_rate)
    base.check_model_flags(pooling_bn_momentum=pooling_bn_momentum,
                           debias_batch_norm=debias_batch_norm)
    super().__init__(num_classes, **model_flags)
    self.branch = layers.NeXtVLADBranch(
        pooling_models.build_classifier(video_level_classifier_model, num_classes,
                         model_flags),
        nextvlad_cluster_size, nextvlad_hidden_size, name="branch",
        bn_momentum=float(pooling_bn_momentum), bn_debias=debias_batch_norm,
        **flags)

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    hidden = self.branch(model_input, _valid_frames(model_input, num_frames),
                         training=training)
    return pooling_models.classify_features(self.branch.classifier, hidden, num_frames,
                             training)


@base.register
class MixNeXtVLADModel(base.BaseModel):
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
  padding_invariant = True  # tested: test_pooling_models.py

  def __init__(self, num_classes, mix_number=3, cl_temperature=2.0,
               cl_lambda=1.0, groups=8, nextvlad_cluster_size=64,
               nextvlad_hidden_size=1024, expansion=2, gating_reduction=8,
               drop_rate=0.5, video_level_classifier_model="MoeModel",
               pooling_bn_momentum=layers.BN_MOMENTUM, debias_batch_norm=True,
               **model_flags):
    base.check_model_flags(mix_number=mix_number,
                           cl_temperature=cl_temperature,
                           cl_lambda=cl_lambda,
                           pooling_bn_momentum=pooling_bn_momentum,
                           debias_batch_norm=debias_batch_norm)
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
          pooling_models.build_classifier(video_level_classifier_model, num_classes,
                           model_flags),
          nextvlad_cluster_size, nextvlad_hidden_size, name=f"branch_{i}",
          bn_momentum=momentum, bn_debias=debias_batch_norm, **flags))
    self.mix_bn = layers.batch_norm("mix_bn", momentum, debias_batch_norm)
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
      z, p = pooling_models.classifier_logits(
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
