"""Input pipelines timed by the benchmarks: naive, parse-only, and rates.

`naive_dataset` parses one example at a time, as the original reader did;
`parse_only_dataset` parses batches and does nothing else (the ceiling of
any reader of these protos); `examples_per_second` times a dataset by wall
and CPU time. No flags: the reader benchmark and the suite share them.
"""

import resource
import time

import tensorflow as tf

from youtube8m.common import utils


def records(files, num_readers):
  return tf.data.Dataset.from_tensor_slices(files).repeat().interleave(
      tf.data.TFRecordDataset, cycle_length=min(num_readers, len(files)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def naive_dataset(files, names, sizes, frame_features, batch_size,
                  num_readers, num_classes=3862, max_frames=300):
  """Per example: parse, dense labels, float dequantize and pad; then batch."""
  context = {"id": tf.io.FixedLenFeature([], tf.string, default_value=""),
             "labels": tf.io.VarLenFeature(tf.int64)}

  def labels_of(parsed):
    return tf.scatter_nd(parsed["labels"].values[:, None],
                         tf.ones_like(parsed["labels"].values, tf.float32),
                         [num_classes])

  def parse_video(record):
    spec = dict(context)
    spec.update({n: tf.io.FixedLenFeature([s], tf.float32)
                 for n, s in zip(names, sizes)})
    parsed = tf.io.parse_single_example(record, spec)
    return tf.concat([parsed[n] for n in names], 0), labels_of(parsed)

  def parse_frames(record):
    parsed, lists = tf.io.parse_single_sequence_example(
        record, context_features=context,
        sequence_features={n: tf.io.FixedLenSequenceFeature([], tf.string)
                           for n in names})
    columns = []
    for name, size in zip(names, sizes):
      values = tf.reshape(tf.io.decode_raw(lists[name], tf.uint8), [-1, size])
      values = utils.dequantize(values)[:max_frames]
      count = tf.shape(values)[0]
      columns.append(tf.pad(values, [[0, max_frames - count], [0, 0]]))
    return tf.concat(columns, 1), labels_of(parsed)

  return (records(files, num_readers)
          .map(parse_frames if frame_features else parse_video,
               num_parallel_calls=tf.data.AUTOTUNE)
          .batch(batch_size).prefetch(tf.data.AUTOTUNE))


def parse_only_dataset(files, names, frame_features, batch_size, num_readers):
  """Batched parsing of the same features; outputs only a count per video."""
  context = {"id": tf.io.RaggedFeature(tf.string),
             "labels": tf.io.RaggedFeature(tf.int64)}

  def parse(records):
    if frame_features:
      _, lists, _ = tf.io.parse_sequence_example(
          records, context_features=context,
          sequence_features={n: tf.io.RaggedFeature(tf.string)
                             for n in names})
      return lists[names[0]].row_lengths()
    spec = dict(context)
    spec.update({n: tf.io.RaggedFeature(tf.float32) for n in names})
    return tf.io.parse_example(records, spec)[names[0]].row_lengths()

  return (records(files, num_readers).batch(batch_size)
          .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))


def cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def examples_per_second(dataset, seconds):
  """Reads for `seconds`: (examples/sec, CPU microseconds/example).

  The first batches are excluded (warm-up). CPU time counts every thread of
  the process; it is steadier than wall time on a shared machine.
  """
  iterator = iter(dataset)
  for _ in range(3):
    next(iterator)
  count, start, cpu = 0, time.perf_counter(), cpu_seconds()
  while time.perf_counter() - start < seconds:
    batch = next(iterator)
    first = batch["video_ids"] if isinstance(batch, dict) else batch
    first = first[0] if isinstance(first, tuple) else first
    count += int(first.shape[0])
  return (count / (time.perf_counter() - start),
          (cpu_seconds() - cpu) / max(count, 1) * 1e6)
