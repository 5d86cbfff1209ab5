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

Exact ties favour no class and no video, and use no random state:
  - Hit@1 and PERR are their expected values when tied scores are ordered
    uniformly at random: Hit@1 is the mean label over the classes tied at
    the top; PERR counts each positive tied at the n-th score by the share
    of the n places left to the tie.
  - Pooled lists (GAP, per-class AP) average over the orders of each run of
    equal scores (average_precision_calculator's rule).
  - Which of the classes tied at a video's k-th score enter its top k is
    decided by `tie_keys`: a hash of the video's scores and labels, and of
    the class; never by class id.
numpy and TensorFlow paths agree exactly.

The evaluator runs `top_k_summary` (TensorFlow) inside its eval step, so only
[batch_size, top_k] arrays reach the host, and feeds their numpy values to
`EvaluationMetrics.accumulate_summary`. The host keeps the top-k entries in
flat memory and ranks them at `get()` (pooled_ranking.py); streamed
results are identical to one-shot results over the same videos.
"""

import numpy as np
import tensorflow as tf

from youtube8m.evaluation import average_precision_calculator as ap_calculator
from youtube8m.evaluation import pooled_ranking
from youtube8m.models import losses as losses_lib


def _as_matrices(predictions, labels):
  predictions = np.asarray(predictions)
  labels = np.asarray(labels)
  if predictions.ndim != 2 or predictions.shape != labels.shape:
    raise ValueError(f"predictions {predictions.shape} and labels "
                     f"{labels.shape} must both be [batch_size, num_classes]")
  return predictions, labels


# The seed's names; segment_inference ranks with row_top_k too.
row_top_k = ap_calculator.row_top_k
tie_keys = ap_calculator.tie_keys


def top_k_summary_numpy(predictions, labels, k=20):
  """numpy twin of `top_k_summary`: same keys, same values.

  Exact ties are resolved as the module docstring says, identically.

  Args:
    predictions: [B, C] scores.
    labels: [B, C] ground truth; > 0 means positive.
    k: top predictions kept per video.

  Returns:
    The dict described in `top_k_summary`, as numpy arrays.
  """
  predictions, labels = _as_matrices(predictions, labels)
  k = min(k, predictions.shape[1])
  positive = labels > 0
  num_positives = np.count_nonzero(positive, axis=1).astype(np.int32)
  depth = max(k, int(num_positives.max(initial=0)))
  ranked, _ = row_top_k(predictions, depth)
  hit_at_one, perr_hits = ap_calculator.expected_hits(
      predictions, positive, labels, ranked, num_positives)
  scores, ids = row_top_k(predictions, k, tie_keys(predictions, labels))
  return {
      "top_k_scores": scores,
      "top_k_ids": ids,
      "top_k_positive": np.take_along_axis(positive, ids, 1),
      "hit_at_one": hit_at_one,
      "perr": perr_hits / np.maximum(num_positives, 1).astype(np.float32),
      "perr_hits": perr_hits,
      "num_positives": num_positives,
      "class_positives": np.count_nonzero(positive, axis=0).astype(np.int32),
  }


def _tied_summary(predictions, labels, positive, num_positives, best, ids,
                  k):
  """(top-k ids [R, k], hit [R], perr hits [R]) of R rows with tied cuts.

  The same values as `top_k_summary_numpy`. Needed for the rows where a
  tie has members on both sides of rank 1, n or k: the whole row counts.
  """
  def count(mask):
    return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)

  def shift_right(h, n):
    return tf.bitwise.right_shift(h, tf.constant(n, h.dtype))
  keys = tf.cast(ap_calculator.hash_tie_keys(
      tf.bitcast(tf.cast(predictions, tf.float32), tf.uint32),
      tf.cast(positive, tf.uint32),
      tf.cast(tf.range(tf.shape(predictions)[1]), tf.uint32),
      lambda t: tf.reduce_sum(t, axis=1), shift_right), tf.int64)
  # The first entries of `ids` are those above the k-th score; the places
  # left go to the entries tied at it with the lowest keys.
  cut = best[:, k - 1:k]
  above = count(predictions > cut)[:, tf.newaxis]
  _, by_key = tf.math.top_k(tf.where(predictions == cut, -keys,
                                     tf.int64.min), k=k)
  place = tf.range(k)[tf.newaxis, :]
  top = tf.sort(tf.where(place < above, ids[:, :k], tf.gather(
      by_key, tf.maximum(place - above, 0), batch_dims=1)), axis=1)
  _, order = tf.math.top_k(tf.gather(predictions, top, batch_dims=1), k=k)
  top = tf.gather(top, order, batch_dims=1)  # equal scores: lower id first
  # float64, as numpy's: a tie makes a fraction the two must agree on.
  first = tf.cast(predictions == best[:, :1], tf.float64)
  hit = tf.reduce_sum(tf.cast(labels, tf.float64) * first, axis=1) / (
      tf.reduce_sum(first, axis=1))
  nth = tf.gather(best, tf.maximum(num_positives - 1, 0)[:, tf.newaxis],
                  batch_dims=1)
  above, tied = predictions > nth, predictions == nth
  room = num_positives - count(above)
  shared = room * count(positive & tied) * tf.cast(nth[:, 0] > 0, tf.int32)
  hits = (tf.cast(count(positive & above & (predictions > 0)), tf.float32) +
          tf.cast(shared, tf.float32) / tf.cast(count(tied), tf.float32))
  return top, hit, hits


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
      top_k_ids [B, k] int32; of the classes tied at the k-th score, those
        with the lower `tie_keys` enter; equal scores by lower class id;
      top_k_positive [B, k] bool;
      hit_at_one [B] float64: mean label value of the top-scored classes;
      perr [B] float32; perr_hits [B] float32: expected positives with
        score > 0 among the video's num_positives best classes, ties
        averaged (the host divides these);
      num_positives [B] int32;
      class_positives [C] int32: positives per class in the batch.
  """
  predictions = tf.convert_to_tensor(predictions)
  labels = tf.convert_to_tensor(labels)
  positive = labels > 0
  num_positives = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
  width = tf.shape(predictions)[-1]
  k = tf.minimum(k, width)
  # One rank deeper than needed shows whether a tie straddles rank r: the
  # r-th and (r+1)-th scores are equal.
  depth = tf.minimum(tf.maximum(k, tf.reduce_max(num_positives)) + 1, width)
  best, ids = tf.math.top_k(predictions, k=depth)

  def straddles(rank):
    after = tf.gather(best, tf.minimum(rank, depth - 1), batch_dims=1)
    return (rank < depth) & (
        tf.gather(best, rank - 1, batch_dims=1) == after)
  ones = tf.ones_like(num_positives)
  # Rows whose ranks 1, n and k are clear (the common case) need only the
  # top_k; the others are recomputed from their whole rows.
  rows = tf.where(straddles(ones) | straddles(tf.maximum(num_positives, 1)) |
                  straddles(k * ones))
  within_n = tf.range(depth)[tf.newaxis, :] < num_positives[:, tf.newaxis]
  perr_hits = tf.reduce_sum(tf.cast(tf.gather(positive, ids, batch_dims=1) &
                                    (best > 0) & within_n, tf.float32), 1)
  hit_at_one = tf.cast(tf.gather(labels, ids[:, 0], batch_dims=1),
                       tf.float64)
  top = ids[:, :k]
  tied = _tied_summary(*(tf.gather_nd(t, rows) for t in (
      predictions, labels, positive, num_positives, best, ids)), k)
  top, hit_at_one, perr_hits = (tf.tensor_scatter_nd_update(t, rows, u) for
                                t, u in zip((top, hit_at_one, perr_hits),
                                            tied))
  return {
      "top_k_scores": tf.gather(predictions, top, batch_dims=1),
      "top_k_ids": top,
      "top_k_positive": tf.gather(positive, top, batch_dims=1),
      "hit_at_one": hit_at_one,
      "perr": perr_hits / tf.cast(tf.maximum(num_positives, 1), tf.float32),
      "perr_hits": perr_hits,
      "num_positives": num_positives,
      "class_positives": tf.reduce_sum(tf.cast(positive, tf.int32), axis=0),
  }


def _video_perr(perr_hits, num_positives):
  """Per-video PERR [B] float64 from the (expected) hit counts [B]."""
  return perr_hits / np.maximum(num_positives, 1).astype(np.float64)


def _pooled_ap(scores, positive, total_positives):
  """GAP of pooled top-k entries: scores [N], positive [N]; ties averaged."""
  return ap_calculator.AveragePrecisionCalculator.ap_at_n(
      scores, positive, n=None, total_num_positives=int(total_positives))


def class_aps(scores, ids, positive, class_positives, top_n=None):
  """Per-class AP of pooled top-k entries, all classes in one pass.

  Args:
    scores, ids, positive: [N] entries (score, class id, is-positive), in
      any order: equal scores are averaged over their orders.
    class_positives: [C] total positives per class (the denominators; with
      top_n, min(positives, top_n), as the original's calculator).
    top_n: per class, only its top_n entries count (None: all).

  Returns:
    [C] float64 APs; NaN for classes without positives.
  """
  sums = ap_calculator.precision_sums(scores, positive, ids,
                                      class_positives.size, top_n)
  return pooled_ranking.aps_of_sums(sums, class_positives, top_n)


def calculate_hit_at_one(predictions, actuals):
  """Hit@1 of predictions [B, C] against actuals [B, C], ties averaged."""
  predictions, actuals = _as_matrices(predictions, actuals)
  best = np.max(predictions, axis=1, keepdims=True)
  hit, _ = ap_calculator.expected_hits(predictions, actuals > 0, actuals,
                                       best, np.zeros(len(best), np.int64))
  return pooled_ranking.exact_mean(hit)


def calculate_precision_at_equal_recall_rate(predictions, actuals):
  """PERR of predictions [B, C] against actuals [B, C], as a float."""
  summary = top_k_summary_numpy(predictions, actuals, k=1)
  return pooled_ranking.exact_mean(_video_perr(summary["perr_hits"],
                                              summary["num_positives"]))


def calculate_gap(predictions, actuals, top_k=20):
  """GAP over each video's top_k of predictions [B, C], actuals [B, C]."""
  predictions, actuals = _as_matrices(predictions, actuals)
  scores, ids = row_top_k(predictions, top_k, tie_keys(predictions, actuals))
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
  scores, ids = row_top_k(predictions, k, tie_keys(predictions, labels))
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
    if getattr(self, "_entries", None) is not None:
      self._entries.close()
    # Memory stays flat in the number of videos (pooled_ranking.py): the
    # top-k entries spill to a temporary file past a fixed buffer, the
    # per-video means are exact running sums.
    self._entries = pooled_ranking.PooledEntries()
    self._hit, self._perr = pooled_ranking.ExactMean(), pooled_ranking.ExactMean()
    self._losses = []  # (loss, videos) per batch
    self._positives = 0
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
    self._entries.add(scores, ids, positive)
    self._hit.add(hit)
    self._perr.add(perr)
    self._positives += int(np.sum(num_positives, dtype=np.int64))
    self._losses.append((float(loss), len(hit)))
    self._class_positives += class_positives
    self.num_examples += len(hit)
    return {"hit_at_one": float(np.mean(hit)), "perr": float(np.mean(perr)),
            "gap": _pooled_ap(scores.ravel(), positive.ravel(),
                              np.sum(num_positives)),
            "loss": float(loss)}

  def pooled(self):
    """The accumulated top-k entries, in the order they were added.

    Returns:
      (scores [N], class ids [N], is-positive [N] bool, positives per class
      [num_class] int64); N sums every video's top-k length. All in memory
      at once: for tests and small evaluations; `curves` gives the figures
      in flat memory.
    """
    return (*self._entries.arrays(), self._class_positives.copy())

  def curves(self, thresholds, curve_points):
    """Figure data of the pooled list, in flat memory.

    Args:
      thresholds: ascending float [T], or None (no counts).
      curve_points: most points of the ranked curve kept (0: none).

    Returns:
      dict: positives_at, negatives_at [T] int64: entries scored at or
      above each threshold; curve [H, 2] int64: (entries ranked, positives
      found) after tie groups that hold a positive, best first (at most
      curve_points of them, evenly spaced); entries, positive_entries:
      of the pooled list; total_positives: all positives (int).
    """
    result = pooled_ranking.rank(
        self._entries, self.num_class, self.top_n,
        None if thresholds is None else np.asarray(thresholds, np.float64),
        curve_points)
    result["total_positives"] = int(self._class_positives.sum())
    return result

  @property
  def class_positives(self):
    """[num_class] int64 positives per class over every video."""
    return self._class_positives.copy()

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
    losses, sizes = np.array(self._losses).T
    ranking = pooled_ranking.rank(self._entries, self.num_class, self.top_n)
    aps = pooled_ranking.aps_of_sums(ranking["class_sums"], self._class_positives,
                       self.top_n)
    with_positives = int(np.count_nonzero(self._class_positives))
    return {
        "avg_hit_at_one": self._hit.mean(),
        "avg_perr": self._perr.mean(),
        "avg_loss": losses_lib.batch_weighted_mean(losses, sizes),
        # AP over the pooled list, 0 without positives (ap_at_n's rule).
        "gap": (ranking["gap_sum"] / self._positives if self._positives > 0
                else 0.0),
        "aps": aps,
        "map": float(np.nanmean(aps)) if with_positives else 0.0,
        "num_classes_with_positives": with_positives,
        "num_examples": self.num_examples,
    }
