"""Frame-level models: classify a padded sequence of frame features.

Inputs are [B, T, D] with zero padding at frames t >= num_frames[b]. Every
model here gives the same predictions whatever the padding length T, and
none samples randomly outside training, so evaluation is reproducible.
"""

import keras
import tensorflow as tf

from youtube8m.models import base
from youtube8m.models import batch_norm
from youtube8m.models import losses
from youtube8m.models import model_utils
# Registers MoeModel, the default classifier of the frame models.
from youtube8m.models import video_level_models  # noqa: F401

# Flags: iterations, dbof_*, sample_random_frames, lstm_*,
# video_level_classifier_model (catalog.py).


def _build_classifier(model_name, num_classes, model_flags):
  """The video-level model that classifies pooled features [B, H]."""
  base.check_model_flags(video_level_classifier_model=model_name)
  flags = {k: v for k, v in model_flags.items() if k != "name"}
  return base.build_model(model_name, num_classes, name="classifier",
                          **flags)


def _classify_features(classifier, features, num_frames, training):
  """classifier.classify on features [B, H] -> probabilities [B, C].

  The classifier is a BaseModel whose `call` would l2-normalize again, so
  its `classify` is used directly. That bypasses Keras' build bookkeeping,
  hence the classifier is marked built here (its layers built themselves);
  otherwise Keras reports it unbuilt (e.g. 0 parameters in summary()).
  """
  predictions = classifier.classify(features, num_frames, training=training)
  classifier.built = True
  return predictions


def _batch_norm(name, debias):
  # Momentum and epsilon of the original's slim.batch_norm (decay 0.999).
  return batch_norm.batch_norm(name, 0.999, debias)


def _fan_in_normal():
  """Normal weights with stddev 1/sqrt(fan_in), as the original DBoF used."""
  return keras.initializers.VarianceScaling(
      scale=1.0, mode="fan_in", distribution="untruncated_normal")


@base.register
class FrameLevelLogisticModel(base.BaseModel):
  """LogisticModel over the average of the valid frames."""

  frame_level = True
  padding_invariant = True  # tested: test_models.py

  def __init__(self, num_classes, l2_penalty=1e-8, **model_flags):
    base.check_model_flags(l2_penalty=l2_penalty)
    super().__init__(num_classes, **model_flags)
    self.logistic = keras.layers.Dense(
        self.num_classes, activation="sigmoid",
        kernel_regularizer=losses.l2_regularizer(l2_penalty),
        name="logistic")

  def call(self, inputs, training=False):
    """BaseModel.call; raw uint8 frames are averaged without first being
    joined and normalized as a float [B, T, D] batch (one pass less)."""
    leaves = tf.nest.flatten(inputs["video_matrix"])
    if not all(leaf.dtype == tf.uint8 and leaf.shape.rank == 3
               for leaf in leaves):
      return super().call(inputs, training=training)
    average = model_utils.average_unit_frames(inputs["video_matrix"],
                                              inputs["num_frames"])
    return {"predictions": self.logistic(average)}

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    del training
    average = model_utils.frame_pooling(model_input, "average", num_frames)
    return self.logistic(average)  # average: [B, D]


@base.register
class DbofModel(base.BaseModel):
  """Deep Bag of Frames: project sampled frames, pool them, classify.

  `iterations` frames are sampled per video: at training time at random
  (with replacement, or a random run of consecutive frames when
  `sample_random_frames` is false); otherwise deterministically (evenly
  spaced frames, or the centred run). Each frame is projected to
  `dbof_cluster_size` units, the projections are pooled over the samples,
  projected to `dbof_hidden_size` units and fed to the video-level
  classifier (`video_level_classifier_model`).
  """

  frame_level = True
  padding_invariant = True  # tested: test_models.py

  def __init__(self, num_classes, iterations=30, dbof_add_batch_norm=True,
               sample_random_frames=True, dbof_cluster_size=8192,
               dbof_hidden_size=1024, dbof_pooling_method="max",
               dbof_activation="sigmoid",
               video_level_classifier_model="MoeModel", debias_batch_norm=True,
               **model_flags):
    base.check_model_flags(
      iterations=iterations, dbof_add_batch_norm=dbof_add_batch_norm,
      sample_random_frames=sample_random_frames,
      dbof_cluster_size=dbof_cluster_size, dbof_hidden_size=dbof_hidden_size,
      dbof_pooling_method=dbof_pooling_method,
      dbof_activation=dbof_activation, debias_batch_norm=debias_batch_norm)
    super().__init__(num_classes, **model_flags)
    self.iterations = int(iterations)
    self.sample_random_frames = sample_random_frames
    self.pooling_method = dbof_pooling_method
    self._activation = model_utils.ACTIVATIONS[dbof_activation]
    add_bn = dbof_add_batch_norm
    # With batch norm, its beta replaces the bias of each projection.
    debias = debias_batch_norm
    self.input_bn = _batch_norm("input_bn", debias) if add_bn else None
    self.cluster = keras.layers.Dense(
        int(dbof_cluster_size), use_bias=not add_bn,
        kernel_initializer=_fan_in_normal(), name="cluster")
    self.cluster_bn = _batch_norm("cluster_bn", debias) if add_bn else None
    self.hidden = keras.layers.Dense(
        int(dbof_hidden_size), use_bias=not add_bn,
        kernel_initializer=_fan_in_normal(), name="hidden")
    self.hidden_bn = _batch_norm("hidden_bn", debias) if add_bn else None
    self.classifier = _build_classifier(video_level_classifier_model,
                                        num_classes, model_flags)

  def sample_frames(self, model_input, num_frames, training=False):
    """[B, T, D] -> the `iterations` frames the model looks at, [B, K, D]."""
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
    clusters = self.cluster(frames)  # [B, K, cluster_size]
    if self.cluster_bn is not None:
      clusters = self.cluster_bn(clusters, training=training)
    clusters = self._activation(clusters)
    pooled = model_utils.frame_pooling(clusters, self.pooling_method)
    hidden = self.hidden(pooled)  # [B, hidden_size]
    if self.hidden_bn is not None:
      hidden = self.hidden_bn(hidden, training=training)
    hidden = self._activation(hidden)
    return _classify_features(self.classifier, hidden, num_frames, training)


@base.register
class LstmModel(base.BaseModel):
  """Stacked LSTMs over the valid frames, then a video-level classifier.

  The top layer's output at each video's last valid frame goes to
  `video_level_classifier_model`. Train it with --base_learning_rate=0.001
  (the original README's advice).
  """

  frame_level = True
  padding_invariant = True  # tested: test_models.py
  # XLA keeps every time step's buffers of the masked recurrence: 15 GB for
  # a batch of 16 on CPU. The uncompiled step is both smaller and faster.
  jit_compile = False

  def __init__(self, num_classes, lstm_cells=1024, lstm_layers=2,
               video_level_classifier_model="MoeModel", **model_flags):
    base.check_model_flags(lstm_cells=lstm_cells, lstm_layers=lstm_layers)
    super().__init__(num_classes, **model_flags)
    self.num_layers = int(lstm_layers)
    # One attribute per layer: tf.train.Checkpoint does not see layers kept
    # in a Python list on a Keras 3 model, so they would not be saved.
    # unit_forget_bias (the default) is the original's forget_bias=1.0.
    for i in range(self.num_layers):
      setattr(self, f"lstm_{i}", keras.layers.LSTM(
          int(lstm_cells), return_sequences=i < self.num_layers - 1,
          name=f"lstm_{i}"))
    self.classifier = _build_classifier(video_level_classifier_model,
                                        num_classes, model_flags)

  def classify(self, model_input, num_frames, training=False):
    """model_input: float32 [B, T, D] -> probabilities [B, num_classes]."""
    mask = tf.sequence_mask(num_frames, tf.shape(model_input)[1])  # [B, T]
    outputs = model_input
    for i in range(self.num_layers):
      outputs = getattr(self, f"lstm_{i}")(outputs, mask=mask,
                                           training=training)
    # Masked steps carry the previous output forward, so the top layer's
    # output [B, lstm_cells] is the one at each video's last valid frame.
    return _classify_features(self.classifier, outputs, num_frames, training)
