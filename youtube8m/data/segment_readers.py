"""Segment-level (2019) reading: frame-level records cut into 5-frame segments.

The 2019 validate and test records are frame-level SequenceExamples whose
context adds three parallel lists, one entry per human rating:
  segment_labels       int64  class rated
  segment_start_times  int64  first frame (= second) of the segment, a
                              multiple of 5
  segment_scores       float  1.0 (the class is present) or 0.0 (absent)

`YT8MSegmentReader` turns a batch of such videos into a batch of segments:
  video_ids      string  [N]  "<video_id>:<start_second>", e.g. "Ab3x:35"
  video_matrix   uint8 (raw=True) or float32 [N, 5, D]; frames past the end
                 of the video are zero bytes (raw) or exact zeros (float)
  num_frames     int32   [N]  5, or fewer for a video's partial last segment
  labels         float32 [N, C] the rating at each rated class, else 0
  label_weights  float32 [N, C] 1 at the rated classes, 0 elsewhere
Ratings are grouped by (video, start): a segment rated for several classes
is one example. Segments come in video order, start times ascending.

A rated segment must start inside the video (start < num_frames); one that
runs past the end (start + 5 > num_frames) is kept, zero padded, with
num_frames = its real length: the same segment inference cuts (see
`all_segments`), so rated and predicted ids always match. Malformed ratings
fail with a one-line error naming the file and the video.

With `all_segments=True` (inference) every video is cut at seconds 0, 5,
10, ..., the last partial segment included, ratings are ignored and the
batch has no `labels`/`label_weights`.
"""

import tensorflow as tf

from youtube8m.data import raw_frames
from youtube8m.data import readers
from youtube8m.data import tfrecords

SEGMENT_SIZE = 5  # frames (seconds) per segment
PRESENT, ABSENT = 1.0, 0.0  # the two values of a segment rating
_RATING_KEYS = ("segment_labels", "segment_start_times", "segment_scores")
# The frame reader's error helpers, shared so messages look alike.


def segment_id(video_id, start):
  """The id of a segment in submissions and batches: "<video_id>:<start>"."""
  return f"{video_id}:{int(start)}"


class YT8MSegmentReader(readers.YT8MFrameFeatureReader):
  """One example per rated segment (or per 5-second slot, `all_segments`)."""

  def __init__(self, num_classes=3862, feature_names="rgb",
               feature_sizes="1024", max_frames=300, raw=False,
               all_segments=False):
    super().__init__(num_classes, feature_names, feature_sizes, max_frames,
                     raw)
    self.all_segments = all_segments

  def _context_spec(self):
    spec = super()._context_spec()
    spec["segment_labels"] = tf.io.RaggedFeature(tf.int64)
    spec["segment_start_times"] = tf.io.RaggedFeature(tf.int64)
    spec["segment_scores"] = tf.io.RaggedFeature(tf.float32)
    return spec

  def _ratings(self, context, ids, num_frames, file_index):
    """Checked ratings, flat in video order.

    Returns:
      (checks, video [R] int64 row of each rating, start [R] int64,
       label [R] int64, score [R] float32).
    """
    labels, starts, scores = [context[k] for k in _RATING_KEYS]
    counts = [labels.row_lengths(), starts.row_lengths(), scores.row_lengths()]
    uneven = tf.logical_or(tf.not_equal(counts[0], counts[1]),
                           tf.not_equal(counts[0], counts[2]))
    checks = [readers.check(
        tf.logical_not(tf.reduce_any(uneven)),
        lambda: tf.strings.join([
            self._where(readers.first_bad(uneven, file_index),
                        readers.first_bad(uneven, ids)),
            ": segment_labels, segment_start_times and segment_scores have ",
            tf.strings.reduce_join(tf.strings.as_string(
                [readers.first_bad(uneven, c) for c in counts]),
                                   separator=", "),
            " values; they must be parallel lists"]))]
    with tf.control_dependencies(checks):
      video = tf.cast(labels.value_rowids(), tf.int64)
    label, start, score = labels.values, starts.values, scores.values
    frames = tf.cast(tf.gather(num_frames, video), tf.int64)
    problems = [
        (tf.logical_or(label < 0, label >= self.num_classes),
         lambda b: [": segment label id ", _str(b, label),
                    f" is outside [0, {self.num_classes}) (--num_classes="
                    f"{self.num_classes})"]),
        (tf.logical_or(start < 0, start % SEGMENT_SIZE != 0),
         lambda b: [": segment start time ", _str(b, start),
                    f" is not a multiple of {SEGMENT_SIZE} seconds >= 0"]),
        (start >= frames,
         lambda b: [": segment start time ", _str(b, start),
                    " is beyond the video's ", _str(b, frames),
                    f" frames (only the first {self.max_frames} are read; "
                    "a segment needs start < num_frames)"]),
        (tf.logical_and(tf.not_equal(score, ABSENT), tf.not_equal(score, PRESENT)),
         lambda b: [": segment score ", _str(b, score),
                    " is not 1 (present) or 0 (absent)"]),
    ]
    for bad, describe in problems:
      checks.append(readers.check(
          tf.logical_not(tf.reduce_any(bad)),
          lambda b=bad, d=describe: tf.strings.join([self._where(
              readers.first_bad(b, tf.gather(file_index, video)),
              readers.first_bad(b, tf.gather(ids, video)))] + d(b))))
    return checks, video, start, label, score

  def _rated_segments(self, context, ids, num_frames, file_index):
    """(video [N], start [N], labels [N, C], label_weights [N, C])."""
    checks, video, start, label, score = self._ratings(
        context, ids, num_frames, file_index)
    with tf.control_dependencies(checks):
      # One key per (video, start); sorted, so segments come in video order
      # and start order whatever the order of the ratings in the record.
      keys = video * self.max_frames + start
      unique_keys, _ = tf.unique(tf.sort(keys))
      segment = tf.searchsorted(unique_keys, keys)  # [R] example of rating
    shape = tf.stack([tf.size(unique_keys, tf.int64),
                      tf.constant(self.num_classes, tf.int64)])
    where = tf.stack([tf.cast(segment, tf.int64), label], axis=1)
    # A class rated twice for one segment counts once; positive if any
    # rating is.
    labels = tf.tensor_scatter_nd_max(tf.zeros(shape, tf.float32), where,
                                      score)
    weights = tf.tensor_scatter_nd_max(tf.zeros(shape, tf.float32), where,
                                       tf.ones_like(score))
    return (unique_keys // self.max_frames, unique_keys % self.max_frames,
            labels, weights)

  def _every_segment(self, num_frames):
    """(video [N], start [N]) of every 5-second slot of every video."""
    counts = (num_frames + SEGMENT_SIZE - 1) // SEGMENT_SIZE
    slots = tf.ragged.range(tf.cast(counts, tf.int64))
    return (tf.cast(slots.value_rowids(), tf.int64),
            slots.flat_values * SEGMENT_SIZE)

  def _segment_frames(self, sequences, video, start):
    """uint8 [N, 5, D]: frames start..start+4 of each segment's video.

    Gathers straight from the decoded frames, so no [B, max_frames, D]
    tensor is built. Indices past a video's end are clamped here and
    zeroed by the caller.
    """
    columns = []
    for name in self.feature_names:
      frames = sequences[name]  # ragged string [B, (T), (1)]
      decoded = tf.io.decode_raw(frames.flat_values, tf.uint8)  # [all, D_f]
      splits = tf.cast(frames.row_splits, tf.int64)
      offsets = tf.gather(splits, video)  # first frame of each video
      last = tf.gather(splits, video + 1) - 1
      index = start[:, None] + tf.range(SEGMENT_SIZE, dtype=tf.int64)
      index = tf.minimum(offsets[:, None] + index, last[:, None])
      columns.append(tf.gather(decoded, index))  # [N, 5, D_f]
    return tf.concat(columns, axis=2) if len(columns) > 1 else columns[0]

  def parse_batch(self, serialized, file_index, batch_size=None):
    """serialized: string [B]; file_index: int32 [B] -> segment batch dict."""
    del batch_size  # Segments are rebatched; their buffers are small.
    context, sequences = self._parse(serialized)
    ids, _ = self._ids_and_labels(context, file_index)
    checks, num_frames = self._check_frames(sequences, ids, file_index)
    with tf.control_dependencies(checks):
      # Everything below waits for the checks: decode_raw would otherwise
      # fail first, on a bad frame, with a message naming nothing.
      num_frames = tf.identity(num_frames)
      sequences = {n: sequences[n].with_flat_values(
          tf.identity(sequences[n].flat_values)) for n in self.feature_names}
    batch = {}
    if self.all_segments:
      video, start = self._every_segment(num_frames)
    else:
      video, start, batch["labels"], batch["label_weights"] = (
          self._rated_segments(context, ids, num_frames, file_index))
    length = tf.cast(tf.gather(num_frames, video), tf.int64) - start
    segment_frames = tf.cast(tf.minimum(length, SEGMENT_SIZE), tf.int32)
    matrix = self._segment_frames(sequences, video, start)
    valid = tf.sequence_mask(segment_frames, SEGMENT_SIZE)[:, :, None]
    matrix = tf.where(valid, matrix, tf.zeros_like(matrix))
    if not self.raw:
      matrix = raw_frames.frames_to_float(matrix, segment_frames)
    batch.update({
        "video_ids": tf.strings.join(
            [tf.gather(ids, video), tf.strings.as_string(start)], ":"),
        "video_matrix": tf.ensure_shape(
            matrix, [None, SEGMENT_SIZE, self.feature_size]),
        "num_frames": segment_frames})
    return batch

  def rebatch(self, dataset, batch_size, shuffle=False, seed=None,
              shuffle_buffer=None):
    """Batches of videos' segments -> batches of `batch_size` segments.

    Training also shuffles segments, so one batch is not five slices of the
    same few videos.
    """
    if not shuffle:
      return dataset.rebatch(batch_size)
    return (dataset.unbatch()
            .shuffle(shuffle_buffer or 4 * batch_size, seed=seed)
            .batch(batch_size))


def _str(bad, values):
  """The first bad value as a string (ints exactly, floats as %g)."""
  value = readers.first_bad(bad, values)
  if value.dtype.is_floating:
    return tf.strings.as_string(value, shortest=True)
  return tf.strings.as_string(value)


def _varint(data, at):
  """(value, next offset) of the protobuf varint at data[at:]."""
  value = shift = 0
  while at < len(data):
    byte = data[at]
    value |= (byte & 0x7F) << shift
    at += 1
    if not byte & 0x80:
      return value, at
    shift += 7
  return None, at


def _rated_starts(read, length):
  """The distinct rated segment starts of one SequenceExample record.

  Reads only the record's context (field 1, which serializers write first,
  a few hundred bytes), not its frames; any other layout is parsed whole.
  """
  head = read(0, 16)
  size, at = _varint(head, 1) if head[:1] == b"\x0a" else (None, 0)
  if size is not None:
    context = tf.train.Features.FromString(read(at, size))
  else:
    context = tf.train.SequenceExample.FromString(read(0, length)).context
  feature = context.feature.get("segment_start_times")
  return len(set(feature.int64_list.value)) if feature is not None else 0


def count_rated_segments(files):
  """Rated segments in local frame-level TFRecords: the examples of
  --segment_labels training (one per distinct video and start time).

  Returns None when any file is remote (gs://), as tfrecords.count_records.
  """
  if any("://" in f for f in files):
    return None
  return sum(sum(tfrecords.record_heads(path, _rated_starts))
             for path in files)
