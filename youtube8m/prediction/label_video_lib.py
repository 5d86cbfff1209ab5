"""Labelling video files with a trained model: features, classes, timeline.

Each video goes through the extraction pipeline of extract_features
(extraction_pipeline.video_features) and becomes, in memory, the record
extract_features would write for it (Extractor.record): a frame-level
SequenceExample for a frame-level model, the video-level Example (mean_rgb,
mean_audio) for a video-level one. The model's own reader parses it, as in
training, and the model scores the whole video; a frame-level model also
scores every 5-second segment (segment_readers' cut: seconds 0, 5, 10, ...,
the last partial one included).

The model comes from a train_dir (latest checkpoint and model_flags.json),
a model .tar.gz (--input_model_tgz) or an exported SavedModel (its
`predict_features` signature, so every class is scored).
"""

import collections
import os
import re

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import segment_readers
from youtube8m.models import builders
from youtube8m.models import model_config
from youtube8m.prediction import inference_config
from youtube8m.serving import export
from youtube8m.serving import predictors

# The features of extracted videos and their sizes, by model level.
FRAME_FEATURES = {"rgb": 1024, "audio": 128}
VIDEO_FEATURES = {"mean_rgb": 1024, "mean_audio": 128}
SEGMENT_SECONDS = segment_readers.SEGMENT_SIZE  # at one frame a second
READER_FRAMES = inference_config.READER_FRAMES  # the readers' max_frames
FEATURE_SIGNATURE = "predict_features"
VIDEO_FIELD = "{video}"  # in --timeline_png


# In inference_config.py (no TensorFlow there: the command checks it before
# TensorFlow loads).
LabelConfig = inference_config.LabelConfig


# One video's result: scores float32 [C] of every class; segment_starts
# int [N] and segment_scores float32 [N, C] (None for a video-level model);
# record: the serialized record the model read.
Labels = collections.namedtuple(
    "Labels", "path frames audio scores segment_starts segment_scores record")


class VideoModel:
  """A trained model that scores records held in memory.

  Attributes:
    flags: the model configuration (model_flags.json).
    source: what it was loaded from, for messages.
    frame_level: whether it reads frame-level records.
  """

  def __init__(self, config):
    if not (config.train_dir or config.saved_model_dir or
            config.input_model_tgz):
      raise utils.Yt8mError("give the model: --train_dir, --saved_model_dir "
                            "or --input_model_tgz")
    self._serve = None
    if config.saved_model_dir or (not config.input_model_tgz and
                                  export.is_saved_model(config.train_dir)):
      self._load_saved_model(config.saved_model_dir or config.train_dir)
    else:
      if (config.train_dir and not config.input_model_tgz and
          model_config.load(config.train_dir) is None):
        raise utils.Yt8mError(
            f"--train_dir={config.train_dir}: no {model_config.FILENAME} "
            "(not a training directory of train.py, nor a SavedModel)")
      predictor = predictors.make_predictor(config, checkpoint_only=True)
      self.flags, self._model = predictor.flags, predictor.model
      self.source = predictor.source
    self.frame_level = bool(self.flags["frame_features"])
    self.names, self.sizes = utils.parse_feature_flags(
        self.flags["feature_names"], self.flags["feature_sizes"])
    self.num_classes = int(self.flags["num_classes"])
    raw = self._serve is None  # predict_features takes float32
    self._reader = builders.make_reader(self.flags, raw=raw)
    self._segments = (builders.make_reader(self.flags, segment_labels=True,
                                           all_segments=True, raw=raw)
                      if self.frame_level else None)

  def _load_saved_model(self, export_dir):
    _, loaded = export.load_serving_fn(export_dir)
    self.flags = model_config.load(export_dir)
    if self.flags is None:
      raise utils.Yt8mError(f"{export_dir}: no {model_config.FILENAME} "
                            "beside the SavedModel")
    if FEATURE_SIGNATURE not in loaded.signatures:
      raise utils.Yt8mError(f"{export_dir}: the SavedModel has no "
                            f"'{FEATURE_SIGNATURE}' signature; export it "
                            "again with export_model.py")
    self._loaded = loaded  # keeps the variables alive
    self._serve = loaded.signatures[FEATURE_SIGNATURE]
    self.source = f"SavedModel {export_dir}"

  def check_features(self):
    """Raises a one-line Yt8mError if the model reads other features."""
    offered = FRAME_FEATURES if self.frame_level else VIDEO_FEATURES
    level = "frame" if self.frame_level else "video"
    for name, size in zip(self.names, self.sizes):
      if offered.get(name) != size:
        have = ", ".join(f"{n} ({s})" for n, s in offered.items())
        raise utils.Yt8mError(
            f"the model ({self.source}) reads {name} of {size} values, which "
            f"videos do not give: the extracted {level}-level features are "
            f"{have}")

  @property
  def reads_audio(self):
    return any("audio" in name for name in self.names)

  def _predict(self, batch):
    inputs = {"video_matrix": batch["video_matrix"],
              "num_frames": batch["num_frames"]}
    if self._serve is not None:
      out = self._serve(video_matrix=tf.cast(inputs["video_matrix"],
                                             tf.float32),
                        num_frames=inputs["num_frames"])
    else:
      out = self._model(inputs, training=False)
    scores = np.asarray(out["predictions"], np.float32)
    if not np.all(np.isfinite(scores)):
      raise utils.Yt8mError(f"the model's scores are NaN or infinite: the "
                            f"model ({self.source}) is bad")
    return scores

  def _parse(self, reader, record, name):
    reader.set_files([name])
    return reader.parse_batch(tf.constant([record]),
                              tf.zeros([1], tf.int32))

  def scores(self, record, name):
    """float32 [C]: the whole video's scores."""
    return self._predict(self._parse(self._reader, record, name))[0]

  def segment_scores(self, record, name):
    """(start seconds int [N], float32 [N, C]) of the 5-second segments."""
    batch = self._parse(self._segments, record, name)
    starts = [int(v.decode("utf-8").rsplit(":", 1)[1])
              for v in batch["video_ids"].numpy()]
    return np.asarray(starts, np.int64), self._predict(batch)


def label(model, extractor, features, zero_audio=True):
  """Labels of one extraction_pipeline.VideoFeatures (not an error)."""
  record = extractor.record(features, zero_audio=zero_audio,
                            frame_level=model.frame_level)
  scores = model.scores(record, features.path)
  starts = segments = None
  if model.frame_level:
    starts, segments = model.segment_scores(record, features.path)
  return Labels(features.path, len(features.rgb),
                features.audio is not None, scores, starts, segments, record)


def top_classes(scores, k):
  """int [k] class ids, best first (ties: the lower id)."""
  order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
  return order[:k]


def timeline_paths(pattern, videos):
  """One PNG path a video (see --timeline_png), made unique."""
  stems = [re.sub(r"[^\w.-]", "_", os.path.splitext(os.path.basename(
      video.rstrip("/")))[0]) or "video" for video in videos]
  if VIDEO_FIELD in pattern:
    paths = [pattern.replace(VIDEO_FIELD, stem) for stem in stems]
  elif len(videos) == 1:
    paths = [pattern]
  else:
    root, ext = os.path.splitext(pattern)
    paths = [f"{root}-{stem}{ext or '.png'}" for stem in stems]
  seen, unique = set(), []
  for path in paths:
    root, ext = os.path.splitext(path)
    candidate, n = path, 1
    while candidate in seen:
      n += 1
      candidate = f"{root}-{n}{ext}"
    seen.add(candidate)
    unique.append(candidate)
  return unique
