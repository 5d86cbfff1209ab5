"""Per-class average precision, streamed: one AP calculator per class.

  calculator = MeanAveragePrecisionCalculator(num_class=3862)
  for predictions, actuals in batches:  # each [batch_size, 3862]
    calculator.accumulate(predictions, actuals)
  aps = calculator.peek_map_at_n()      # APs of the classes with positives
  mean_ap = np.mean(aps)

Each class's AP follows average_precision_calculator (ties averaged over
their orders; every positive counted even when `top_n` drops it; with top_n
the denominator is min(positives, top_n), as in the original).
EvaluationMetrics computes the same per-class APs in one vectorized pass;
this class keeps the original's interface for code that used it directly.
"""

import numpy as np

from youtube8m.evaluation import average_precision_calculator


class MeanAveragePrecisionCalculator:
  """Accumulates predictions of num_class classes and reports per-class APs."""

  def __init__(self, num_class, filter_empty_classes=True, top_n=None):
    """Creates one AP calculator per class.

    Args:
      num_class: number of classes (positive int).
      filter_empty_classes: if True, peek_map_at_n leaves out classes that
        have no accumulated positive (their AP, 0, would only drag the mean
        down), as the original did.
      top_n: per class, keep only the top_n highest scores (None: all).
    """
    if (isinstance(num_class, bool) or
        not isinstance(num_class, (int, np.integer)) or num_class <= 0):
      raise ValueError(f"num_class must be a positive integer, got "
                       f"{num_class!r}")
    self._num_class = int(num_class)
    self._filter_empty_classes = filter_empty_classes
    self._ap_calculators = [
        average_precision_calculator.AveragePrecisionCalculator(top_n=top_n)
        for _ in range(self._num_class)
    ]

  def _per_class(self, values, name):
    """Splits `values` into num_class 1-D sequences, one per class.

    A list or tuple is taken as the original took it: one sequence per class
    (outer length num_class). Anything else (numpy array, tensor) is taken as
    a [batch_size, num_class] matrix, and its columns are the classes.
    """
    if isinstance(values, (list, tuple)):
      if len(values) != self._num_class:
        raise ValueError(f"{name}: a list must hold one sequence per class "
                         f"({self._num_class}), got {len(values)}")
      return values
    matrix = np.asarray(values)
    if matrix.ndim != 2 or matrix.shape[1] != self._num_class:
      raise ValueError(f"{name} must be [batch_size, {self._num_class}] (or a "
                       f"list of one sequence per class), got shape "
                       f"{matrix.shape}")
    return matrix.T

  def accumulate(self, predictions, actuals, num_positives=None):
    """Adds a batch.

    Args:
      predictions: [batch_size, num_class] scores, or a list of num_class
        1-D score sequences (one per class, any lengths).
      actuals: ground truth of the same layout; > 0 means positive.
      num_positives: None, or a length-num_class sequence: positives to count
        per class instead of counting actuals > 0 (for positives that are not
        among the passed entries).

    Raises:
      ValueError: layouts or shapes do not match num_class.
    """
    predictions = self._per_class(predictions, "predictions")
    actuals = self._per_class(actuals, "actuals")
    if num_positives is None:
      num_positives = [None] * self._num_class
    elif len(num_positives) != self._num_class:
      raise ValueError(f"num_positives must have {self._num_class} entries, "
                       f"got {len(num_positives)}")
    # A loop over classes, not entries: each call below is vectorized.
    for calculator, p, a, n in zip(self._ap_calculators, predictions, actuals,
                                   num_positives):
      calculator.accumulate(p, a, n)

  def clear(self):
    """Forgets everything accumulated."""
    for calculator in self._ap_calculators:
      calculator.clear()

  def is_empty(self):
    """True when no class holds any entry."""
    return all(c.heap_size == 0 for c in self._ap_calculators)

  def peek_map_at_n(self):
    """Per-class APs, in class order.

    Returns:
      A list of floats: one per class, or, with filter_empty_classes, one per
      class that has at least one accumulated positive (the class ids are
      then those with num_accumulated_positives > 0).
    """
    return [
        c.peek_ap_at_n()
        for c in self._ap_calculators
        if not self._filter_empty_classes or c.num_accumulated_positives > 0
    ]
