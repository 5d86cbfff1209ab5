"""Predictors: a trained model's top-k classes for batches of records.

A model for prediction comes from one of three places:
  - a training directory (its latest checkpoint and model_flags.json);
  - an exported SavedModel (export_model.py, or train_dir/export/step_N);
  - a .tar.gz made by --output_model_tgz (checkpoint + model_flags.json).
`make_predictor` picks the one the settings name. Every predictor has
`flags` (the model configuration) and `batches(data_pattern, batch_size,
num_readers)`, which yields (video ids bytes [B], classes int32 [B, k],
scores float32 [B, k]) in the files' fixed order. Scores are finite: a
video whose predictions hold NaN or inf (a damaged checkpoint, or bad
features in its record) is an error naming it, before it is yielded.
"""

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import forward
from youtube8m.models import model_config
from youtube8m.serving import export
from youtube8m.serving import model_archive

INPUT_FLAG = "--input_data_pattern"


def check_top_k(top_k, num_classes):
  """--top_k must be 1..num_classes (None: unknown, only >= 1 checked)."""
  if (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or
      top_k < 1 or (num_classes is not None and top_k > num_classes)):
    limit = f"1..{num_classes} (the model's classes)" if num_classes else ">= 1"
    raise utils.Yt8mError(f"--top_k={top_k} is invalid: expected {limit}")


def _check_finite(ids, finite, model_source):
  """Raises for the first video [B] whose scores are not all finite [B]."""
  if not np.all(finite):
    video = ids[np.argmin(finite)].decode("utf-8", "backslashreplace")
    raise utils.Yt8mError(
        f"video {video!r}: the model's scores are NaN or infinite; the model "
        f"({model_source}) or this video's record in {INPUT_FLAG} is bad")


class CheckpointPredictor:
  """Top-k from a model rebuilt from model_flags.json + latest checkpoint.

  `model` (a restored BaseModel) and `flags` are public, for callers that
  need the whole prediction (segment inference).
  """

  def __init__(self, model_dir, model_flags, explicit_flags, top_k=20,
               imports=True, xla=False):
    self.model, self.flags, path = checkpoints.load_trained_model(
        model_dir, model_flags, explicit_flags, imports=imports)
    self.top_k = top_k
    self.source = f"checkpoint {path}"
    self.reader = builders.make_reader(self.flags)
    # The forward (compiled with XLA on request: --xla); the top-k outside
    # it, where equal scores keep the lower class first.
    self._forward = forward.predictions_fn(self.model, xla)
    self._predict = tf.function(self._top_k)

  def _top_k(self, batch):
    predictions = self._forward(batch)
    scores, classes = tf.math.top_k(predictions, k=self.top_k)
    # All [B, C] scores: top_k may rank a NaN anywhere, or drop it.
    finite = tf.reduce_all(tf.math.is_finite(predictions), axis=1)
    return batch["video_ids"], classes, scores, finite

  def batches(self, data_pattern, batch_size, num_readers=1,
              data_service=None):
    """data_service: grpc://host:port of a tf.data service dispatcher that
    reads and parses the records (in no fixed order)."""
    check_top_k(self.top_k, self.flags["num_classes"])
    dataset = readers.make_dataset(self.reader, data_pattern, batch_size,
                                   num_readers=num_readers,
                                   flag_name=INPUT_FLAG,
                                   data_service=data_service)
    for batch in dataset:
      ids, classes, scores, finite = [t.numpy() for t in self._predict(batch)]
      _check_finite(ids, finite, self.source)
      yield ids, classes, scores


class SavedModelPredictor:
  """Top-k from an exported SavedModel's serving signature."""

  model = None  # only the serving signature is loaded

  def __init__(self, export_dir, top_k=20):
    self.serve, self._loaded = export.load_serving_fn(export_dir)
    self.flags = model_config.load(export_dir)
    exported_k = self.serve.structured_outputs["class_indexes"].shape[-1]
    check_top_k(top_k, (self.flags or {}).get("num_classes"))
    if exported_k is not None and top_k > exported_k:
      raise utils.Yt8mError(f"--top_k={top_k} but {export_dir} was "
                            f"exported with top {exported_k}")
    self.top_k = top_k
    self.source = f"SavedModel {export_dir}"

  @property
  def signatures(self):
    """The SavedModel's signatures (`predict_features` takes features)."""
    return self._loaded.signatures

  def batches(self, data_pattern, batch_size, num_readers=1):
    for records in readers.record_batches(data_pattern, batch_size,
                                          num_readers, INPUT_FLAG):
      out = self.serve(serialized=records)
      ids, scores = out["video_id"].numpy(), out["predictions"].numpy()
      # Only the exported top k are visible; a NaN usually is among them.
      _check_finite(ids, np.isfinite(scores).all(axis=1), self.source)
      yield (ids, out["class_indexes"].numpy()[:, :self.top_k],
             scores[:, :self.top_k])


def make_predictor(config, checkpoint_only=False):
  """The predictor for whichever model source the settings name.

  Args:
    config: has train_dir, saved_model_dir, input_model_tgz,
      untar_model_dir, model_flags, explicit_flags and top_k, and may
      have xla (e.g. an inference_lib.InferenceConfig).
    checkpoint_only: refuse a SavedModel (callers that need the model
      itself, not its serving signature, nor config.top_k).

  Raises:
    Yt8mError: e.g. --top_k is not 1..num_classes; before any output.
  """
  imports = not config.input_model_tgz  # an archive's code: never
  if config.input_model_tgz:
    model_dir = model_archive.extract_for_prediction(config)
  elif config.saved_model_dir or export.is_saved_model(config.train_dir):
    if checkpoint_only:
      raise utils.Yt8mError(
          "this needs a checkpoint (--train_dir or --input_model_tgz): an "
          "exported SavedModel only serves whole-video top-k predictions")
    return SavedModelPredictor(config.saved_model_dir or config.train_dir,
                               config.top_k)
  else:
    model_dir = config.train_dir
  predictor = CheckpointPredictor(model_dir, config.model_flags,
                                  config.explicit_flags, config.top_k,
                                  imports=imports,
                                  xla=getattr(config, "xla", False))
  if not checkpoint_only:
    check_top_k(config.top_k, predictor.flags["num_classes"])
  return predictor
