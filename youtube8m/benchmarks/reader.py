r"""Reader throughput: the project's reader vs a naive reader vs parsing alone.

  python -m youtube8m.benchmark reader --data_pattern='DIR/frame/train*' \
      --frame_features --feature_names=rgb,audio --feature_sizes=1024,128

Three pipelines read the same files with the same parallelism:
  reader       readers.make_dataset, as training uses it (frame level: the raw
               uint8 form the models dequantize; the float form is shown too);
  naive        per example: parse_single_(sequence_)example, decode, float
               dequantize, pad to max_frames, then batch, as the original did;
  parse_only   batched parsing of the same features, nothing else: the
               ceiling for any reader that parses the protos.
Each trial reads (repeating the files) for --seconds; trials alternate
between pipelines, so noise hits all alike, and the best of --trials is
reported, with CPU time per example beside it. The last line is one JSON
object.
"""

import dataclasses
import json
import resource
import time

from absl import flags
import tensorflow as tf

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import tfrecords

@dataclasses.dataclass
class ReaderBenchmarkConfig:
  """Settings of the reader benchmark."""
  data_pattern: str = settings.setting(
      "", "TFRecord glob to read.", required=True)
  frame_features: bool = settings.setting(
      False, "Frame-level SequenceExamples.")
  feature_names: str = settings.setting(
      "mean_rgb", "Comma-separated features.")
  feature_sizes: str = settings.setting(
      "1024", "Comma-separated sizes.")
  batch_size: int = settings.setting(
      128, "Examples per batch.", check=checks.positive_int)
  num_readers: int = settings.setting(
      8, "Files read in parallel.", check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Label ids are below this.", check=checks.positive_int)
  trials: int = settings.setting(
      3, "Timed passes per pipeline (best counts).",
      check=checks.positive_int)
  seconds: float = settings.setting(
      4.0, "Length of one timed trial; the files are read repeatedly, so "
      "small datasets time well too.", check=checks.positive)


settings.define_flags(ReaderBenchmarkConfig)
FLAGS = flags.FLAGS


def _records(files, num_readers):
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

  return (_records(files, num_readers)
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

  return (_records(files, num_readers).batch(batch_size)
          .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))


def _cpu_seconds():
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
  count, start, cpu = 0, time.perf_counter(), _cpu_seconds()
  while time.perf_counter() - start < seconds:
    batch = next(iterator)
    first = batch["video_ids"] if isinstance(batch, dict) else batch
    first = first[0] if isinstance(first, tuple) else first
    count += int(first.shape[0])
  return (count / (time.perf_counter() - start),
          (_cpu_seconds() - cpu) / max(count, 1) * 1e6)


def main(argv):
  del argv
  settings.validate(settings.from_flags(ReaderBenchmarkConfig))
  names, sizes = utils.parse_feature_flags(FLAGS.feature_names,
                                           FLAGS.feature_sizes)
  files = tfrecords.list_files(FLAGS.data_pattern, "--data_pattern")
  frame = FLAGS.frame_features
  b, n = FLAGS.batch_size, FLAGS.num_readers

  def reader(raw):
    return readers.make_dataset(
        readers.get_reader(frame, FLAGS.num_classes, names, sizes, raw=raw),
        FLAGS.data_pattern, b, num_epochs=None, num_readers=n)

  pipelines = {"reader": lambda: reader(True)}
  if frame:
    pipelines["reader_float"] = lambda: reader(False)
  pipelines["naive"] = lambda: naive_dataset(files, names, sizes, frame, b, n,
                                             FLAGS.num_classes)
  pipelines["parse_only"] = lambda: parse_only_dataset(files, names, frame, b,
                                                       n)
  print(f"{len(files)} files, {'frame' if frame else 'video'} level, "
        f"features {names} {sizes}, batch {b}, {n} readers, "
        f"{FLAGS.trials} trials each")
  rates = {name: [] for name in pipelines}
  cpu = {name: [] for name in pipelines}
  for _ in range(FLAGS.trials):
    for name, make in pipelines.items():
      rate, micros = examples_per_second(make(), FLAGS.seconds)
      rates[name].append(rate)
      cpu[name].append(micros)
  best = {name: max(r) for name, r in rates.items()}
  for name, r in rates.items():
    print(f"{name:>13}: {best[name]:9.0f} examples/sec, "
          f"{min(cpu[name]):6.0f} CPU us/example  (trials: "
          f"{', '.join(f'{x:.0f}' for x in r)})")
  print(f"reader / naive = {best['reader'] / best['naive']:.2f}x, "
        f"reader / parse_only = {best['reader'] / best['parse_only']:.0%}")
  result = {"reader_ex_per_s": round(best["reader"], 1),
            "naive_ex_per_s": round(best["naive"], 1),
            "parse_only_ex_per_s": round(best["parse_only"], 1)}
  if frame:
    result["reader_float_ex_per_s"] = round(best["reader_float"], 1)
  print(json.dumps(result))
