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
        files.extend(tf.io.gfile.glob(pattern))
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
