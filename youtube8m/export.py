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
"""

import dataclasses
import os

from absl import logging
import tensorflow as tf

from youtube8m import builders
from youtube8m import model_config
from youtube8m import outputs
from youtube8m import readers
from youtube8m import settings
from youtube8m import utils

SERVING_INPUT_NAME = "<serving request>"


class ServingModule(tf.Module):
  """Wraps a model with its reader and the serving signatures."""

  def __init__(self, model, flags, top_k=20):
    super().__init__()
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

  def _serve(self, serialized):
    batch = self._reader.parse_batch(
        serialized, tf.zeros(tf.shape(serialized), tf.int32))
    predictions = self.model(batch, training=False)["predictions"]
    scores, indexes = tf.math.top_k(predictions, k=self._top_k)
    return {"video_id": batch["video_ids"], "class_indexes": indexes,
            "predictions": scores}

  def _predict(self, video_matrix, num_frames):
    return {"predictions": self.model(
        {"video_matrix": video_matrix, "num_frames": num_frames},
        training=False)["predictions"]}


def export_saved_model(model, flags, export_dir, top_k=20):
  """Writes the SavedModel and its model_flags.json; whole or not at all.

  It is written to a sibling temporary directory and renamed into place
  (outputs.write_dir), so a reader never sees half an export.
  """
  module = ServingModule(model, flags, top_k)

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


@dataclasses.dataclass
class ExportConfig:
  """Every export_model.py setting."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "Training directory holding checkpoints.")
  checkpoint: str = settings.setting(
      "", "Checkpoint prefix to export (default: the latest).")
  output_dir: str = settings.setting(
      "", "Where to write the SavedModel (default: "
      "train_dir/export/step_<global step>).")
  top_k: int = settings.setting(20, "Classes the serving signature returns.")
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()


def export_checkpoint(config):
  """Restores a checkpoint of train_dir and exports it; returns the path."""
  model, flags, path = builders.load_trained_model(
      config.train_dir, config.model_flags, config.explicit_flags,
      config.checkpoint)
  output_dir = config.output_dir or os.path.join(
      config.train_dir, "export", f"step_{builders.checkpoint_step(path)}")
  export_saved_model(model, flags, output_dir, config.top_k)
  logging.info("Exported %s to %s", path, output_dir)
  return output_dir
