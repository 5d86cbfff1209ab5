"""The ground truth of YouTube-8M records: {video id: class ids}.

Reads only each record's id and `labels`, whatever its features, so the
labels of video-level (tf.train.Example) and frame-level
(tf.train.SequenceExample) records come out of the same parse: a
SequenceExample's `context` is field 1 of its message, as an Example's
`features` is, and the parser skips the frame lists it is not asked for.
The id is `id`, or `video_id` in the 2017 records, as the readers take it.
"""

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import tfrecords

_SPEC = {"id": tf.io.RaggedFeature(tf.string),
         "video_id": tf.io.RaggedFeature(tf.string),
         "labels": tf.io.RaggedFeature(tf.int64)}


def _parse(serialized):
  """string [B] -> (ids [B] (b"" when missing), labels ragged int64 [B, (n)])."""
  parsed = tf.io.parse_example(serialized, _SPEC)
  ids = tf.where(parsed["id"].row_lengths() > 0,
                 parsed["id"].to_tensor("", shape=[None, 1])[:, 0],
                 parsed["video_id"].to_tensor("", shape=[None, 1])[:, 0])
  return ids, parsed["labels"]


def read(data_pattern, num_classes, flag_name="data pattern"):
  """{video id (str): sorted unique class ids (list of int)} in file order.

  Args:
    data_pattern: glob of TFRecord files (comma-separated globs allowed).
    num_classes: class ids must be in [0, num_classes).
    flag_name: how errors name `data_pattern`.

  Raises:
    Yt8mError: no file matches, a record has no id, an id repeats, an id is
      not UTF-8, or a label is outside [0, num_classes); naming the file
      and the video.
  """
  files = tfrecords.list_files(data_pattern, flag_name)
  labels = {}
  for path in files:
    try:
      batches = [(ids.numpy(), classes.numpy()) for ids, classes in
                 tf.data.TFRecordDataset(path).batch(1024).map(_parse)]
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
      reason = str(getattr(e, "message", e)).strip().splitlines()
      raise utils.Yt8mError(f"file {path}: not a readable YouTube-8M "
                            f"TFRecord file ({reason[0] if reason else e})"
                           ) from e
    for ids, classes in batches:
      for raw, row in zip(ids, classes):
        video = _video_id(raw, path)
        row = np.asarray(row, np.int64)
        bad = row[(row < 0) | (row >= num_classes)]
        if bad.size:
          raise utils.Yt8mError(
              f"file {path}: video '{video}': label id {bad[0]} is outside "
              f"[0, {num_classes}) (num_classes={num_classes}; the 2017 "
              "data has 4716 classes)")
        if video in labels:
          raise utils.Yt8mError(f"file {path}: video '{video}' appears "
                                f"twice in {flag_name}={data_pattern}")
        labels[video] = sorted({int(c) for c in row})
  return labels


def _video_id(raw, path):
  if not raw:
    raise utils.Yt8mError(f"file {path}: a record has neither an 'id' nor "
                          "a 'video_id' key")
  try:
    return raw.decode("utf-8")
  except UnicodeDecodeError as e:
    raise utils.Yt8mError(f"file {path}: video id {raw!r} is not "
                          "UTF-8") from e
