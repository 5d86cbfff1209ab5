"""Video-level models: classify one feature vector per video.

Both models also serve as the final classifier of the frame-level models,
which call their `classify` on pooled features [B, D].
"""

import keras
import tensorflow as tf

from youtube8m.models import base
from youtube8m.models import losses

# Flags: moe_num_mixtures, l2_penalty (catalog.py).


@base.register
class LogisticModel(base.BaseModel):
  """Logistic regression: one dense layer and a sigmoid per class."""

  def __init__(self, num_classes, l2_penalty=1e-8, **model_flags):
    base.check_model_flags(l2_penalty=l2_penalty)
    super().__init__(num_classes, **model_flags)
    self.logistic = keras.layers.Dense(
        self.num_classes, activation="sigmoid",
        kernel_regularizer=losses.l2_regularizer(l2_penalty), name="logistic")

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, D] -> probabilities [B, num_classes]."""
    del num_frames, training  # One vector per video; no train-time behaviour.
    return self.logistic(model_input)


@base.register
class MoeModel(base.BaseModel):
  """Mixture of logistic experts, one mixture per class.

  For class c, a softmax over M + 1 gates weighs M sigmoid experts; the last
  gate belongs to a dummy expert that always predicts 0, which lets the model
  predict 0 without saturating every real expert. Outputs of both dense
  layers are class-major: gate logits [B, C * (M + 1)] hold class c's gates
  at columns c * (M + 1) ... c * (M + 1) + M, the last being the dummy's;
  expert logits [B, C * M] hold class c's experts at c * M ... c * M + M - 1.
  """

  def __init__(self, num_classes, moe_num_mixtures=2, l2_penalty=1e-8,
               **model_flags):
    base.check_model_flags(moe_num_mixtures=moe_num_mixtures,
                           l2_penalty=l2_penalty)
    super().__init__(num_classes, **model_flags)
    self.num_mixtures = int(moe_num_mixtures)
    # No gate bias, as in the original starter code.
    self.gates = keras.layers.Dense(
        self.num_classes * (self.num_mixtures + 1), use_bias=False,
        kernel_regularizer=losses.l2_regularizer(l2_penalty), name="gates")
    self.experts = keras.layers.Dense(
        self.num_classes * self.num_mixtures,
        kernel_regularizer=losses.l2_regularizer(l2_penalty), name="experts")

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, D] -> probabilities [B, num_classes]."""
    del num_frames, training
    m = self.num_mixtures
    gate_logits = tf.reshape(self.gates(model_input), [-1, m + 1])
    expert_logits = tf.reshape(self.experts(model_input), [-1, m])
    gates = tf.nn.softmax(gate_logits, axis=-1)  # [B * C, M + 1]
    experts = tf.sigmoid(expert_logits)  # [B * C, M]
    # The dummy expert's gate (column M) multiplies 0, so it just drops out.
    probabilities = tf.reduce_sum(gates[:, :m] * experts, axis=1)
    return tf.reshape(probabilities, [-1, self.num_classes])
