r"""Reader throughput: the project's reader vs a naive reader vs parsing alone.

  python -m youtube8m.benchmark reader --data_pattern='DIR/frame/train*' \
      --frame_features --feature_names=rgb,audio --feature_sizes=1024,128

Three pipelines read the same files with the same parallelism:
  reader       readers.make_dataset, as training uses it (frame level: the raw
               uint8 form the models dequantize; the float form is shown too);
  naive        per example: parse_single_(sequence_)example, decode, float
               dequantize, pad to max_frames, then batch, as the original did;
  parse_only   batched parsing of the same features, nothing else: the
               ceiling for any reader that parses the protos;
  service      with --data_service_address, the reader's pipeline run by
               the tf.data service's workers (data_service.py).
Each trial reads (repeating the files) for --seconds; trials alternate
between pipelines, so noise hits all alike, and the best of --trials is
reported, with CPU time per example beside it. The last line is one JSON
object.
"""

import dataclasses
import json

from absl import flags

from youtube8m.benchmarks import pipelines as pipeline_lib
from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import data_service
from youtube8m.data import data_service_config
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
  data_service_address: str = settings.setting(
      "", "Also time the reader through this tf.data service dispatcher "
      "(host:port; python -m youtube8m.data_service), as `service`.",
      check=data_service_config.check_address)
  seconds: float = settings.setting(
      4.0, "Length of one timed trial; the files are read repeatedly, so "
      "small datasets time well too.", check=checks.positive)


settings.define_flags(ReaderBenchmarkConfig)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  settings.validate(settings.from_flags(ReaderBenchmarkConfig))
  names, sizes = utils.parse_feature_flags(FLAGS.feature_names,
                                           FLAGS.feature_sizes)
  files = tfrecords.list_files(FLAGS.data_pattern, "--data_pattern")
  frame = FLAGS.frame_features
  b, n = FLAGS.batch_size, FLAGS.num_readers

  def reader(raw, service=None):
    return readers.make_dataset(
        readers.get_reader(frame, FLAGS.num_classes, names, sizes, raw=raw),
        FLAGS.data_pattern, b, num_epochs=None, num_readers=n,
        data_service=service)

  pipelines = {"reader": lambda: reader(True)}
  if FLAGS.data_service_address:
    target = data_service.service_target(FLAGS.data_service_address)
    pipelines["service"] = lambda: reader(True, target)
  if frame:
    pipelines["reader_float"] = lambda: reader(False)
  pipelines["naive"] = lambda: pipeline_lib.naive_dataset(
      files, names, sizes, frame, b, n, FLAGS.num_classes)
  pipelines["parse_only"] = lambda: pipeline_lib.parse_only_dataset(
      files, names, frame, b, n)
  print(f"{len(files)} files, {'frame' if frame else 'video'} level, "
        f"features {names} {sizes}, batch {b}, {n} readers, "
        f"{FLAGS.trials} trials each")
  rates = {name: [] for name in pipelines}
  cpu = {name: [] for name in pipelines}
  for _ in range(FLAGS.trials):
    for name, make in pipelines.items():
      rate, micros = pipeline_lib.examples_per_second(make(), FLAGS.seconds)
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
  if "service" in best:
    print(f"service / reader = {best['service'] / best['reader']:.2f}")
    result["service_ex_per_s"] = round(best["service"], 1)
  print(json.dumps(result))
