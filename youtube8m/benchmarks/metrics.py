r"""Metric throughput: EvaluationMetrics vs a per-example pure-Python version.

  python -m youtube8m.benchmark metrics [--num_videos=20000 --seed=0]

Random predictions [num_videos, num_classes] with about `labels_per_video`
positives per video (some videos have none, some scores are <= 0). Two
implementations of Hit@1, PERR, GAP and mAP (top_k = 20):
  metrics   as the evaluator runs it: eval_util.top_k_summary in a
            tf.function per batch, its [batch, 20] arrays to numpy,
            EvaluationMetrics.accumulate_summary, then get(). The input
            batches are tensors already (the model's outputs would be).
  baseline  per video with Python lists: heapq.nlargest for the top classes,
            sorted() of the pooled (score, is-positive) pairs for GAP and per
            class for mAP. It runs on the first `--baseline_videos` videos and
            its per-video rate is reported.
Both must agree to 1e-6 on the common videos. Best of `--trials` counts. The
last line is one JSON object.
"""

import collections
import dataclasses
import heapq
import json
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.evaluation import eval_util

@dataclasses.dataclass
class MetricsBenchmarkConfig:
  """Settings of the metrics benchmark."""
  num_videos: int = settings.setting(
      20000, "Videos to evaluate.", check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Classes per prediction.", check=checks.positive_int)
  labels_per_video: float = settings.setting(
      3.0, "Mean positives per video.", check=checks.positive)
  batch_size: int = settings.setting(
      1024, "Videos per evaluator batch.", check=checks.positive_int)
  seed: int = settings.setting(
      0, "Seed of the random predictions and labels.")
  baseline_videos: int = settings.setting(
      2000, "Videos the pure-Python baseline evaluates (it is slow).",
      check=checks.positive_int)
  trials: int = settings.setting(
      3, "Timed passes per implementation.", check=checks.positive_int)


settings.define_flags(MetricsBenchmarkConfig)
FLAGS = flags.FLAGS

TOP_K = 20


def make_data(num_videos, num_classes, labels_per_video, seed):
  """Random (predictions [N, C] float32, labels [N, C] float32 0/1)."""
  rng = np.random.default_rng(seed)
  labels = rng.random((num_videos, num_classes), np.float32) < (
      labels_per_video / num_classes)
  # Positives score higher on average so that the metrics are not ~0; the
  # offset makes some scores <= 0, which PERR must ignore.
  predictions = rng.random((num_videos, num_classes), np.float32) - 0.05
  predictions += 0.35 * labels
  return predictions, labels.astype(np.float32)


def run_metrics(batches, summarize, num_classes):
  """EvaluationMetrics over (predictions, labels) tensor batches -> get()."""
  metrics = eval_util.EvaluationMetrics(num_classes, TOP_K)
  for predictions, labels in batches:
    summary = {k: v.numpy() for k, v in summarize(predictions, labels).items()}
    metrics.accumulate_summary(summary, loss=0.0)
  return metrics.get()


def _naive_ap(entries, total_positives):
  """AP of (score, is_positive) pairs; ties keep insertion order."""
  if not total_positives:
    return 0.0
  found = 0
  ap = 0.0
  for rank, (_, is_positive) in enumerate(
      sorted(entries, key=lambda e: e[0], reverse=True), 1):
    if is_positive:
      found += 1
      ap += found / rank
  return ap / total_positives


def naive_metrics(predictions, labels, top_k=TOP_K):
  """The same metrics, one video at a time with Python lists.

  Returns:
    (hit_at_one, perr, gap, map, {class: ap} for classes with positives).
  """
  hits = 0.0
  perr = 0.0
  pooled = []
  per_class = collections.defaultdict(list)
  class_positives = collections.Counter()
  for score_row, label_row in zip(predictions, labels):
    scores = score_row.tolist()
    label_values = label_row.tolist()
    positives = {c for c, v in enumerate(label_values) if v > 0}
    class_positives.update(positives)
    n = len(positives)
    # nlargest keeps the lower class id first among equal scores.
    ranked = heapq.nlargest(max(top_k, n), range(len(scores)),
                            key=scores.__getitem__)
    hits += label_values[ranked[0]]
    if n:
      perr += sum(1 for c in ranked[:n] if c in positives and scores[c] > 0) / n
    for c in ranked[:top_k]:
      pooled.append((scores[c], c in positives))
      per_class[c].append((scores[c], c in positives))
  aps = {c: _naive_ap(per_class[c], p) for c, p in class_positives.items()}
  num_videos = len(predictions)
  return (hits / num_videos, perr / num_videos,
          _naive_ap(pooled, sum(class_positives.values())),
          sum(aps.values()) / len(aps) if aps else 0.0, aps)


def _timed(fn):
  start = time.perf_counter()
  result = fn()
  return time.perf_counter() - start, result


def _agreement(fast, naive):
  """Largest absolute difference between the two results."""
  hit, perr, gap, mean_ap, aps = naive
  classes = sorted(aps)
  fast_aps = fast["aps"][classes]
  if np.isnan(fast_aps).any() or np.count_nonzero(~np.isnan(
      fast["aps"])) != len(classes):
    return float("inf")
  return max(abs(fast["avg_hit_at_one"] - hit), abs(fast["avg_perr"] - perr),
             abs(fast["gap"] - gap), abs(fast["map"] - mean_ap),
             float(np.max(np.abs(fast_aps - [aps[c] for c in classes]),
                          initial=0.0)))


def main(argv):
  del argv
  settings.validate(settings.from_flags(MetricsBenchmarkConfig))
  n, c, b = FLAGS.num_videos, FLAGS.num_classes, FLAGS.batch_size
  predictions, labels = make_data(n, c, FLAGS.labels_per_video, FLAGS.seed)
  batches = [(tf.constant(predictions[i:i + b]), tf.constant(labels[i:i + b]))
             for i in range(0, n, b)]

  @tf.function(input_signature=[tf.TensorSpec([None, c], tf.float32)] * 2)
  def summarize(predictions, labels):
    return eval_util.top_k_summary(predictions, labels, TOP_K)

  summarize(*batches[0])  # tracing is a one-off cost, not throughput
  print(f"{n} videos x {c} classes, {np.sum(labels) / n:.2f} positives per "
        f"video, batch {b}, top_k {TOP_K}, {FLAGS.trials} trials each")

  m = min(FLAGS.baseline_videos, n)
  # Trials alternate so that machine noise hits both implementations alike.
  fast_times, naive_times = [], []
  for _ in range(FLAGS.trials):
    seconds, fast = _timed(lambda: run_metrics(batches, summarize, c))
    fast_times.append(seconds)
    seconds, naive = _timed(
        lambda: naive_metrics(predictions[:m], labels[:m]))
    naive_times.append(seconds)
  fast_time, naive_time = min(fast_times), min(naive_times)
  subset = run_metrics([(tf.constant(predictions[i:min(i + b, m)]),
                         tf.constant(labels[i:min(i + b, m)]))
                        for i in range(0, m, b)], summarize, c)
  diff = _agreement(subset, naive)

  fast_rate, naive_rate = n / fast_time, m / naive_time
  print(f"metrics : {fast_rate:9.0f} videos/sec over {n} videos (trials: "
        f"{', '.join(f'{t:.3f}' for t in fast_times)} s)")
  print(f"baseline: {naive_rate:9.0f} videos/sec over {m} videos (trials: "
        f"{', '.join(f'{t:.3f}' for t in naive_times)} s)")
  print(f"speed-up: {fast_rate / naive_rate:.1f}x")
  print(f"all {n}: Hit@1 {fast['avg_hit_at_one']:.6f} PERR "
        f"{fast['avg_perr']:.6f} GAP {fast['gap']:.6f} MAP {fast['map']:.6f} "
        f"({fast['num_classes_with_positives']} classes with positives)")
  print(f"first {m}: Hit@1 {naive[0]:.6f} PERR {naive[1]:.6f} GAP "
        f"{naive[2]:.6f} MAP {naive[3]:.6f}; max |metrics - baseline| = "
        f"{diff:.2e}")
  if not diff <= 1e-6:
    raise AssertionError(f"metrics and baseline disagree by {diff}")
  print(json.dumps({"metrics_videos_per_s": round(fast_rate, 1),
                    "baseline_videos_per_s": round(naive_rate, 1)}))


if __name__ == "__main__":
  app.run(main)
