"""Non-interpolated average precision (AP) of a ranked list, and tie rules.

AP of a list ranked by descending score, with rel_j = 1 when the j-th entry
(1-based) is positive (actual > 0):

  AP@n = sum_{j <= n} precision@j * rel_j / min(P, n),
  precision@j = (sum_{i <= j} rel_i) / j

where P is the number of positives, including positives that are not among
the ranked entries (pass `num_positives` / `total_num_positives` for those),
and n is the cutoff (no cutoff: every entry, divided by P). As in the
original starter code, the cutoff also caps the denominator: a list cut at n
can hold at most n positives. AP is 0 when P is 0.

Ties: entries with equal scores form a tie group, and the AP is its
expected value when every tie group is put in a uniformly random order.
Each position j of a group of m entries, r of them positive, with i entries
and c positives ranked above the group, contributes

  E[rel_j * precision@j] = (r / m) * (c + 1 + (j - i - 1)(r - 1)/(m - 1)) / j

(McSherry & Najork, ECIR 2008): no dependence on input order or random
state, and the plain AP when no score ties. (The original shuffled with a
fixed seed: tied entries in an order given by the list length alone.)

  ap = AveragePrecisionCalculator.ap(predictions, actuals)

  calculator = AveragePrecisionCalculator(top_n=1000)
  for predictions, actuals in batches:
    calculator.accumulate(predictions, actuals)
  ap_at_1000 = calculator.peek_ap_at_n()

eval_util's per-video rules are numpy here too: `row_top_k` with `tie_keys`
(which tied classes enter a video's top k), `expected_hits` (Hit@1, PERR).
"""

import numpy as np

_TABLE_SIZE = 256
# _HARMONIC[n] = H(n) = 1 + 1/2 + ... + 1/n, exact sums for small n.
_HARMONIC = np.concatenate(
    ([0.0], np.cumsum(1.0 / np.arange(1, _TABLE_SIZE + 1))))
_EULER_GAMMA = 0.57721566490153286061


def _as_1d(values, name):
  array = np.asarray(values)
  if array.ndim != 1:
    raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
  return array


def _neg(scores):
  """-scores [...] (a copy): ascending order means descending scores."""
  scores = np.asarray(scores)
  if not np.issubdtype(scores.dtype, np.floating):
    # Negating unsigned or bool arrays would wrap around, not reverse.
    scores = scores.astype(np.float64)
  return -scores


def _harmonic_diff(a, b):
  """H(b) - H(a) for float64 integer arrays 0 <= a <= b, ~1e-15 relative."""
  def h(x):  # H(x) - ln(max(x, 256)): the table, or the asymptotic series
    big = np.maximum(x, _TABLE_SIZE)
    inv2 = 1.0 / (big * big)
    series = (_EULER_GAMMA + 0.5 / big - inv2 / 12 + inv2 * inv2 / 120 -
              inv2 ** 3 / 252)
    table = _HARMONIC[np.minimum(x, _TABLE_SIZE).astype(np.int64)]
    return np.where(x <= _TABLE_SIZE, table - np.log(big), series), table
  (h_a, table_a), (h_b, table_b) = h(a), h(b)
  # ln(b) - ln(a) by log1p: no cancellation between two large H.
  big_a = np.maximum(a, _TABLE_SIZE)
  spread = h_b - h_a + np.log1p((np.maximum(b, _TABLE_SIZE) - big_a) / big_a)
  return np.where(b <= _TABLE_SIZE, table_b - table_a, spread)


def _group(lists, neg, sizes, positives):
  """Merges entries of equal (list, score) into tie groups.

  Args:
    lists [N] int list ids, neg [N] negated scores, sizes [N] and
    positives [N] int: entries (or groups) to merge.

  Returns:
    (lists, neg, sizes, positives) of the G groups, sorted by list id, then
    descending score. NaN scores never tie (each is its own group, last).
  """
  if not neg.size:
    return lists, neg, sizes, positives
  if lists[0] == lists[-1] and not np.any(np.diff(lists)):
    # One list: a plain sort; the order within a tie does not matter.
    order = np.argsort(neg)
  else:
    order = np.lexsort((neg, lists))
  lists, neg = lists[order], neg[order]
  new = np.ones(neg.size, bool)
  new[1:] = (lists[1:] != lists[:-1]) | (neg[1:] != neg[:-1])
  starts = np.flatnonzero(new)
  return (lists[starts], neg[starts], np.add.reduceat(sizes[order], starts),
          np.add.reduceat(positives[order], starts))


def expected_precisions(ahead, positives_ahead, sizes, positives, top_n=None):
  """Each tie group's sum of E[rel_j * precision@j] over its counted ranks.

  Args:
    ahead, positives_ahead: [G] ints, entries and positives of the same
      list ranked above each group (i and c of the module docstring).
    sizes, positives: [G] ints, the group's entries (m) and positives (r).
    top_n: rank cutoff of the list, or None.

  Returns:
    [G] float64. A list's precision sum is the sum of its groups' values,
    added in rank order (what `precision_sums` does, and the streamed
    ranking in pooled_ranking.py, so both give the same bits).
  """
  i = np.asarray(ahead).astype(np.float64)
  c = np.asarray(positives_ahead).astype(np.float64)
  m = np.asarray(sizes).astype(np.float64)
  r = np.asarray(positives).astype(np.float64)
  span = m if top_n is None else np.clip(top_n - i, 0, m)  # ranks counted
  # sum of 1/j over the counted ranks: mostly a single rank (no tie).
  inverse = np.where(span > 0, 1.0 / (i + 1), 0.0)
  wide = np.flatnonzero(span > 1)
  inverse[wide] = _harmonic_diff(i[wide], i[wide] + span[wide])
  q = np.where(m > 1, (r - 1) / np.maximum(m - 1, 1), 0.0)
  # sum over the group's counted ranks j of (c + 1 + (j-i-1) q) / j.
  return r / m * ((c + 1) * inverse + q * (span - (i + 1) * inverse))


def _group_precision_sums(lists, sizes, positives, num_lists, top_n=None):
  """Per list: sum of E[rel_j * precision@j] over its ranks j <= top_n.

  Args:
    lists, sizes, positives: [G] tie groups as `_group` returns them.
    num_lists: number of lists (ids are 0..num_lists - 1).
    top_n: rank cutoff per list, or None.

  Returns:
    [num_lists] float64; divide by the denominator to get the AP.
  """
  if not sizes.size:
    return np.zeros(num_lists)
  ahead = np.cumsum(sizes) - sizes
  pos_ahead = np.cumsum(positives) - positives
  first = np.searchsorted(lists, lists)  # each list's first group
  expected = expected_precisions(ahead - ahead[first],
                                 pos_ahead - pos_ahead[first], sizes,
                                 positives, top_n)
  return np.bincount(lists, weights=expected, minlength=num_lists)


def precision_sums(scores, positive, lists=None, num_lists=1, top_n=None):
  """Tie-averaged sums of precision at the positives, for many lists at once.

  Args:
    scores: [N] entry scores; the input order does not matter.
    positive: [N] bool.
    lists: [N] int list id of each entry (e.g. its class), or None (one list).
    num_lists: number of lists (ids are 0..num_lists - 1).
    top_n: per list, only ranks 1..top_n count (None: all).

  Returns:
    [num_lists] float64 sums; AP = sums / min(P, top_n) for P positives.
  """
  scores = _as_1d(scores, "scores")
  positive = _as_1d(positive, "positive").astype(bool)
  lists = (np.zeros(scores.size, np.int64) if lists is None else
           _as_1d(lists, "lists").astype(np.int64))
  groups = _group(lists, _neg(scores), np.ones(scores.size, np.int64),
                  positive.astype(np.int64))
  return _group_precision_sums(groups[0], groups[2], groups[3], num_lists,
                               top_n)


def _fmix(h, shift_right):
  """MurmurHash3's 32-bit finalizer: uint32 [...] -> uint32 [...]."""
  h = h ^ shift_right(h, 16)
  h = h * 0x85EBCA6B
  h = h ^ shift_right(h, 13)
  h = h * 0xC2B2AE35
  return h ^ shift_right(h, 16)


def hash_tie_keys(bits, positive, classes, sum_rows, shift_right):
  """Tie keys uint32 [B, C] from the uint32 [B, C] bits of float32 scores.

  positive: uint32 [B, C] 0/1 labels; classes: uint32 [C] 0..C-1;
  sum_rows: t [B, C] -> [B] modulo 2^32; shift_right: (h, n) -> h >> n.
  uint32 arithmetic wraps modulo 2^32 in numpy and TensorFlow alike, so
  both compute the same keys (eval_util.top_k_summary).
  """
  salt = _fmix(classes * 0x9E3779B9 + 0x7F4A7C15, shift_right)
  # The video's fingerprint: a hash of all its scores and labels, so two
  # videos share their tie order only if they are identical.
  fingerprint = sum_rows(bits * (salt | 1) + positive * salt)
  return _fmix(fingerprint[:, None] ^ salt, shift_right)


def tie_keys(predictions, labels):
  """int64 [B, C] in [0, 2^32): which tied classes enter a video's top k.

  A pseudo-random function of the video's scores and labels ([B, C] each)
  and of the class, identical in eval_util.top_k_summary.
  """
  bits = np.ascontiguousarray(predictions, np.float32).view(np.uint32)
  positive = (np.asarray(labels) > 0).astype(np.uint32)
  return hash_tie_keys(bits, positive,
                       np.arange(bits.shape[1], dtype=np.uint32),
                       lambda t: t.sum(axis=1, dtype=np.uint32),
                       np.right_shift).astype(np.int64)


def row_top_k(predictions, k, keys=None):
  """Each row's k best classes, best first.

  Args:
    predictions: [B, C] scores.
    k: int; clipped to C.
    keys: None or int [B, C] (`tie_keys`): which of the classes tied at
      the k-th score get the places left: the lower keys (None: the lower
      class ids, what tf.math.top_k does). Either way equal scores are
      listed by lower class id.

  Returns:
    (scores [B, k] of predictions' dtype, class ids [B, k] int32).
  """
  b, c = predictions.shape
  k = min(k, c)
  if k <= 0:
    return predictions[:, :0], np.zeros((b, 0), np.int32)
  keys = (np.broadcast_to(np.arange(c), (b, c)) if keys is None else
          np.asarray(keys))
  neg = _neg(predictions)
  threshold = np.partition(neg, k - 1, axis=1)[:, k - 1:k]  # -(k-th best)
  keep = neg < threshold
  tied = neg == threshold
  room = k - np.count_nonzero(keep, axis=1)
  # Only rows with more ties at the threshold than free places need to pick
  # the lowest keys among them; that is rare with real-valued scores.
  crowded = np.flatnonzero(np.count_nonzero(tied, axis=1) > room)
  if crowded.size:
    order = np.argsort(np.where(tied[crowded], keys[crowded], np.iinfo(
        np.int64).max), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(c)[None, :], axis=1)
    tied[crowded] &= rank < room[crowded, None]
  keep |= tied
  ids = np.nonzero(keep)[1].reshape(b, k)  # ascending class id per row
  order = np.argsort(np.take_along_axis(neg, ids, 1), axis=1, kind="stable")
  ids = np.take_along_axis(ids, order, 1).astype(np.int32)
  return np.take_along_axis(predictions, ids, 1), ids


def expected_hits(predictions, positive, labels, ranked, num_positives):
  """Hit@1 and PERR hits of B videos, averaged over the orders of ties.

  Args:
    predictions: [B, C] scores; positive [B, C] bool; labels [B, C] values.
    ranked: [B, D] each row's D best scores, best first; D >= 1 and D >=
      the row's positives.
    num_positives: [B] int positives per row (n).

  Returns:
    (hit [B] float64: mean label over the classes tied at the top score;
    hits [B] float32: expected positives with score > 0 among the n best,
    a positive tied at the n-th score counting (places left) / (tied)).
  """
  top = predictions == ranked[:, :1]
  hit = (np.where(top, labels, 0).astype(np.float64).sum(axis=1) /
         np.count_nonzero(top, axis=1))
  nth = np.take_along_axis(ranked, np.maximum(num_positives - 1, 0)[:, None],
                           1)
  above, tied = predictions > nth, predictions == nth
  certain = np.count_nonzero(positive & above & (predictions > 0), axis=1)
  room = num_positives - np.count_nonzero(above, axis=1)
  shared = room * np.count_nonzero(positive & tied, axis=1) * (nth[:, 0] > 0)
  # float32 steps in eval_util.top_k_summary's order: equal results.
  hits = certain.astype(np.float32) + shared.astype(np.float32) / (
      np.count_nonzero(tied, axis=1).astype(np.float32))
  return hit, hits


def _check_cutoff(n, name):
  if n is not None and (isinstance(n, bool) or
                        not isinstance(n, (int, np.integer)) or n <= 0):
    raise ValueError(f"{name} must be a positive integer or None, got {n!r}")
  return None if n is None else int(n)


class AveragePrecisionCalculator:
  """Streams (prediction, actual) pairs and reports their AP.

  Entries are held as tie groups (score, entries, positives). With `top_n`,
  only the groups ranked within the top_n are kept, so memory stays
  O(top_n); the group straddling the cutoff is kept whole, since its
  expected contribution depends on all its members. Positives that fall
  out still count in P.
  """

  def __init__(self, top_n=None):
    self._top_n = _check_cutoff(top_n, "top_n")  # None: keep every entry
    self.clear()

  def clear(self):
    """Forgets everything accumulated."""
    # Merged tie groups, plus chunks not merged yet (merged lazily).
    self._groups = (np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))
    self._pending = []
    self._pending_size = 0
    self._total_positives = 0

  @property
  def heap_size(self):
    """Entries that count (the original kept them in a heap): <= top_n."""
    held = int(self._groups[1].sum()) + self._pending_size
    return held if self._top_n is None else min(held, self._top_n)

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
    # _neg copies: the caller may reuse its buffers before we merge.
    self._pending.append((_neg(predictions), actuals > 0))
    self._pending_size += predictions.size
    # Trimming only when twice over budget keeps the cost amortized O(log).
    if self._top_n is not None and self._pending_size > 2 * self._top_n:
      self._merge()

  def _merge(self):
    """Merges pending chunks into the groups; with top_n drops the tail."""
    if not self._pending:
      return
    neg = np.concatenate([self._groups[0]] + [p[0] for p in self._pending])
    sizes = np.concatenate([self._groups[1]] + [
        np.ones(p[0].size, np.int64) for p in self._pending])
    positives = np.concatenate([self._groups[2]] + [
        p[1].astype(np.int64) for p in self._pending])
    _, neg, sizes, positives = _group(np.zeros(neg.size, np.int64), neg,
                                      sizes, positives)
    if self._top_n is not None:
      keep = np.cumsum(sizes) - sizes < self._top_n
      neg, sizes, positives = neg[keep], sizes[keep], positives[keep]
    self._groups = (neg, sizes, positives)
    self._pending, self._pending_size = [], 0

  def peek_ap_at_n(self):
    """AP over the kept entries (the top_n, or all) against all positives."""
    if self.heap_size == 0 or self._total_positives <= 0:
      return 0.0
    self._merge()
    _, sizes, positives = self._groups
    total = _group_precision_sums(np.zeros(sizes.size, np.int64), sizes,
                                  positives, 1, self._top_n)[0]
    return float(total / _denominator(self._total_positives, self._top_n))

  @staticmethod
  def ap(predictions, actuals):
    """AP of every entry: predictions [N] scores, actuals [N] (> 0 positive)."""
    return AveragePrecisionCalculator.ap_at_n(predictions, actuals, n=None)

  @staticmethod
  def ap_at_n(predictions, actuals, n=20, total_num_positives=None):
    """AP of the n best-scored entries, ties averaged (module docstring).

    Args:
      predictions: [N] scores.
      actuals: [N] ground truth; > 0 means positive.
      n: rank cutoff (positive int), or None for every entry.
      total_num_positives: P; default: the number of actuals > 0. As in the
        original, the denominator is min(P, n) when n is given.

    Returns:
      The AP as a float; 0.0 when P is 0.
    """
    predictions = _as_1d(predictions, "predictions")
    actuals = _as_1d(actuals, "actuals")
    if predictions.shape != actuals.shape:
      raise ValueError(f"predictions {predictions.shape} and actuals "
                       f"{actuals.shape} must have the same shape")
    n = _check_cutoff(n, "n")
    if total_num_positives is None:
      total_num_positives = int(np.count_nonzero(actuals > 0))
    if total_num_positives <= 0:
      return 0.0
    total = precision_sums(predictions, actuals > 0, top_n=n)[0]
    return float(total / _denominator(total_num_positives, n))


def _denominator(total_positives, top_n):
  return total_positives if top_n is None else min(total_positives, top_n)
