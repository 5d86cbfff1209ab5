"""The pooled top-k entries of an evaluation, in memory that stays flat.

GAP and per-class AP rank every video's top-k (score, class, is-positive)
entries together, so an evaluation must remember them all: 20 entries a
video, 22 million on the 1.1-million-video 2018 validate set. Held as
numpy arrays and ranked with a sort, they and the sort's temporaries cost
about 3 KB a video at the end of a pass. Here:

  * `PooledEntries` holds entries as 12 bytes each (a 64-bit rank key of
    the score and a 32-bit class/label word) in a buffer of CAPACITY
    entries; a full buffer is appended to an anonymous temporary file
    (deleted by the OS even if the process is killed), so memory stays
    flat however many videos pass.
  * `rank` visits the entries in descending score order, a key range at a
    time (each range fits the buffer; ranges are found by histograms of
    the keys, refined where many entries share high bits), and sums each
    tie group's expected precision (average_precision_calculator's
    formula) in rank order, per list: the same float additions in the same
    order as ranking everything at once, so GAP and every class's AP are
    bit-identical to the one-sort computation.
  * `ExactMean` averages per-video values exactly (integer arithmetic,
    rounded once), so streamed and one-shot means agree to the last bit
    without keeping the values.
"""

import fractions
import tempfile

import numpy as np

from youtube8m.evaluation import average_precision_calculator as ap_calculator

CAPACITY = 1 << 20  # entries held in memory (12 MB), ~50,000 videos
_READ = 1 << 20  # entries per read of the spill file
_PIECE = 1 << 17  # entries ranked at once (their temporaries: ~30 MB)
_NAN_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)  # NaN scores rank last, untied
_TOP = np.uint64(1 << 63)
_ENTRY = np.dtype([("key", "<u8"), ("word", "<u4")])


def score_keys(scores):
  """uint64 keys [N] whose ascending order is the scores' descending order.

  Equal scores (-0.0 and 0.0 included) get equal keys; NaN gets the
  largest key. float32 scores are widened exactly, so keys of float32 and
  float64 scores compare as the numbers do.
  """
  values = np.asarray(scores, np.float64) + 0.0  # -0.0 becomes 0.0
  bits = values.view(np.uint64)
  negative = (bits & _TOP) != 0
  ascending = np.where(negative, ~bits, bits | _TOP)
  keys = ~ascending
  keys[np.isnan(values)] = _NAN_KEY
  return keys


def key_scores(keys):
  """The float64 scores [N] of `score_keys` keys (NaN for the NaN key)."""
  ascending = ~np.asarray(keys, np.uint64)
  bits = np.where((ascending & _TOP) != 0, ascending & ~_TOP, ~ascending)
  return bits.view(np.float64)


class ExactMean:
  """The mean of float values added in batches, exact then rounded once."""

  _UNIT = 1126  # every finite float64 is an integer multiple of 2**-1126

  def __init__(self):
    self._total, self._count, self._special = 0, 0, 0.0

  def add(self, values):
    values = np.asarray(values, np.float64).ravel()
    self._count += values.size
    finite = np.isfinite(values)
    if not finite.all():  # NaN/inf propagate as a float sum would
      self._special += float(np.sum(values[~finite]))
      values = values[finite]
    mantissas, exponents = np.frexp(values)
    integers = (mantissas * 2.0 ** 53).astype(np.int64)  # exact
    for exponent in np.unique(exponents):
      part = integers[exponents == exponent]
      # Two halves, so no int64 sum can overflow.
      total = (int(np.sum(part >> 26)) << 26) + int(np.sum(part & 0x3FFFFFF))
      self._total += total << int(exponent - 53 + self._UNIT)

  def mean(self):
    if not self._count:
      return float("nan")
    if self._special:
      return self._special
    return float(fractions.Fraction(self._total,
                                    self._count << self._UNIT))


class PooledEntries:
  """Every (score, class, positive) entry added, in flat memory."""

  def __init__(self, capacity=CAPACITY):
    self.capacity = int(capacity)
    self._buffer = np.empty(self.capacity, _ENTRY)
    self._held = 0
    self._file = None
    self._spilled = 0
    self._low, self._high = None, None  # smallest and largest key (ints)
    self.dtype = None

  def __len__(self):
    return self._spilled + self._held

  def close(self):
    if self._file is not None:
      self._file.close()
      self._file = None

  def add(self, scores, ids, positive):
    """Appends entries: scores [N] float, class ids [N] int, positive [N]."""
    scores = np.asarray(scores).ravel()
    if self.dtype is None:
      self.dtype = scores.dtype
    keys = score_keys(scores)
    if keys.size:
      low, high = int(keys.min()), int(keys.max())
      self._low = low if self._low is None else min(self._low, low)
      self._high = high if self._high is None else max(self._high, high)
    words = (np.asarray(ids).ravel().astype(np.uint32) << 1) | np.asarray(
        positive, bool).ravel()
    start = 0
    while start < keys.size:
      take = min(keys.size - start, self.capacity - self._held)
      part = self._buffer[self._held:self._held + take]
      part["key"], part["word"] = (keys[start:start + take],
                                   words[start:start + take])
      self._held += take
      start += take
      if self._held == self.capacity:
        self._spill()

  def _spill(self):
    if self._file is None:
      self._file = tempfile.TemporaryFile(prefix="yt8m-eval-entries-")
    self._file.seek(0, 2)
    self._file.write(self._buffer[:self._held].tobytes())
    self._spilled += self._held
    self._held = 0

  def chunks(self):
    """The entries in the order added, as structured arrays."""
    if self._file is not None:
      self._file.seek(0)
      step = min(_READ, self.capacity)  # reads no bigger than the buffer
      for _ in range(0, self._spilled, step):
        yield np.frombuffer(self._file.read(step * _ENTRY.itemsize), _ENTRY)
    if self._held:
      yield self._buffer[:self._held]

  def arrays(self):
    """(scores [N] of the added dtype, class ids [N] int32, positive [N]):
    every entry in memory at once (not flat; for small evaluations)."""
    parts = list(self.chunks())
    entries = (np.concatenate(parts) if parts else np.zeros(0, _ENTRY))
    return (key_scores(entries["key"]).astype(self.dtype or np.float32),
            (entries["word"] >> 1).astype(np.int32),
            (entries["word"] & 1).astype(bool))

  def ranges(self):
    """Sorted entry blocks covering whole key ranges, in key order.

    Each block holds every entry of its keys, so no tie group is split,
    and at most `capacity` entries unless a single key has more.
    """
    if not self._spilled:
      if self._held:
        block = self._buffer[:self._held].copy()
        yield block[np.lexsort((block["word"], block["key"]))]
      return
    yield from self._ranges(self._low, self._high, len(self))

  def _select(self, low, high):
    """Yields the entries with keys in low..high (Python ints), unsorted."""
    low, high = np.uint64(low), np.uint64(high)
    for chunk in self.chunks():
      yield chunk[(chunk["key"] >= low) & (chunk["key"] <= high)]

  def _ranges(self, low, high, count):
    """Sorted blocks of the `count` entries with keys in low..high."""
    if count <= self.capacity or low == high:
      block = np.concatenate([np.zeros(0, _ENTRY),
                              *self._select(low, high)])
      yield block[np.lexsort((block["word"], block["key"]))]
      return
    # At most 2**16 bins over the keys' spread: each level of refinement
    # narrows a range 65,536-fold, so there are at most 4 levels.
    shift = max(0, (high - low).bit_length() - 16)
    bins = np.zeros(((high - low) >> shift) + 1, np.int64)
    for keys in self._select(low, high):
      bins += np.bincount(((keys["key"] - np.uint64(low)) >>
                           np.uint64(shift)).astype(np.int64),
                          minlength=bins.size)
    parts, start, total = [], 0, 0
    for b, size in enumerate(bins.tolist() + [None]):
      if size is None or (total and total + size > self.capacity):
        parts.append((low + (start << shift),
                      min(high, low + (b << shift) - 1), total))
        start, total = b, 0
      if size is not None:
        total += size
        if not total:
          start = b + 1
    del bins
    for part in parts:
      if part[2]:
        yield from self._ranges(*part)


def _pieces(blocks):
  """The sorted blocks cut into pieces of about _PIECE entries, between
  tie groups (a NaN key ties with nothing, so it can be cut anywhere)."""
  for block in blocks:
    keys, start = block["key"], 0
    while start < block.size:
      cut = start + _PIECE
      if cut < block.size and keys[cut] != _NAN_KEY:
        cut = max(int(np.searchsorted(keys, keys[cut], "left")),
                  start + 1)
        if keys[cut - 1] == keys[cut]:  # one score holds the whole piece
          cut = int(np.searchsorted(keys, keys[cut], "right"))
      yield block[start:cut]
      start = cut


def rank(entries, num_class, top_n=None, thresholds=None, curve_points=0):
  """Ranks the pooled entries: precision sums for GAP and each class's AP.

  Args:
    entries: a PooledEntries.
    num_class: classes (ids are below it).
    top_n: per-class rank cutoff of the class APs (None: every entry).
    thresholds: optional ascending float64 [T]: count the entries scored at
      or above each (for the threshold precision-recall curve).
    curve_points: keep at most this many points of the ranked curve.

  Returns:
    dict: gap_sum (float, the GAP's numerator), class_sums [num_class]
    float64, entries and positive_entries (ints), and with thresholds `positives_at`/`negatives_at` [T] int64;
    with curve_points `curve` (entries ranked, positives found) [H, 2]
    int64 at the last tie group of each step.
  """
  gap_sum = np.zeros(1)
  class_sums = np.zeros(num_class)
  ahead, positives_ahead = 0, 0
  class_ahead = np.zeros(num_class, np.int64)
  class_positives_ahead = np.zeros(num_class, np.int64)
  counts = (np.zeros(len(thresholds) + 1, np.int64) if thresholds is not None
            else None)
  positive_counts = np.zeros_like(counts) if counts is not None else None
  curve = []
  for piece in _pieces(entries.ranges()):
    keys, words = piece["key"], piece["word"]
    classes, positive = words >> 1, (words & 1).astype(np.int64)
    untied = keys == _NAN_KEY  # NaN scores never tie
    new_score = np.ones(keys.size, bool)
    new_score[1:] = (keys[1:] != keys[:-1]) | untied[1:]
    # The pooled list (GAP): one group per distinct score.
    starts = np.flatnonzero(new_score)
    sizes = np.diff(np.append(starts, keys.size))
    hits = np.add.reduceat(positive, starts)
    before = np.cumsum(sizes) - sizes + ahead
    hits_before = np.cumsum(hits) - hits + positives_ahead
    expected = ap_calculator.expected_precisions(before, hits_before, sizes,
                                                 hits)
    np.add.at(gap_sum, np.zeros(expected.size, np.intp), expected)
    if curve_points:
      found = np.flatnonzero(hits)
      curve.append(np.stack([before[found] + sizes[found],
                             hits_before[found] + hits[found]], axis=1))
    if counts is not None:
      index = np.searchsorted(thresholds, key_scores(keys[starts]), "right")
      np.add.at(counts, index, sizes)
      np.add.at(positive_counts, index, hits)
    ahead, positives_ahead = ahead + keys.size, positives_ahead + int(
        hits.sum())
    # Each class's list: one group per (score, class).
    new_group = new_score.copy()
    new_group[1:] |= classes[1:] != classes[:-1]
    starts = np.flatnonzero(new_group)
    group_class = classes[starts].astype(np.int64)
    sizes = np.diff(np.append(starts, keys.size))
    hits = np.add.reduceat(positive, starts)
    # The class's groups in rank order, to count what is ahead of each.
    order = np.argsort(group_class, kind="stable")
    group_class, sizes, hits = group_class[order], sizes[order], hits[order]
    first = np.searchsorted(group_class, group_class)
    within = np.cumsum(sizes) - sizes
    hits_within = np.cumsum(hits) - hits
    expected = ap_calculator.expected_precisions(
        within - within[first] + class_ahead[group_class],
        hits_within - hits_within[first] + class_positives_ahead[group_class],
        sizes, hits, top_n)
    np.add.at(class_sums, group_class, expected)
    class_ahead += np.bincount(group_class, sizes, num_class).astype(np.int64)
    class_positives_ahead += np.bincount(group_class, hits,
                                         num_class).astype(np.int64)
  result = {"gap_sum": float(gap_sum[0]), "class_sums": class_sums,
            "entries": ahead, "positive_entries": positives_ahead}
  if counts is not None:
    # Entries at or above threshold t: those whose index exceeds t's.
    above = np.cumsum(counts[::-1])[::-1][1:]
    positives_above = np.cumsum(positive_counts[::-1])[::-1][1:]
    result["positives_at"] = positives_above
    result["negatives_at"] = above - positives_above
  if curve_points:
    points = (np.concatenate(curve) if curve else np.zeros((0, 2), np.int64))
    if len(points) > curve_points:
      keep = np.unique(np.linspace(0, len(points) - 1, curve_points).round()
                       .astype(np.int64))
      points = points[keep]
    result["curve"] = points
  return result


def aps_of_sums(sums, class_positives, top_n=None):
  """[C] APs from per-class precision sums [C]; NaN without positives."""
  num_class = class_positives.size
  aps = np.full(num_class, np.nan)
  has = class_positives > 0
  denominators = class_positives[has].astype(np.float64)
  if top_n is not None:
    denominators = np.minimum(denominators, top_n)
  aps[has] = sums[has] / denominators
  return aps


def exact_mean(values):
  """ExactMean of one array: the correctly rounded mean of `values`."""
  mean = ExactMean()
  mean.add(values)
  return mean.mean()
