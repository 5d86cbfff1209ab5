"""TFRecord files: globbing, reading records, and naming a damaged shard.

tf.data's DataLossError gives the byte offset of a bad record but not its
file; the readers `remember` what they read, so `diagnose_data_loss` can find
the shard afterwards.
"""

import re

import tensorflow as tf

from youtube8m.common import cli
from youtube8m.common import utils

_FILES_READ = []


def remember(files):
  """Notes a list of files being read, for `diagnose_data_loss`."""
  if files not in _FILES_READ:
    _FILES_READ.append(files)


def list_files(data_pattern, flag_name="data pattern"):
  """Sorted files matching a glob (or comma-separated globs); local or gs://."""
  files = []
  for pattern in [p.strip() for p in str(data_pattern or "").split(",")]:
    if pattern:
      try:
        matched = tf.io.gfile.glob(pattern)
        # A file whose name holds glob characters (exp[1]/train.tfrecord)
        # is not matched by itself: it is taken as it is.
        if not matched and tf.io.gfile.exists(pattern):
          matched = [pattern]
        files.extend(matched)
      except tf.errors.OpError as e:
        raise utils.Yt8mError(f"{flag_name} '{pattern}': {e.message}") from e
  if not files:
    raise utils.Yt8mError(f"{flag_name} '{data_pattern}' matches no file")
  dirs = [f for f in files if tf.io.gfile.isdir(f)]
  files = sorted(set(files) - set(dirs))
  if not files:
    raise utils.Yt8mError(
        f"{flag_name} '{data_pattern}' matches only directories ({dirs[0]}); "
        f"give the files, e.g. '{dirs[0].rstrip('/')}/*.tfrecord'")
  return files


def count_records(files):
  """Records in local TFRecord files, by walking their 12-byte headers.

  Reads 8 bytes per record, not the payloads, so counting is cheap on a
  local disk. Returns None when any file is remote (gs://: every header
  would be a ranged read): the caller learns the count from a first pass.
  """
  if any("://" in f for f in files):
    return None
  total = 0
  for path in files:
    total += len(_record_offsets(path, float("inf")))
  return total


def record_heads(path, head_fn):
  """Yields head_fn(read, length) for each record of a local TFRecord file.

  `read(offset, size)` returns bytes of the record's payload (of `length`
  bytes), so a caller reads only what it needs of each record.
  """
  with tf.io.gfile.GFile(path, "rb") as f:
    size, offset = f.size(), 0
    while offset + 12 <= size:
      f.seek(offset)
      length = int.from_bytes(f.read(8), "little")
      start = offset + 12

      def read(at, count, f=f, start=start, length=length):
        f.seek(start + at)
        return f.read(max(0, min(count, length - at)))
      yield head_fn(read, length)
      offset = start + length + 4


def read_records(files, shuffle, num_epochs, num_readers, seed=None):
  """(serialized record, file index) pairs from TFRecord files.

  shuffle=False reads round-robin over `num_readers` files in sorted order:
  a fixed order, whatever the parallelism.
  """
  file_ds = tf.data.Dataset.from_tensor_slices(
      (files, tf.range(len(files), dtype=tf.int32)))
  if shuffle:
    file_ds = file_ds.shuffle(len(files), seed=seed,
                              reshuffle_each_iteration=True)
  if num_epochs != 1:
    file_ds = file_ds.repeat(num_epochs)

  def read_file(path, index):
    return tf.data.TFRecordDataset(path).map(lambda record: (record, index))

  return file_ds.interleave(
      read_file, cycle_length=max(1, min(num_readers, len(files))),
      block_length=1, num_parallel_calls=tf.data.AUTOTUNE,
      deterministic=not shuffle)


def _record_offsets(path, stop_at):
  """Record start offsets of a TFRecord file, walking the 12-byte headers."""
  offsets = []
  with tf.io.gfile.GFile(path, "rb") as f:
    size, offset = f.size(), 0
    while offset < size and offset <= stop_at:
      offsets.append(offset)
      f.seek(offset)
      header = f.read(8)
      if len(header) < 8:
        break
      offset += 16 + int.from_bytes(header, "little")
  return offsets


def _is_readable(path):
  try:
    for _ in tf.data.TFRecordDataset(path).batch(256):
      pass
    return True
  except tf.errors.DataLossError:
    return False


@cli.add_diagnosis
def diagnose_data_loss(error):
  """Finds the shard behind a DataLossError ('corrupted record at N').

  tf.data's message gives the byte offset but not the file. Only files with
  a record starting at that offset are read in full, so this stays cheap.
  Returns a one-line message naming the file, or None.
  """
  message = tf.compat.as_str(getattr(error, "message", str(error)))
  found = re.search(r"(corrupted|truncated) record at (\d+)", message)
  if not found:
    return None
  offset = int(found.group(2))
  # A bad length is reported at the record's start, a bad payload CRC 12
  # bytes later (past the length and its CRC).
  starts = {offset, offset - 12}
  seen = set()
  for files in _FILES_READ:
    for path in files:
      if path in seen:
        continue
      seen.add(path)
      if (starts & set(_record_offsets(path, offset)) and
          not _is_readable(path)):
        return (f"file {path}: {found.group(1)} TFRecord at byte {offset}; "
                "the shard is damaged: download it again or leave it out")
  return None


_TYPE_MISMATCH = re.compile(
    r"(?P<where>Key|Feature list): (?P<key>[^,]+), Index: \d+\.\s+Data types "
    r"don't match\. Expected type: (?P<expected>\w+)")
_KINDS = {"float": "float_list", "int64": "int64_list", "string": "bytes_list"}
_MAX_RECORDS_SCANNED = 100000


def _kind_of(record, key, in_list):
  """(video id, the kind key's values have) in a serialized record, or None."""
  for proto_class in (tf.train.SequenceExample, tf.train.Example):
    try:
      proto = proto_class.FromString(record)
    except Exception:  # pylint: disable=broad-except  (protobuf DecodeError)
      continue
    context = (proto.context if proto_class is tf.train.SequenceExample
               else proto.features)
    video = b""
    for id_key in ("id", "video_id"):
      if id_key in context.feature:
        video = (context.feature[id_key].bytes_list.value or [b""])[0]
        break
    if in_list and proto_class is tf.train.SequenceExample:
      features = proto.feature_lists.feature_list.get(key)
      feature = features.feature[0] if features and features.feature else None
    else:
      feature = context.feature.get(key)
    if feature is not None and feature.WhichOneof("kind"):
      return video.decode("utf-8", "replace"), feature.WhichOneof("kind")
  return None


@cli.add_diagnosis
def diagnose_wrong_type(error):
  """Names the file and video behind "Data types don't match" of a parse.

  TensorFlow names the key and the expected type but not the record; the
  files read are scanned (up to _MAX_RECORDS_SCANNED records) for the first
  whose key holds another kind of values.
  """
  message = tf.compat.as_str(getattr(error, "message", str(error)))
  found = _TYPE_MISMATCH.search(message)
  if not found:
    return None
  key, expected = found["key"].strip(), found["expected"]
  want = _KINDS.get(expected)
  what = "frames" if found["where"] == "Feature list" else "values"
  stored = {"float_list": "floats", "int64_list": "integers (int64)",
            "bytes_list": "bytes"}
  scanned, seen = 0, set()
  for files in reversed(_FILES_READ):  # the latest read first
    for path in files:
      if path in seen or scanned > _MAX_RECORDS_SCANNED:
        continue
      seen.add(path)
      try:
        for record in tf.data.TFRecordDataset(path):
          scanned += 1
          if scanned > _MAX_RECORDS_SCANNED:
            break
          kind = _kind_of(record.numpy(), key,
                          found["where"] == "Feature list")
          if kind and kind[1] != want:
            return (f"file {path}: video '{kind[0]}': feature '{key}' holds "
                    f"{stored[kind[1]]}, but its {what} must be "
                    f"{stored.get(want, expected)}; these records are not "
                    "in the YouTube-8M format the flags describe")
      except tf.errors.OpError:
        continue  # gone or damaged: another diagnosis names those
  return (f"a record's feature '{key}' does not hold {expected} values as "
          "the YouTube-8M format (and the flags) expect")
