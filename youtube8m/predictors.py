"""Predictors: a trained model's top-k classes for batches of records.

A model for prediction comes from one of three places:
  - a training directory (its latest checkpoint and model_flags.json);
  - an exported SavedModel (export_model.py, or train_dir/export/step_N);
  - a .tar.gz made by --output_model_tgz (checkpoint + model_flags.json).
`make_predictor` picks the one the settings name. Every predictor has
`flags` (the model configuration) and `batches(data_pattern, batch_size,
num_readers)`, which yields (video ids bytes [B], classes int32 [B, k],
scores float32 [B, k]) in the files' fixed order.
"""

from absl import logging
import tensorflow as tf

from youtube8m import builders
from youtube8m import export
from youtube8m import model_archive
from youtube8m import model_config
from youtube8m import readers
from youtube8m import utils

INPUT_FLAG = "--input_data_pattern"


class CheckpointPredictor:
  """Top-k from a model rebuilt from model_flags.json + latest checkpoint.

  `model` (a restored BaseModel) and `flags` are public, for callers that
  need the whole prediction (segment inference).
  """

  def __init__(self, model_dir, model_flags, explicit_flags, top_k=20):
    self.model, self.flags, _ = builders.load_trained_model(
        model_dir, model_flags, explicit_flags)
    self.top_k = top_k
    self.reader = builders.make_reader(self.flags)
    self._predict = tf.function(self._top_k)

  def _top_k(self, batch):
    predictions = self.model(batch, training=False)["predictions"]
    scores, classes = tf.math.top_k(predictions, k=self.top_k)
    return batch["video_ids"], classes, scores

  def batches(self, data_pattern, batch_size, num_readers=1):
    dataset = readers.make_dataset(self.reader, data_pattern, batch_size,
                                   num_readers=num_readers,
                                   flag_name=INPUT_FLAG)
    for batch in dataset:
      yield [t.numpy() for t in self._predict(batch)]


class SavedModelPredictor:
  """Top-k from an exported SavedModel's serving signature."""

  model = None  # only the serving signature is loaded

  def __init__(self, export_dir, top_k=20):
    self.serve, self._loaded = export.load_serving_fn(export_dir)
    self.flags = model_config.load(export_dir)
    exported_k = self.serve.structured_outputs["class_indexes"].shape[-1]
    if exported_k is not None and top_k > exported_k:
      raise utils.Yt8mError(f"--top_k={top_k} but {export_dir} was "
                            f"exported with top {exported_k}")
    self.top_k = top_k

  def batches(self, data_pattern, batch_size, num_readers=1):
    for records in readers.record_batches(data_pattern, batch_size,
                                          num_readers, INPUT_FLAG):
      out = self.serve(serialized=records)
      yield (out["video_id"].numpy(),
             out["class_indexes"].numpy()[:, :self.top_k],
             out["predictions"].numpy()[:, :self.top_k])


def make_predictor(config, checkpoint_only=False):
  """The predictor for whichever model source the settings name.

  Args:
    config: has train_dir, saved_model_dir, input_model_tgz,
      untar_model_dir, model_flags, explicit_flags and top_k (e.g. an
      inference_lib.InferenceConfig).
    checkpoint_only: refuse a SavedModel (callers that need the model
      itself, not its serving signature).
  """
  if config.input_model_tgz:
    model_dir = model_archive.safe_extract(config.input_model_tgz,
                                           config.untar_model_dir)
    logging.info("Extracted %s to %s", config.input_model_tgz, model_dir)
  elif config.saved_model_dir or export.is_saved_model(config.train_dir):
    if checkpoint_only:
      raise utils.Yt8mError(
          "this needs a checkpoint (--train_dir or --input_model_tgz): an "
          "exported SavedModel only serves whole-video top-k predictions")
    return SavedModelPredictor(config.saved_model_dir or config.train_dir,
                               config.top_k)
  else:
    model_dir = config.train_dir
  return CheckpointPredictor(model_dir, config.model_flags,
                             config.explicit_flags, config.top_k)
