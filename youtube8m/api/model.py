"""`load` a trained model and predict with it from Python (`Model`).

A model comes from a train_dir (latest checkpoint), an exported SavedModel
or a model .tar.gz, loaded by `predictors.make_predictor`, the function
inference.py loads with: the same checks, the same archive safety (nothing
in an archive is executed). `predict_records` runs inference.py's own
batches; `predict` and `scores` take numpy arrays, tensors, lists of
per-video frame arrays or a tf.data.Dataset (see `inputs.py`).
"""

import dataclasses
import os
import tempfile

import numpy as np
import tensorflow as tf

from youtube8m.api import arguments
from youtube8m.api import inputs
from youtube8m.api import predictions as predictions_lib
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.evaluation import eval_report
from youtube8m.models import builders
from youtube8m.models import checkpoint_files
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib
from youtube8m.serving import export
from youtube8m.serving import model_archive
from youtube8m.serving import predictors

# Flags of the libraries' messages -> the API's argument names.
_ARGUMENTS = {"train_dir": "path", "saved_model_dir": "path",
              "input_model_tgz": "path", "untar_model_dir": "path",
              "untar_max_bytes": "untar_max_bytes", "top_k": "top_k",
              "input_data_pattern": "data_pattern"}


def _kind(path):
  """"train_dir", "saved_model" or "archive": what `path` holds."""
  if not isinstance(path, (str, os.PathLike)):
    raise utils.Yt8mError(f"api.load(path={path!r}): expected a path")
  path = os.fspath(path)
  if not tf.io.gfile.exists(path):
    raise utils.Yt8mError(f"api.load(path={path!r}): not found")
  if not tf.io.gfile.isdir(path):
    return "archive"
  if export.is_saved_model(path):
    return "saved_model"
  if (tf.io.gfile.exists(model_config.path_in(path)) or
      checkpoint_files.find_latest(path)):
    return "train_dir"
  raise utils.Yt8mError(
      f"api.load(path={path!r}): not a model: expected a train_dir "
      f"({model_config.FILENAME} and checkpoints), an exported SavedModel "
      "directory (saved_model.pb) or a model .tar.gz")


def load(path, top_k=20, vocabulary_file="",
         untar_max_bytes=model_archive.DEFAULT_MAX_BYTES, **model_flags):
  """Loads a model for prediction.

  Args:
    path: a train_dir (its latest checkpoint), an exported SavedModel
      directory, or a model .tar.gz (`inference.py --output_model_tgz`);
      local or gs://. An archive is extracted into a private temporary
      directory, removed once the weights are loaded.
    top_k: classes kept per video, 1..num_classes (a SavedModel: at most
      the top_k it was exported with).
    vocabulary_file: CSV of class names (default: the shipped 2018
      vocabulary.csv; label_names_2017.csv for a 4716-class model).
    untar_max_bytes: most bytes an archive's files may hold extracted.
    **model_flags: model flags, only for a train_dir without
      model_flags.json, or to import your own model's module for a
      train_dir whose model_flags.json names it (model="my_pkg.MyModel",
      as inference.py's --model); they must agree with model_flags.json.
      An archive never has code imported.

  Returns:
    A Model.

  Raises:
    Yt8mError: one line naming the argument at fault (path, top_k, ...).
  """
  flags, explicit = arguments.model_flags(model_flags, "api.load")
  kind = _kind(path)
  path = os.fspath(path)
  config = inference_lib.InferenceConfig(
      train_dir=path if kind == "train_dir" else "",
      saved_model_dir=path if kind == "saved_model" else "",
      input_model_tgz=path if kind == "archive" else "", top_k=top_k,
      untar_max_bytes=untar_max_bytes, model_flags=flags,
      explicit_flags=explicit)
  with arguments.errors_named(_ARGUMENTS):
    settings.validate(config)
    if kind != "archive":
      return Model(predictors.make_predictor(config), path, kind, top_k,
                   vocabulary_file)
    with tempfile.TemporaryDirectory(prefix="yt8m-api-") as tmp:
      predictor = predictors.make_predictor(dataclasses.replace(
          config, untar_model_dir=os.path.join(tmp, "model")))
    return Model(predictor, path, kind, top_k, vocabulary_file)


class _KerasScores:
  """(video_matrix, num_frames) -> float32 [B, C] scores of a Keras model.

  A callable object, not a function: tf.function counts retracing per
  Python function (its code), so one shared function would warn of
  retracing once a few models had each traced it.
  """

  def __init__(self, model):
    self.model = model

  def __call__(self, video_matrix, num_frames):
    return self.model({"video_matrix": video_matrix,
                       "num_frames": num_frames}, training=False)[
                           "predictions"]


def _scores_function(predictor):
  """(video_matrix, num_frames) -> float32 [B, C] scores, or None: a Keras
  model's own tf.function, or a SavedModel's predict_features signature."""
  if predictor.model is not None:
    return tf.function(_KerasScores(predictor.model), reduce_retracing=True)
  if "predict_features" not in predictor.signatures:
    return None
  signature = predictor.signatures["predict_features"]
  return lambda video_matrix, num_frames: signature(
      video_matrix=video_matrix, num_frames=num_frames)["predictions"]


class Model:
  """A trained model, ready to predict (made by `load`).

  Attributes:
    path, kind: where it came from; kind is "train_dir", "saved_model" or
      "archive".
    source: what was loaded ("checkpoint .../ckpt-313", "SavedModel ...").
    flags: its model_flags.json ({flag: value}).
    name, num_classes, frame_level, top_k: the model class, its classes C,
      whether it reads frames [B, T, D], classes kept per video.
    feature_size: D, the width of its concatenated features.
    keras_model: the restored models.BaseModel (None for a SavedModel).
  """

  def __init__(self, predictor, path, kind, top_k, vocabulary_file=""):
    self.path, self.kind, self.top_k = path, kind, top_k
    # An archive's extraction is gone once loaded: name the archive.
    self.source = f"archive {path}" if kind == "archive" else (
        predictor.source)
    if predictor.flags is None:
      raise utils.Yt8mError(
          f"path={path}: the SavedModel has no {model_config.FILENAME}; "
          "export it with this version's export_model.py")
    self.flags = predictor.flags
    self.name = self.flags["model"]
    self.num_classes = int(self.flags["num_classes"])
    self.frame_level = bool(self.flags["frame_features"])
    self.feature_size = builders.feature_size(self.flags)
    self.keras_model = predictor.model
    self._predictor = predictor
    self._vocabulary_file = vocabulary_file
    self._inputs = inputs.Inputs(self.flags,
                                 uint8=predictor.model is not None)
    self._call = _scores_function(predictor)

  def __repr__(self):
    level = "frame level" if self.frame_level else "video level"
    return (f"Model({self.name}, {level}, {self.feature_size} features, "
            f"{self.num_classes} classes, top_k={self.top_k}, "
            f"{self.source})")

  @property
  def vocabulary(self):
    """{class id: name} of `Predictions.names`."""
    return eval_report.label_names(self._vocabulary_file, self.num_classes)

  def predict_records(self, data_pattern, batch_size=512, num_readers=1):
    """Top-k predictions of every video of TFRecord files, in file order.

    The same batches as inference.py (its predictor, reader and order), so
    `.to_csv(path)` writes inference.py's CSV.

    Args:
      data_pattern: glob of TFRecords (comma-separated globs; gs:// too).
      batch_size, num_readers: as inference.py's flags.

    Returns:
      Predictions: ids [B], class_ids int32 [B, top_k], scores float32
      [B, top_k].
    """
    arguments.check_positive_int("batch_size", batch_size)
    arguments.check_positive_int("num_readers", num_readers)
    ids, classes, scores = [], [], []
    with arguments.errors_named(_ARGUMENTS):
      for batch in self._predictor.batches(data_pattern, batch_size,
                                           num_readers):
        ids.append(inputs.decode_ids(batch[0], data_pattern))
        classes.append(batch[1])
        scores.append(batch[2])
    return self._predictions(ids, classes, scores)

  def predict(self, features, num_frames=None, ids=None, batch_size=512):
    """Top-k predictions of videos given as arrays or a tf.data.Dataset.

    Args:
      features: video level: float [B, D]. Frame level: [B, T, D] float
        features or uint8 quantized bytes (as in the records; the model
        dequantizes them), frames t >= num_frames[b] ignored; or a list of
        B per-video [T_b, D] arrays. Or a tf.data.Dataset of serialized
        records (batched or not), or of reader-style batch dicts
        (video_matrix, num_frames, optional video_ids). D is the model's
        feature_size (e.g. rgb 1024 + audio 128, in --feature_names order).
        Frames beyond the 300th are dropped, as the readers drop them.
      num_frames: int [B] real frames per video; required for [B, T, D].
      ids: B video ids (default "0", "1", ...; a dataset's own ids).
      batch_size: videos per model call.

    Returns:
      Predictions: ids [B], class_ids int32 [B, top_k], scores float32
      [B, top_k].

    Raises:
      Yt8mError: one line naming the argument at fault (features,
        num_frames, ids, ...), or the video whose scores are not finite.
    """
    all_ids, classes, scores = [], [], []
    for batch_ids, batch_scores in self._batches(features, num_frames, ids,
                                                 batch_size):
      top_scores, top_classes = tf.math.top_k(batch_scores, k=self.top_k)
      all_ids.append(batch_ids)
      classes.append(top_classes.numpy())
      scores.append(top_scores.numpy())
    return self._predictions(all_ids, classes, scores)

  def scores(self, features, num_frames=None, batch_size=512):
    """Every class's score: float32 [B, num_classes], rows in input order.

    Takes what `predict` takes; for `evaluate` on whole score matrices.
    """
    parts = [s for _, s in self._batches(features, num_frames, None,
                                         batch_size)]
    return (np.concatenate(parts) if parts else
            np.zeros([0, self.num_classes], np.float32))

  def _batches(self, features, num_frames, ids, batch_size):
    """(ids [b], scores float32 [b, C]) per batch of `features`."""
    arguments.check_positive_int("batch_size", batch_size)
    if self._call is None:
      raise utils.Yt8mError(
          f"path={self.path}: this SavedModel has no predict_features "
          "signature; predict_records works with it")
    with arguments.errors_named(_ARGUMENTS):
      for batch_ids, matrix, frames in self._inputs.batches(
          features, num_frames, ids, batch_size):
        scores = np.asarray(self._call(tf.convert_to_tensor(matrix),
                                       tf.convert_to_tensor(frames)))
        inputs.check_finite(batch_ids, scores, self.source)
        yield batch_ids, scores

  def _predictions(self, ids, classes, scores):
    k = self.top_k
    return predictions_lib.Predictions(
        ids=np.concatenate(ids) if ids else np.zeros([0], str),
        class_ids=(np.concatenate(classes).astype(np.int32) if classes
                   else np.zeros([0, k], np.int32)),
        scores=(np.concatenate(scores).astype(np.float32) if scores
                else np.zeros([0, k], np.float32)),
        num_classes=self.num_classes, vocabulary=self.vocabulary)
