"""Non-interpolated average precision (AP) of a ranked list, streamed or not.

AP of a list ranked by descending score, with rel_i = 1 when the i-th entry
(1-based) is positive (actual > 0):

  AP = sum_i precision@i * rel_i / P,   precision@i = (sum_{j<=i} rel_j) / i

where P is the number of positives, including positives that are not among
the ranked entries (pass `num_positives` / `total_num_positives` for those).
AP is 0 when P is 0.

Ties: entries with equal scores are ranked in input order (for a calculator:
accumulation order), i.e. a stable sort on descending score. The original
shuffled with numpy's global random generator; nothing here touches any
random state, so the same inputs always give the same AP.

Two ways to use it:

  ap = AveragePrecisionCalculator.ap(predictions, actuals)

  calculator = AveragePrecisionCalculator(top_n=1000)
  for predictions, actuals in batches:
    calculator.accumulate(predictions, actuals)
  ap_at_1000 = calculator.peek_ap_at_n()
"""

import numpy as np


def _as_1d(values, name):
  array = np.asarray(values)
  if array.ndim != 1:
    raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
  return array


def _descending_order(scores):
  """Indices [N] ranking `scores` [N] high to low, ties in input order."""
  scores = np.asarray(scores)
  if not np.issubdtype(scores.dtype, np.floating):
    # Negating unsigned or bool arrays would wrap around instead of reversing.
    scores = scores.astype(np.float64)
  return np.argsort(-scores, kind="stable")


def _ranked_ap(relevant, total_positives):
  """AP of a ranking given as booleans [N] (best first) over P positives."""
  if total_positives <= 0:
    return 0.0
  hit_ranks = np.flatnonzero(relevant) + 1  # 1-based ranks of the positives
  # The j-th positive found (1-based) sits at rank hit_ranks[j - 1].
  precisions = np.arange(1, hit_ranks.size + 1) / hit_ranks
  return float(np.sum(precisions) / total_positives)


class AveragePrecisionCalculator:
  """Streams (prediction, actual) pairs and reports their AP.

  With `top_n`, only the top_n highest-scored entries are kept (ties: earlier
  accumulated first), so memory stays O(top_n); positives that fall out of
  the kept entries still count in P.
  """

  def __init__(self, top_n=None):
    """top_n: None (keep every entry) or a positive int."""
    if top_n is not None and (isinstance(top_n, bool) or
                              not isinstance(top_n, (int, np.integer)) or
                              top_n <= 0):
      raise ValueError(f"top_n must be a positive integer or None, got "
                       f"{top_n!r}")
    self._top_n = None if top_n is None else int(top_n)
    self.clear()

  def clear(self):
    """Forgets everything accumulated."""
    # Chunks in accumulation order; merged (and trimmed to top_n) lazily.
    self._predictions = []
    self._actuals = []
    self._size = 0
    self._total_positives = 0

  @property
  def heap_size(self):
    """Number of entries held (the original kept them in a heap)."""
    if self._top_n is not None:
      return min(self._size, self._top_n)
    return self._size

  @property
  def num_accumulated_positives(self):
    """Positives counted so far (the P of the AP), kept or not."""
    return self._total_positives

  def accumulate(self, predictions, actuals, num_positives=None):
    """Adds entries to the ranked list.

    Args:
      predictions: [N] scores.
      actuals: [N] ground truth; > 0 means positive.
      num_positives: positives to add to P for this call instead of counting
        actuals > 0. Use it when some positives of this call are not among
        the entries (e.g. only each video's top-k predictions are passed).

    Raises:
      ValueError: shapes differ, or num_positives is negative.
    """
    predictions = _as_1d(predictions, "predictions")
    actuals = _as_1d(actuals, "actuals")
    if predictions.shape != actuals.shape:
      raise ValueError(f"predictions {predictions.shape} and actuals "
                       f"{actuals.shape} must have the same shape")
    if num_positives is None:
      num_positives = int(np.count_nonzero(actuals > 0))
    elif num_positives < 0:
      raise ValueError(f"num_positives must be >= 0, got {num_positives}")
    self._total_positives += int(num_positives)
    if predictions.size == 0:
      return
    # Copy: the caller may reuse its buffers before we merge.
    self._predictions.append(np.array(predictions))
    self._actuals.append(actuals > 0)
    self._size += predictions.size
    # Trimming only when twice over budget keeps the cost amortized O(log).
    if self._top_n is not None and self._size > 2 * self._top_n:
      self._merge()

  def _merge(self):
    """Concatenates the chunks; with top_n keeps only the best top_n."""
    if len(self._predictions) > 1:
      self._predictions = [np.concatenate(self._predictions)]
      self._actuals = [np.concatenate(self._actuals)]
    if self._top_n is not None and self._size > self._top_n:
      # Keep the survivors in accumulation order so that later ties are
      # still broken by accumulation order.
      keep = np.sort(_descending_order(self._predictions[0])[:self._top_n])
      self._predictions = [self._predictions[0][keep]]
      self._actuals = [self._actuals[0][keep]]
      self._size = self._top_n

  def peek_ap_at_n(self):
    """AP over the kept entries (the top_n, or all) against all positives."""
    if self._size == 0:
      return 0.0
    self._merge()
    return self.ap_at_n(self._predictions[0], self._actuals[0], n=self._top_n,
                        total_num_positives=self._total_positives)

  @staticmethod
  def ap(predictions, actuals):
    """AP of every entry: predictions [N] scores, actuals [N] (> 0 positive)."""
    return AveragePrecisionCalculator.ap_at_n(predictions, actuals, n=None)

  @staticmethod
  def ap_at_n(predictions, actuals, n=20, total_num_positives=None):
    """AP of the n best-scored entries.

    Args:
      predictions: [N] scores.
      actuals: [N] ground truth; > 0 means positive.
      n: rank cutoff (positive int), or None for every entry.
      total_num_positives: P; default: the number of actuals > 0. Unlike the
        original, P is not capped at n: positives ranked below n still count.

    Returns:
      The AP as a float; 0.0 when P is 0.
    """
    predictions = _as_1d(predictions, "predictions")
    actuals = _as_1d(actuals, "actuals")
    if predictions.shape != actuals.shape:
      raise ValueError(f"predictions {predictions.shape} and actuals "
                       f"{actuals.shape} must have the same shape")
    if n is not None and (isinstance(n, bool) or
                          not isinstance(n, (int, np.integer)) or n <= 0):
      raise ValueError(f"n must be a positive integer or None, got {n!r}")
    if total_num_positives is None:
      total_num_positives = int(np.count_nonzero(actuals > 0))
    if total_num_positives <= 0:
      return 0.0
    order = _descending_order(predictions)
    if n is not None:
      order = order[:n]
    return _ranked_ap(actuals[order] > 0, total_num_positives)
