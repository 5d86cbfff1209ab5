"""SavedModel export with a serving signature over serialized records.

The exported model holds every variable (batch-norm moving statistics
included; the original lost them) and two signatures:
  serving_default(serialized: string [B]) ->
      video_id string [B], class_indexes int32 [B, top_k],
      predictions float32 [B, top_k] (scores, best first)
  predict_features(video_matrix: float32 or uint8 [B, (T,) D],
                   num_frames: int32 [B]) -> predictions float32 [B, C]
Records are parsed by the same reader as training, so a SavedModel serves
Vertex AI batch prediction and inference.py without the Python package.

Precision: the export always computes in float32. A model trained under
--mixed_precision (float32 variables, float16/bfloat16 compute) is exported
from a float32 copy of it, as export_model.py rebuilds it from the
checkpoint. With --export_float16 the SavedModel stores its weights in
float16 (half the size on disk; the 2018 challenge limited models to 1 GB):
each call casts them to float32 and runs the model on those values
(`keras.Model.stateless_call`), so both signatures keep their float32
inputs and outputs.
"""

import os

from absl import logging
import keras
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.serving import export_config

SERVING_INPUT_NAME = "<serving request>"


class _Untracked:
  """Holds the float32 model of a float16 export out of the SavedModel."""

  def __init__(self, model):
    self.model = model


def float32_copy(model, flags):
  """`model` itself if it computes in float32, else a float32 copy of it.

  A model built under a mixed precision policy has float32 variables; the
  copy is rebuilt from `flags` and takes their values.
  """
  if model.dtype_policy.compute_dtype == "float32":
    return model
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy("float32")
  try:
    copy, _ = builders.build_model(flags)
  finally:
    keras.config.set_dtype_policy(previous)
  _copy_values(copy.variables, model.variables)
  return copy


def _copy_values(targets, sources):
  if [tuple(v.shape) for v in targets] != [tuple(v.shape) for v in sources]:
    raise ValueError("the rebuilt model's variables differ from the model's")
  for target, source in zip(targets, sources):
    target.assign(tf.cast(source, target.dtype))


class ServingModule(tf.Module):
  """Wraps a model with its reader and the serving signatures.

  float16: store the weights in float16 (see the module docstring).
  """

  def __init__(self, model, flags, top_k=20, float16=False):
    super().__init__()
    if float16:
      # Only these copies are saved; the model's own variables are replaced
      # by their float32 casts in every call.
      self._float16 = _Untracked(model)
      self.weights_float16 = [_variable_copy(v, tf.float16)
                              for v in model.trainable_variables]
      self.states_float16 = [_variable_copy(v, tf.float16)
                             for v in model.non_trainable_variables]
    else:
      self._float16 = None
      self.model = model
    self._top_k = min(int(top_k), int(flags["num_classes"]))
    self._reader = readers.get_reader(
        flags["frame_features"], flags["num_classes"], flags["feature_names"],
        flags["feature_sizes"], raw=True)
    self._reader.set_files([SERVING_INPUT_NAME])
    size = sum(self._reader.feature_sizes)
    shape = [None, None, size] if flags["frame_features"] else [None, size]
    self.serve = tf.function(self._serve, input_signature=[
        tf.TensorSpec([None], tf.string, name="serialized")])
    self.predict_features = tf.function(self._predict, input_signature=[
        tf.TensorSpec(shape, tf.float32, name="video_matrix"),
        tf.TensorSpec([None], tf.int32, name="num_frames")])

  def _predictions(self, inputs):
    """float32 [B, C] probabilities of a batch."""
    if self._float16 is None:
      outputs = self.model(inputs, training=False)
    else:
      def float32(variables):
        return [tf.cast(v, tf.float32) if v.dtype == tf.float16 else
                tf.convert_to_tensor(v) for v in variables]
      outputs, _ = self._float16.model.stateless_call(
          float32(self.weights_float16), float32(self.states_float16),
          inputs, training=False)
    return tf.cast(outputs["predictions"], tf.float32)

  def _serve(self, serialized):
    batch = self._reader.parse_batch(
        serialized, tf.zeros(tf.shape(serialized), tf.int32))
    predictions = self._predictions(
        {"video_matrix": batch["video_matrix"],
         "num_frames": batch["num_frames"]})
    scores, indexes = tf.math.top_k(predictions, k=self._top_k)
    return {"video_id": batch["video_ids"], "class_indexes": indexes,
            "predictions": scores}

  def _predict(self, video_matrix, num_frames):
    return {"predictions": self._predictions(
        {"video_matrix": video_matrix, "num_frames": num_frames})}


def _variable_copy(variable, float_dtype):
  """A tf.Variable holding `variable`'s value, floats cast to float_dtype."""
  value = tf.convert_to_tensor(variable)
  if value.dtype.is_floating:
    value = tf.cast(value, float_dtype)
  return tf.Variable(value, trainable=False)


def export_saved_model(model, flags, export_dir, top_k=20, float16=False):
  """Writes the SavedModel and its model_flags.json; whole or not at all.

  It is written to a sibling temporary directory and renamed into place
  (outputs.write_dir), so a reader never sees half an export. The export
  computes in float32 (`float32_copy`); `float16` stores its weights in
  float16.
  """
  module = ServingModule(float32_copy(model, flags), flags, top_k, float16)

  def write(tmp):
    tf.saved_model.save(module, tmp, signatures={
        "serving_default": module.serve.get_concrete_function(),
        "predict_features": module.predict_features.get_concrete_function()})
    model_config.save(tmp, flags)

  outputs.write_dir(export_dir, write)
  logging.info("SavedModel written to %s", export_dir)
  return export_dir


def is_saved_model(path):
  return bool(path) and tf.io.gfile.exists(os.path.join(path,
                                                        "saved_model.pb"))


def load_serving_fn(export_dir):
  """The `serving_default` function of an exported model."""
  if not is_saved_model(export_dir):
    raise utils.Yt8mError(f"{export_dir} is not a SavedModel "
                          "(no saved_model.pb)")
  loaded = tf.saved_model.load(export_dir)
  return loaded.signatures["serving_default"], loaded


# export_model.py's settings, in export_config.py (no TensorFlow there: the
# command checks them before TensorFlow loads).
ExportConfig = export_config.ExportConfig


def export_checkpoint(config):
  """Restores a checkpoint of train_dir and exports it; returns the path."""
  model, flags, path = checkpoints.load_trained_model(
      config.train_dir, config.model_flags, config.explicit_flags,
      config.checkpoint)
  output_dir = config.output_dir or os.path.join(
      config.train_dir, "export", f"step_{checkpoints.checkpoint_step(path)}")
  export_saved_model(model, flags, output_dir, config.top_k,
                     float16=config.export_float16)
  return output_dir
