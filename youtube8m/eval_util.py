"""Evaluation metrics of YouTube-8M: Hit@1, PERR, GAP and per-class AP (mAP).

Definitions (the starter code's, see the README's Metrics section), for predictions and labels of shape
[num_videos, num_classes], a label > 0 meaning positive:
  Hit@1  mean over videos of the label value at the top-scored class.
  PERR   per video with n positives: the fraction of positives among its n
         top-scored classes, predictions <= 0 never counting; 0 for a video
         with no positive. Mean over videos.
  GAP    pool every video's top_k (score, is-positive) pairs, rank them by
         score; AP of that list over P = ALL positives of the videos (also
         those outside any top_k). The Kaggle 2017/2018 metric.
  mAP    per class: AP of that class's entries among the videos' top_k
         predictions, over the class's total positives. The mean runs over
         the classes that have positives.

Ties are broken deterministically, never with random numbers: within a video
the lower class id ranks first among equal scores (what tf.math.top_k does),
and in a pooled list (GAP, per-class AP) equal scores keep video order, then
the within-video rank. numpy and TensorFlow paths therefore agree exactly.

The evaluator runs `top_k_summary` (TensorFlow) inside its eval step, so only
[batch_size, top_k] arrays reach the host, and feeds their numpy values to
`EvaluationMetrics.accumulate_summary`. The host keeps those arrays and
computes every metric at `get()` with vectorized numpy, which makes streamed
results identical to one-shot results over the same videos.
"""

import numpy as np
import tensorflow as tf

from youtube8m import average_precision_calculator as ap_calculator
from youtube8m import losses as losses_lib


def _as_matrices(predictions, labels):
  predictions = np.asarray(predictions)
  labels = np.asarray(labels)
  if predictions.ndim != 2 or predictions.shape != labels.shape:
    raise ValueError(f"predictions {predictions.shape} and labels "
                     f"{labels.shape} must both be [batch_size, num_classes]")
  return predictions, labels


def _neg(scores):
  """-scores [...], for stable ascending sorts meaning descending scores."""
  if not np.issubdtype(scores.dtype, np.floating):
    scores = scores.astype(np.float64)
  return -scores


def row_top_k(predictions, k):
  """Each row's k best classes, best first, lower class id first on ties.

  Args:
    predictions: [B, C] scores.
    k: int; clipped to C.

  Returns:
    (scores [B, k] of predictions' dtype, class ids [B, k] int32).
  """
  b, c = predictions.shape
  k = min(k, c)
  if k <= 0:
    return predictions[:, :0], np.zeros((b, 0), np.int32)
  neg = _neg(predictions)
  threshold = np.partition(neg, k - 1, axis=1)[:, k - 1:k]  # -(k-th best)
  keep = neg < threshold
  tied = neg == threshold
  room = k - np.count_nonzero(keep, axis=1)
  # Only rows with more ties at the threshold than free places need to pick
  # the lowest class ids among them; that is rare with real-valued scores.
  crowded = np.flatnonzero(np.count_nonzero(tied, axis=1) > room)
  if crowded.size:
    tied[crowded] &= np.cumsum(tied[crowded], axis=1) <= room[crowded, None]
  keep |= tied
  ids = np.nonzero(keep)[1].reshape(b, k)  # ascending class id per row
  order = np.argsort(np.take_along_axis(neg, ids, 1), axis=1, kind="stable")
  ids = np.take_along_axis(ids, order, 1).astype(np.int32)
  return np.take_along_axis(predictions, ids, 1), ids


def top_k_summary_numpy(predictions, labels, k=20):
  """numpy twin of `top_k_summary`: same keys, same values.

  Only hit_at_one differs in dtype (float64 here), so that non-binary label
  values are not rounded; for 0/1 labels the values are identical.

  Args:
    predictions: [B, C] scores.
    labels: [B, C] ground truth; > 0 means positive.
    k: top predictions kept per video.

  Returns:
    The dict described in `top_k_summary`, as numpy arrays.
  """
  predictions, labels = _as_matrices(predictions, labels)
  b, c = predictions.shape
  k = min(k, c)
  positive = labels > 0
  num_positives = np.count_nonzero(positive, axis=1).astype(np.int32)
  depth = max(k, int(num_positives.max(initial=0)))
  scores, ids = row_top_k(predictions, depth)
  ranked_positive = np.take_along_axis(positive, ids, 1)
  within_n = np.arange(ids.shape[1]) < num_positives[:, None]
  perr_hits = np.count_nonzero(ranked_positive & (scores > 0) & within_n,
                               axis=1).astype(np.int32)
  hit_at_one = (labels[np.arange(b), ids[:, 0]] if c else np.zeros(b))
  return {
      "top_k_scores": scores[:, :k],
      "top_k_ids": ids[:, :k],
      "top_k_positive": ranked_positive[:, :k],
      "hit_at_one": hit_at_one.astype(np.float64),
      "perr": (perr_hits / np.maximum(num_positives, 1)).astype(np.float32),
      "perr_hits": perr_hits,
      "num_positives": num_positives,
      "class_positives": np.count_nonzero(positive, axis=0).astype(np.int32),
  }


def top_k_summary(predictions, labels, k=20):
  """Per-batch reduction run on the accelerator inside the eval step.

  Everything the host needs for all metrics, with no [B, C] array left. Call
  it inside a tf.function: the PERR depth (max positives in the batch) is a
  dynamic top_k size, so it cannot run under XLA (jit_compile=True).

  Args:
    predictions: [B, C] float tensor of scores.
    labels: [B, C] tensor; > 0 means positive.
    k: top predictions kept per video (clipped to C).

  Returns:
    Dict of tensors:
      top_k_scores [B, k] (predictions' dtype), best first;
      top_k_ids [B, k] int32, lower class id first among equal scores;
      top_k_positive [B, k] bool;
      hit_at_one [B] float32: label value at the top class;
      perr [B] float32; perr_hits [B] int32: positives with score > 0 among
        the video's num_positives best classes (the host divides these);
      num_positives [B] int32;
      class_positives [C] int32: positives per class in the batch.
  """
  predictions = tf.convert_to_tensor(predictions)
  labels = tf.convert_to_tensor(labels)
  num_classes = predictions.shape[-1]
  if num_classes is not None:
    k = min(k, num_classes)
  positive = labels > 0
  num_positives = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
  depth = tf.minimum(tf.maximum(k, tf.reduce_max(num_positives)),
                     tf.shape(predictions)[-1])
  # Equal scores: tf.math.top_k returns the lower index first.
  scores, ids = tf.math.top_k(predictions, k=depth, sorted=True)
  ranked_positive = tf.gather(positive, ids, batch_dims=1)
  within_n = tf.range(depth)[tf.newaxis, :] < num_positives[:, tf.newaxis]
  perr_hits = tf.reduce_sum(
      tf.cast(ranked_positive & (scores > 0) & within_n, tf.int32), axis=1)
  return {
      "top_k_scores": scores[:, :k],
      "top_k_ids": ids[:, :k],
      "top_k_positive": ranked_positive[:, :k],
      "hit_at_one": tf.cast(tf.gather(labels, ids[:, 0], batch_dims=1),
                            tf.float32),
      "perr": tf.cast(perr_hits, tf.float32) /
              tf.cast(tf.maximum(num_positives, 1), tf.float32),
      "perr_hits": perr_hits,
      "num_positives": num_positives,
      "class_positives": tf.reduce_sum(tf.cast(positive, tf.int32), axis=0),
  }


def _video_perr(perr_hits, num_positives):
  """Per-video PERR [B] float64 from the integer counts [B]."""
  return perr_hits / np.maximum(num_positives, 1).astype(np.float64)


def _pooled_ap(scores, positive, total_positives):
  """GAP of pooled top-k entries: scores [N], positive [N] in video order."""
  return ap_calculator.AveragePrecisionCalculator.ap_at_n(
      scores, positive, n=None, total_num_positives=int(total_positives))


def class_aps(scores, ids, positive, class_positives, top_n=None):
  """Per-class AP of pooled top-k entries, all classes in one pass.

  Args:
    scores, ids, positive: [N] entries in video order (score, class id,
      is-positive).
    class_positives: [C] total positives per class (the denominators).
    top_n: per class, only its top_n entries count (None: all).

  Returns:
    [C] float64 APs; NaN for classes without positives.
  """
  num_class = class_positives.size
  order = np.lexsort((_neg(scores), ids))  # stable: ties keep video order
  ids = ids[order]
  positive = positive[order]
  starts = np.searchsorted(ids, np.arange(num_class))
  rank = np.arange(1, ids.size + 1) - starts[ids]  # 1-based, within class
  found = np.concatenate(([0], np.cumsum(positive)))
  found = found[1:] - found[starts][ids]  # positives so far in the class
  contribution = np.where(positive, found / rank, 0.0)
  if top_n is not None:
    contribution[rank > top_n] = 0.0
  sums = np.bincount(ids, weights=contribution, minlength=num_class)
  aps = np.full(num_class, np.nan)
  has = class_positives > 0
  aps[has] = sums[has] / class_positives[has]
  return aps


def calculate_hit_at_one(predictions, actuals):
  """Hit@1 of predictions [B, C] against actuals [B, C], as a float."""
  predictions, actuals = _as_matrices(predictions, actuals)
  top = np.argmax(predictions, axis=1)  # first maximum: lower class id
  return float(np.mean(actuals[np.arange(len(top)), top].astype(np.float64)))


def calculate_precision_at_equal_recall_rate(predictions, actuals):
  """PERR of predictions [B, C] against actuals [B, C], as a float."""
  summary = top_k_summary_numpy(predictions, actuals, k=1)
  return float(np.mean(_video_perr(summary["perr_hits"],
                                   summary["num_positives"])))


def calculate_gap(predictions, actuals, top_k=20):
  """GAP over each video's top_k of predictions [B, C], actuals [B, C]."""
  predictions, actuals = _as_matrices(predictions, actuals)
  scores, ids = row_top_k(predictions, top_k)
  positive = np.take_along_axis(actuals > 0, ids, 1)
  return _pooled_ap(scores.ravel(), positive.ravel(),
                    np.count_nonzero(actuals > 0))


def top_k_by_class(predictions, labels, k=20):
  """Each class's entries among the videos' top k, as the original gave them.

  Args:
    predictions: [B, C] scores.
    labels: [B, C] ground truth; > 0 means positive.
    k: top predictions kept per video.

  Returns:
    (scores, labels, num_positives): two lists of C 1-D arrays, class c's
    scores and labels (1/0) in video order, and [C] int64 positives per class
    over all videos (also those outside the top k).
  """
  predictions, labels = _as_matrices(predictions, labels)
  scores, ids = row_top_k(predictions, k)
  positive = np.take_along_axis(labels > 0, ids, 1).ravel()
  order = np.argsort(ids.ravel(), kind="stable")
  splits = np.cumsum(np.bincount(ids.ravel(), minlength=labels.shape[1]))[:-1]
  return (np.split(scores.ravel()[order], splits),
          np.split(positive[order].astype(np.int64), splits),
          np.count_nonzero(labels > 0, axis=0))


class EvaluationMetrics:
  """Streams batches and reports Hit@1, PERR, GAP, mAP and the mean loss."""

  def __init__(self, num_class, top_k, top_n=None):
    """num_class classes; top_k predictions per video; top_n per class (mAP)."""
    if num_class <= 0 or top_k <= 0:
      raise ValueError(f"num_class ({num_class}) and top_k ({top_k}) must be "
                       "positive")
    if top_n is not None and top_n <= 0:
      raise ValueError(f"top_n must be positive or None, got {top_n}")
    self.num_class = num_class
    self.top_k = top_k
    self.top_n = top_n
    self.clear()

  def clear(self):
    """Forgets every accumulated batch."""
    self._batches = {name: [] for name in ("scores", "ids", "positive", "hit",
                                           "perr", "num_positives", "loss")}
    self._class_positives = np.zeros(self.num_class, np.int64)
    self.num_examples = 0

  def accumulate(self, predictions, labels, loss):
    """Adds a batch: predictions [B, C], labels [B, C], loss a scalar.

    Returns:
      This batch's {"hit_at_one", "perr", "gap", "loss"}.
    """
    return self.accumulate_summary(
        top_k_summary_numpy(predictions, labels, self.top_k), loss)

  def accumulate_summary(self, summary, loss):
    """Adds a batch given the numpy values of `top_k_summary`'s dict.

    Returns:
      This batch's {"hit_at_one", "perr", "gap", "loss"}.
    """
    scores = np.asarray(summary["top_k_scores"])
    ids = np.asarray(summary["top_k_ids"])
    positive = np.asarray(summary["top_k_positive"]).astype(bool)
    class_positives = np.asarray(summary["class_positives"])
    num_positives = np.asarray(summary["num_positives"])
    if class_positives.shape != (self.num_class,):
      raise ValueError(f"summary is for {class_positives.shape[-1]} classes, "
                       f"expected {self.num_class}")
    if scores.shape != ids.shape or ids.shape[1] > self.top_k:
      raise ValueError(f"summary top-k arrays {scores.shape}, {ids.shape} do "
                       f"not fit top_k={self.top_k}")
    hit = np.asarray(summary["hit_at_one"]).astype(np.float64)
    perr = _video_perr(np.asarray(summary["perr_hits"]), num_positives)
    batch = self._batches
    batch["scores"].append(scores.ravel())
    batch["ids"].append(ids.ravel())
    batch["positive"].append(positive.ravel())
    batch["hit"].append(hit)
    batch["perr"].append(perr)
    batch["num_positives"].append(num_positives)
    batch["loss"].append((float(loss), len(hit)))
    self._class_positives += class_positives
    self.num_examples += len(hit)
    return {"hit_at_one": float(np.mean(hit)), "perr": float(np.mean(perr)),
            "gap": _pooled_ap(scores.ravel(), positive.ravel(),
                              np.sum(num_positives)),
            "loss": float(loss)}

  def get(self):
    """Metrics over every accumulated video.

    Returns:
      Dict: avg_hit_at_one, avg_perr, gap (floats); avg_loss: the batch
      losses averaged with batch-size weights; aps: [num_class] float64
      per-class AP, NaN for a class with no positive; map: mean of the
      non-NaN aps (0.0 if none); num_classes_with_positives; num_examples.

    Raises:
      ValueError: nothing was accumulated.
    """
    if self.num_examples == 0:
      raise ValueError("EvaluationMetrics.get(): no examples accumulated")
    batch = {name: np.concatenate(parts) for name, parts in
             self._batches.items() if name != "loss"}
    losses, sizes = np.array(self._batches["loss"]).T
    aps = class_aps(batch["scores"], batch["ids"], batch["positive"],
                     self._class_positives, self.top_n)
    with_positives = int(np.count_nonzero(self._class_positives))
    return {
        "avg_hit_at_one": float(np.mean(batch["hit"])),
        "avg_perr": float(np.mean(batch["perr"])),
        "avg_loss": losses_lib.batch_weighted_mean(losses, sizes),
        "gap": _pooled_ap(batch["scores"], batch["positive"],
                          np.sum(batch["num_positives"], dtype=np.int64)),
        "aps": aps,
        "map": float(np.nanmean(aps)) if with_positives else 0.0,
        "num_classes_with_positives": with_positives,
        "num_examples": self.num_examples,
    }
