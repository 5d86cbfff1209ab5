"""Segment re-ranking with whole-video scores (`inference.py --segment_labels`).

A segment's class is more likely where the whole video shows that class.
With `--video_prior_weight=a` each segment's score for class c becomes

    score = v ** a * s ** (1 - a)

where s is the segment's score and v the whole video's score for c (the
frame-level model on all of the video's frames, or the model of
`--video_prior_train_dir`, e.g. the video-level model before fine-tuning
on segments). a = 0 is the segment score alone (the file is then exactly
the one written without re-ranking); a = 1 ranks whole videos.

With `--fill_from_video_ranking`, each class's list is filled from the
video ranking: the videos are taken in order of v for that class (equal
scores in reading order), whole, until they hold --segment_max_pred
segments, and only their segments are ranked (by the score above). When
the list is cut at --segment_max_pred (the 2019 task: 100,000 of about
1.7M test segments per class), its places go to the videos most likely to
show the class rather than to strong-looking segments of unlikely videos.
When every segment fits, the list is the same as without it.

Memory: the whole-video scores, 4 bytes x videos x whitelisted classes.
"""

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import segment_readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.prediction import inference_config


def applies(config):
  """Whether the settings ask for any re-ranking."""
  return config.video_prior_weight > 0 or config.fill_from_video_ranking


class VideoPrior:
  """Whole-video scores of the input's videos, for blending and filling.

  Attributes:
    scores: float32 [V, W] each video's scores of the whitelisted classes.
    segments: int64 [V] segments each video is cut into.
    index: {video id: row}.
  """

  def __init__(self, model, flags, config, whitelist):
    if whitelist.max() >= flags["num_classes"]:
      raise utils.Yt8mError(
          f"--video_prior_train_dir={config.video_prior_train_dir}: its "
          f"model has {flags['num_classes']} classes, fewer than the "
          "whitelisted class ids need")
    reader = builders.make_reader(flags)
    dataset = readers.make_dataset(reader, config.input_data_pattern,
                                   config.batch_size or
                                   inference_config.DEFAULT_BATCH_SIZE,
                                   num_readers=config.num_readers,
                                   flag_name="--input_data_pattern")

    @tf.function
    def predict(batch):
      predictions = model(batch, training=False)["predictions"]
      return (batch["video_ids"], batch["num_frames"],
              tf.gather(predictions, whitelist, axis=1))

    ids, frames, scores = [], [], []
    for batch in dataset:
      batch_ids, batch_frames, batch_scores = predict(batch)
      ids.extend(v.decode("utf-8") for v in batch_ids.numpy())
      frames.append(batch_frames.numpy())
      scores.append(batch_scores.numpy())
    self.index = {video: row for row, video in enumerate(ids)}
    self.scores = np.concatenate(scores).astype(np.float32)
    size = segment_readers.SEGMENT_SIZE
    self.segments = (np.concatenate(frames).astype(np.int64) + size - 1) // size
    self.weight = float(config.video_prior_weight)
    self.candidates = (fill_candidates(self.scores, self.segments,
                                       config.segment_max_pred)
                       if config.fill_from_video_ranking else None)

  def rows(self, segment_ids):
    """Rows [N] of the videos of segment ids "<video>:<start>"."""
    try:
      return np.array([self.index[s.rpartition(":")[0]] for s in segment_ids],
                      np.int64)
    except KeyError as e:
      raise utils.Yt8mError(f"segment of video {e.args[0]!r} has no whole-"
                            "video score: the input changed while it was "
                            "read") from None

  def rerank(self, segment_ids, scores):
    """Segment scores float [N, W] -> the scores the lists are ranked by."""
    rows = self.rows(segment_ids)
    if self.weight > 0:
      scores = blend(self.scores[rows], scores, self.weight)
    if self.candidates is not None:
      scores = np.where(self.candidates[rows], scores, -np.inf)
    return scores


def blend(video, segment, weight):
  """video ** weight * segment ** (1 - weight), float32 [N, W]."""
  video = np.asarray(video, np.float64)
  segment = np.asarray(segment, np.float64)
  return (np.power(video, weight) *
          np.power(segment, 1.0 - weight)).astype(np.float32)


def fill_candidates(scores, segments, cap):
  """bool [V, W]: per class, the videos that fill its list.

  Videos in order of their score for the class (equal scores: reading
  order), whole, until they hold `cap` segments (all videos if they hold
  fewer). The last video taken may overflow the cap; the ranking of its
  segments decides which of them stay.
  """
  order = np.argsort(-scores, axis=0, kind="stable")  # [V, W]
  counts = segments[order]  # [V, W] segments, in each class's video order
  before = np.cumsum(counts, axis=0) - counts  # segments of better videos
  taken = before < cap
  candidates = np.zeros(scores.shape, bool)
  np.put_along_axis(candidates, order, taken, axis=0)
  return candidates


def prior_model(config, model, flags):
  """(model, flags) giving whole-video scores: --video_prior_train_dir's,
  or the segment model itself."""
  if not config.video_prior_train_dir:
    return model, flags
  prior, prior_flags, _ = checkpoints.load_trained_model(
      config.video_prior_train_dir, model_config.all_defaults(), frozenset())
  if not prior_flags["frame_features"]:
    raise utils.Yt8mError(
        f"--video_prior_train_dir={config.video_prior_train_dir}: "
        f"{prior_flags['model']} reads video-level features; the segment "
        "records need a frame-level model")
  return prior, prior_flags
