"""tf.data readers for YouTube-8M video-level and frame-level TFRecords.

`make_dataset(reader, pattern, batch_size)` yields dicts of
  video_ids    string  [B]
  video_matrix float32 [B, D] (video level) or [B, T, D] (frame level; T is
               max_frames, or with `pad_to_longest` the batch's longest
               video rounded up to a multiple of PAD_MULTIPLE)
  labels       float32 [B, num_classes] multi-hot
  num_frames   int32   [B] (1 for video level)
With `raw=True` (what training, eval and inference use) frame-level
`video_matrix` stays uint8, one [B, T, D_i] matrix per feature (a
tuple when there are several), each possibly split along the batch into a
tuple of row chunks; the model joins and dequantizes it
(`raw_frames.frames_to_float`).
Segment mode (frame level, `segment_labels=True`) instead yields one example
per rated 5-frame segment; see `youtube8m.data.segment_readers`.

Records are batched *before* parsing, so one parse op handles a whole batch
and frames stay uint8 until the last step. Every malformed input fails with a
one-line message naming the file, the video and the key at fault.
"""

import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import data_service as data_service_lib
from youtube8m.data import raw_frames
from youtube8m.data import tfrecords

# Largest uint8 frame buffer the raw frame reader builds in one piece. glibc
# serves allocations above its mmap threshold (at most 32 MiB) with fresh
# mmaps, which the kernel zero-fills page by page on every batch: a
# [128, 300, 1024] batch (39 MB) spent about 40% of the reader's CPU time in
# page faults. Smaller buffers are reused from the heap.
CHUNK_BYTES = 10 << 20
# Each chunk is one call of a chunk parser traced once; 32 calls add about
# 1.5 s to the first batch. Bigger batches get bigger chunks, not more.
MAX_CHUNKS = 32
# With pad_to_longest, batches are padded to a multiple of this many frames:
# at most 10 shapes up to 300 frames, each compiled once by XLA.
PAD_MULTIPLE = 30


def check(ok, make_message):
  """An op failing with `make_message()` (scalar string) unless `ok`."""
  message = tf.cond(ok, lambda: tf.constant(""),
                    lambda: utils.graph_error_message(make_message()))
  return tf.debugging.Assert(ok, [message], summarize=1)


def first_bad(bad, values):
  """values[i] for the first i where bad[i] (bad: bool [N], values [N])."""
  return tf.gather(values, tf.argmax(tf.cast(bad, tf.int32)))


class _BaseReader:
  """Shared parsing of the id and labels; subclasses parse the features."""

  frame_level = False

  def __init__(self, num_classes, feature_names, feature_sizes):
    self.num_classes = int(num_classes)
    self.feature_names, self.feature_sizes = utils.parse_feature_flags(
        feature_names, feature_sizes)
    self.feature_size = sum(self.feature_sizes)
    self._files = tf.constant([""])

  def set_files(self, files):
    """Names the files that `file_index` values refer to (error messages)."""
    self._files = tf.constant(list(files) or [""])

  def _where(self, file_index, video_id):
    return tf.strings.join(["file ", tf.gather(self._files, file_index),
                            ": video '", video_id, "'"])

  def _context_spec(self):
    return {"id": tf.io.RaggedFeature(tf.string),
            "video_id": tf.io.RaggedFeature(tf.string),
            "labels": tf.io.RaggedFeature(tf.int64)}

  def _ids_and_labels(self, context, file_index):
    """Video ids [B] and multi-hot labels [B, C] with their checks."""
    ids = context["id"].to_tensor("", shape=[None, 1])[:, 0]
    old_ids = context["video_id"].to_tensor("", shape=[None, 1])[:, 0]
    has_id = context["id"].row_lengths() > 0
    ids = tf.where(has_id, ids, old_ids)
    missing = tf.logical_not(
        tf.logical_or(has_id, context["video_id"].row_lengths() > 0))
    checks = [check(
        tf.logical_not(tf.reduce_any(missing)),
        lambda: tf.strings.join([
            "file ", tf.gather(self._files, first_bad(missing, file_index)),
            ": a record has neither an 'id' nor a 'video_id' key"]))]

    labels = context["labels"]
    bad = tf.logical_or(labels.values >= self.num_classes, labels.values < 0)
    row = labels.value_rowids()
    checks.append(check(
        tf.logical_not(tf.reduce_any(bad)),
        lambda: tf.strings.join([
            self._where(first_bad(bad, tf.gather(file_index, row)),
                        first_bad(bad, tf.gather(ids, row))),
            ": label id ", tf.strings.as_string(first_bad(bad, labels.values)),
            f" is outside [0, {self.num_classes}) (--num_classes="
            f"{self.num_classes}; the 2017 data has 4716 classes)"])))
    with tf.control_dependencies(checks):
      indices = tf.stack([tf.cast(row, tf.int64), tf.clip_by_value(labels.values, 0,
                                                self.num_classes - 1)], axis=1)
      dense = tf.scatter_nd(indices, tf.ones_like(labels.values, tf.float32),
                            [tf.shape(ids, tf.int64)[0], self.num_classes])
      # A label listed twice is still one positive.
      return tf.identity(ids), tf.minimum(dense, 1.0)


class YT8MAggregatedFeatureReader(_BaseReader):
  """Video-level `tf.train.Example`s: `id`, `labels`, `mean_rgb`, `mean_audio`."""

  def __init__(self, num_classes=3862, feature_names="mean_rgb",
               feature_sizes="1024", skip_nonfinite=False):
    super().__init__(num_classes, feature_names, feature_sizes)
    # Float features may hold NaN or inf; such a video is an error naming
    # it, or (training with --skip_nonfinite_examples) left out and counted
    # in the batch's `num_skipped`.
    self.skip_nonfinite = bool(skip_nonfinite)

  def parse_batch(self, serialized, file_index, batch_size=None):
    """serialized: string [B]; file_index: int32 [B] -> batch dict."""
    del batch_size  # One parse per batch; no frame buffers to split.
    spec = self._context_spec()
    for name in self.feature_names:
      spec[name] = tf.io.RaggedFeature(tf.float32)
    parsed = tf.io.parse_example(serialized, spec)
    ids, labels = self._ids_and_labels(parsed, file_index)
    columns, checks = [], []
    for name, size in zip(self.feature_names, self.feature_sizes):
      lengths = parsed[name].row_lengths()
      bad = tf.not_equal(lengths, size)
      checks.append(check(
          tf.logical_not(tf.reduce_any(bad)),
          lambda n=name, s=size, b=bad, l=lengths: tf.strings.join([
              self._where(first_bad(b, file_index), first_bad(b, ids)),
              f": feature '{n}' has ", tf.strings.as_string(first_bad(b, l)),
              f" values, expected {s} (a missing key has 0; check "
              "--feature_names/--feature_sizes)"])))
      columns.append(parsed[name].flat_values)
    with tf.control_dependencies(checks):
      matrix = tf.concat(
          [tf.reshape(c, [-1, s]) for c, s in zip(columns, self.feature_sizes)],
          axis=1)
    finite = tf.reduce_all(tf.math.is_finite(matrix), axis=1)  # [B]
    batch = {"video_ids": ids, "video_matrix": matrix, "labels": labels,
             "num_frames": tf.ones_like(file_index, tf.int32)}
    if self.skip_nonfinite:
      batch = {k: tf.boolean_mask(v, finite) for k, v in batch.items()}
      batch["num_skipped"] = tf.reduce_sum(
          tf.cast(tf.logical_not(finite), tf.int32))
      return batch
    bad = tf.logical_not(finite)
    with tf.control_dependencies([check(
        tf.logical_not(tf.reduce_any(bad)),
        lambda: tf.strings.join([
            self._where(first_bad(bad, file_index), first_bad(bad, ids)),
            ": a feature value is not finite (NaN or inf); training can "
            "drop such videos with --skip_nonfinite_examples"]))]):
      batch["video_matrix"] = tf.identity(matrix)
    return batch


class YT8MFrameFeatureReader(_BaseReader):
  """Frame-level `tf.train.SequenceExample`s: one byte string per second.

  With `raw=True`, `video_matrix` stays uint8 [B, T, D] (zero bytes as
  padding; T = max_frames, or the batch's longest video rounded up to a
  multiple of PAD_MULTIPLE with `pad_to_longest`, for models whose outputs
  do not depend on the padding), or a tuple of uint8 [B, T, D_i], one per
  feature in
  `feature_names` order, when there are several; the model dequantizes and
  concatenates it (`raw_frames.frames_to_float`). This moves a quarter of
  the bytes through the input pipeline and gives exactly the float32
  [B, max_frames, D] batch that `raw=False` returns.

  When make_dataset's batches would make a feature's buffer bigger than
  CHUNK_BYTES, the batch is parsed in row chunks of `chunk_rows` videos (at
  most MAX_CHUNKS chunks: bigger batches get bigger chunks) and each feature
  becomes a tuple of chunks [b_k, T, D_i] (sum of b_k = B), joined
  inside the model, where XLA fuses the join into the dequantize.
  """

  frame_level = True

  def __init__(self, num_classes=3862, feature_names="rgb",
               feature_sizes="1024", max_frames=300, raw=False,
               pad_to_longest=False):
    super().__init__(num_classes, feature_names, feature_sizes)
    self.max_frames = int(max_frames)
    self.raw = raw
    # Pad batches to their longest video (rounded up), not max_frames: for
    # models whose outputs ignore padding (BaseModel.pads_freely).
    self.pad_to_longest = bool(pad_to_longest)
    # Videos per chunk: each feature's chunk stays within CHUNK_BYTES.
    self.chunk_rows = max(
        1, CHUNK_BYTES // (self.max_frames * max(self.feature_sizes)))

  def _check_frames(self, sequences, ids, file_index):
    """Checks every frame has `size` bytes and all features agree on count."""
    checks = []
    first = first_counts = None
    for name, size in zip(self.feature_names, self.feature_sizes):
      frames = sequences[name]  # ragged string [B, (T), (1)]
      counts = tf.cast(frames.row_lengths(), tf.int32)
      video_of_frame = frames.value_rowids()  # [frames]
      video_of_value = tf.gather(video_of_frame, frames.values.value_rowids())
      lengths = tf.strings.length(frames.flat_values)  # [values]
      wrong = tf.not_equal(lengths, size)
      # Each frame must be exactly one byte string of `size` bytes.
      bad_video = tf.math.unsorted_segment_max(
          tf.cast(wrong, tf.int32), video_of_value, tf.shape(counts)[0]) > 0
      bad_video = tf.logical_or(bad_video, tf.math.unsorted_segment_max(
          tf.cast(tf.not_equal(frames.values.row_lengths(), 1), tf.int32),
          video_of_frame, tf.shape(counts)[0]) > 0)
      bad = tf.logical_or(bad_video, counts == 0)
      # Compared before the cut at max_frames: 400 rgb frames and 350 audio
      # frames are two different videos, however many frames are read.
      if first is None:
        first, first_counts = tf.minimum(counts, self.max_frames), counts
      else:
        bad = tf.logical_or(bad, tf.not_equal(counts, first_counts))
      checks.append(check(
          tf.logical_not(tf.reduce_any(bad)),
          lambda n=name, s=size, b=bad, c=counts, w=wrong, l=lengths:
          tf.strings.join([
              self._where(first_bad(b, file_index), first_bad(b, ids)),
              f": feature '{n}' ",
              tf.case([
                  (first_bad(b, c) == 0,
                   lambda: tf.constant("is missing (no frames)")),
                  (tf.reduce_any(w), lambda: tf.strings.join([
                      "has a frame of ", tf.strings.as_string(
                          first_bad(w, l)), f" bytes, expected {s}"]))],
                      default=lambda: tf.strings.join([
                          "has ", tf.strings.as_string(first_bad(b, c)),
                          " frames, unlike the first feature "
                          f"'{self.feature_names[0]}' (",
                          tf.strings.as_string(first_bad(b, first_counts)),
                          ")"])),
              " (check --feature_names/--feature_sizes)"])))
    return checks, first

  def _decoded_frames(self, sequences):
    """Per feature: (uint8 [frames, D_i] of every video, row splits [B + 1]).

    Each feature's frames are decoded as one flat array, so the bytes are
    copied once here and once into the padded batch (`_pad`), with no
    per-frame string copies.
    """
    decoded = []
    for name, size in zip(self.feature_names, self.feature_sizes):
      frames = sequences[name]  # ragged string [B, (T), (1)], checked
      values = tf.io.decode_raw(frames.flat_values, tf.uint8)  # [all, D_i]
      # The width is unknown when a chunk is empty (the last batch's tail).
      decoded.append((tf.reshape(values, [-1, size]), frames.row_splits))
    return decoded

  def padded_length(self, num_frames):
    """Frames T of a batch's padded matrices (int32 scalar).

    max_frames; or, with `pad_to_longest`, the batch's longest video
    rounded up to a multiple of PAD_MULTIPLE (at most max_frames): fewer
    distinct shapes, so compiled steps are reused.
    """
    if not self.pad_to_longest:
      return tf.constant(self.max_frames, tf.int32)
    longest = tf.reduce_max(tf.concat([num_frames, [1]], 0))
    rounded = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    return tf.minimum(rounded, self.max_frames)

  def _pad(self, decoded, length):
    """Per feature: uint8 [B, length, D_i], zero bytes as padding; videos
    longer than `length` (max_frames) are truncated."""
    dense = []
    for (values, splits), size in zip(decoded, self.feature_sizes):
      shape = tf.stack([tf.constant(-1, tf.int64), tf.cast(length, tf.int64),
                        tf.constant(size, tf.int64)])
      matrix = tf.RaggedTensor.from_row_splits(values, splits).to_tensor(
          shape=shape)
      static = self.max_frames if not self.pad_to_longest else None
      dense.append(tf.ensure_shape(matrix, [None, static, size]))
    return dense

  def _parse(self, serialized):
    """(context, sequences): ragged features of a batch of SequenceExamples."""
    sequence_spec = {name: tf.io.RaggedFeature(tf.string)
                     for name in self.feature_names}
    context, sequences, _ = tf.io.parse_sequence_example(
        serialized, context_features=self._context_spec(),
        sequence_features=sequence_spec)
    return context, sequences

  def _parse_chunk(self, serialized, file_index):
    """(ids, labels, num_frames, per-feature decoded frames) of one chunk
    (`_decoded_frames`)."""
    context, sequences = self._parse(serialized)
    ids, labels = self._ids_and_labels(context, file_index)
    checks, num_frames = self._check_frames(sequences, ids, file_index)
    with tf.control_dependencies(checks):
      return ids, labels, num_frames, self._decoded_frames(sequences)

  def parse_batch(self, serialized, file_index, batch_size=None):
    """serialized: string [B]; file_index: int32 [B] -> batch dict.

    batch_size: the most videos a batch holds (static), when known: with
    raw=True, batches bigger than `chunk_rows` are parsed in row chunks.
    """
    chunks = 1
    if self.raw and batch_size:
      chunks = min(MAX_CHUNKS, -(-int(batch_size) // self.chunk_rows))
    if chunks == 1:
      ids, labels, num_frames, decoded = self._parse_chunk(serialized,
                                                           file_index)
      frames = self._pad(decoded, self.padded_length(num_frames))
    else:
      rows = -(-int(batch_size) // chunks)
      if rows > 8:
        # Slices starting at multiples of 8 share the batch's string buffer
        # (TensorFlow copies misaligned string slices: ~30 us/example).
        rows = -(-rows // 8) * 8
        chunks = -(-int(batch_size) // rows)
      # Traced once and called per chunk: tracing each chunk's ops anew
      # would cost seconds per chunk at startup.
      parse_chunk = tf.function(self._parse_chunk, autograph=False,
                                experimental_attributes={"_noinline": True})
      parts = [parse_chunk(serialized[i * rows:(i + 1) * rows],
                           file_index[i * rows:(i + 1) * rows])
               for i in range(chunks)]
      ids, labels, num_frames = [tf.concat([part[j] for part in parts], 0)
                                 for j in range(3)]
      # Every chunk padded to the batch's length; per feature, its chunks
      # in batch order.
      length = self.padded_length(num_frames)
      padded = [self._pad(part[3], length) for part in parts]
      frames = tuple(tuple(chunk[f] for chunk in padded)
                     for f in range(len(self.feature_names)))
    matrix = frames[0] if len(frames) == 1 and chunks == 1 else tuple(frames)
    if not self.raw:
      matrix = raw_frames.frames_to_float(matrix, num_frames)
    return {"video_ids": ids, "video_matrix": matrix, "labels": labels,
            "num_frames": num_frames}


def get_reader(frame_features, num_classes, feature_names, feature_sizes,
               max_frames=300, raw=False, skip_nonfinite=False,
               pad_to_longest=False):
  """The video-level or frame-level reader (`--frame_features`).

  Frame features are bytes, always finite; `skip_nonfinite` concerns the
  video-level float features; `pad_to_longest` the frame reader's padding.
  """
  if frame_features:
    return YT8MFrameFeatureReader(num_classes, feature_names, feature_sizes,
                                  max_frames, raw, pad_to_longest)
  return YT8MAggregatedFeatureReader(num_classes, feature_names, feature_sizes,
                                     skip_nonfinite)


def record_batches(data_pattern, batch_size, num_readers=1,
                   flag_name="data pattern"):
  """Batches of serialized records (string [B]) in the fixed eval order.

  For a SavedModel's serving signature, which parses records itself.
  """
  files = tfrecords.list_files(data_pattern, flag_name)
  tfrecords.remember(files)
  return (tfrecords.read_records(files, False, 1, num_readers)
          .map(lambda record, index: record).batch(batch_size)
          .prefetch(tf.data.AUTOTUNE))


def make_dataset(reader, data_pattern, batch_size, num_epochs=1, shuffle=False,
                 num_readers=8, shuffle_buffer=None, seed=None, shard=None,
                 flag_name="data pattern", data_service=None, job_name=None):
  """A tf.data.Dataset of parsed batches (see the module docstring).

  Args:
    reader: a YT8M*Reader.
    data_pattern: glob of TFRecord files (comma-separated globs allowed).
    batch_size: examples per batch; the last batch may be smaller.
    num_epochs: passes over the files; None repeats forever.
    shuffle: training order: file order reshuffled every epoch, parallel reads
      interleaved non-deterministically, and records shuffled in a buffer.
      False reads in a fixed order (eval, inference).
    num_readers: files read in parallel.
    shard: (num_shards, index) for multi-worker input: this pipeline reads
      every num_shards-th file (or record, when there are fewer files).
    data_service: grpc://host:port of a tf.data service dispatcher: the
      pipeline runs on its workers, which share out the files (so `shard`
      is not applied); see data_service.py.
    job_name: with data_service, the job several consumers share.
  """
  files = tfrecords.list_files(data_pattern, flag_name)
  record_shard = None
  if shard and shard[0] > 1 and not data_service:
    if len(files) >= shard[0]:
      files = files[shard[1]::shard[0]]
    else:
      record_shard = shard
  tfrecords.remember(files)
  reader.set_files(files)
  records = tfrecords.read_records(files, shuffle, num_epochs, num_readers,
                                   seed)
  if record_shard:
    records = records.shard(*record_shard)
  if shuffle:
    records = records.shuffle(shuffle_buffer or 4 * batch_size, seed=seed)
  batches = records.batch(batch_size).map(
      lambda serialized, file_index: reader.parse_batch(
          serialized, file_index, batch_size=batch_size),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
  if hasattr(reader, "rebatch"):
    # Segment readers turn B videos into any number of segments.
    batches = reader.rebatch(batches, batch_size, shuffle, seed,
                             shuffle_buffer)
  if data_service:
    batches = data_service_lib.distribute(batches, data_service, job_name)
  return batches.prefetch(tf.data.AUTOTUNE)
