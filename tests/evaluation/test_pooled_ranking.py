"""pooled_ranking.py: flat-memory ranking gives the one-sort metrics' bits."""

import fractions
import tracemalloc

import numpy as np
import pytest

from youtube8m.evaluation import eval_util
from youtube8m.evaluation import pooled_ranking


def _entries(rng, n, num_class, levels=None, dtype=np.float32):
  """(scores [n], ids [n], positive [n]); `levels` rounds scores (ties)."""
  scores = rng.random(n)
  if levels:
    scores = np.round(scores * levels) / levels
  scores = scores.astype(dtype)
  return (scores, rng.integers(0, num_class, n).astype(np.int32),
          rng.random(n) < 0.2)


def _one_sort(scores, ids, positive, num_class, top_n=None):
  """GAP numerator and class APs the way they are computed in one sort."""
  class_positives = np.bincount(ids[positive], minlength=num_class) + 1
  gap = eval_util.ap_calculator.precision_sums(scores, positive)[0]
  aps = eval_util.class_aps(scores, ids, positive, class_positives, top_n)
  return gap, aps, class_positives


@pytest.mark.parametrize("capacity", [10 ** 6, 97, 8])
@pytest.mark.parametrize("levels,top_n,dtype", [
    (None, None, np.float32), (5, None, np.float32), (40, 3, np.float64),
    (1, None, np.float32)])
def test_ranking_in_pieces_gives_the_one_sort_bits(capacity, levels, top_n,
                                                   dtype, monkeypatch):
  if capacity < 100:  # ranked in pieces of a few entries too
    monkeypatch.setattr(pooled_ranking, "_PIECE", capacity // 2 + 1)
  rng = np.random.default_rng(capacity + (levels or 0))
  num_class = 7
  scores, ids, positive = _entries(rng, 1500, num_class, levels, dtype)
  if levels != 1:  # equal scores of both signs of zero, infinities
    scores[:4] = [0.0, -0.0, np.inf, -np.inf]
  entries = pooled_ranking.PooledEntries(capacity)
  for part in np.array_split(np.arange(scores.size), 13):
    entries.add(scores[part], ids[part], positive[part])
  gap, aps, class_positives = _one_sort(scores, ids, positive, num_class,
                                        top_n)
  ranked = pooled_ranking.rank(entries, num_class, top_n)
  assert ranked["gap_sum"] == gap
  got = pooled_ranking.aps_of_sums(ranked["class_sums"], class_positives,
                                   top_n)
  np.testing.assert_array_equal(got, aps)
  back_scores, back_ids, back_positive = entries.arrays()
  np.testing.assert_array_equal(back_scores, scores)
  assert back_scores.dtype == dtype
  np.testing.assert_array_equal(back_ids, ids)
  np.testing.assert_array_equal(back_positive, positive)
  entries.close()


def test_nan_scores_rank_last_whatever_their_order():
  # (The one-sort path leaves the order among NaN entries to argsort.)
  scores = np.array([0.5, np.nan, np.nan, 0.2, np.nan], np.float32)
  ids = np.array([0, 1, 0, 1, 1], np.int32)
  positive = np.array([True, True, False, False, True])
  results = []
  for order in ([0, 1, 2, 3, 4], [4, 2, 1, 0, 3]):
    entries = pooled_ranking.PooledEntries(2)
    entries.add(scores[order], ids[order], positive[order])
    results.append(pooled_ranking.rank(entries, 2))
  assert results[0]["gap_sum"] == results[1]["gap_sum"]
  np.testing.assert_array_equal(results[0]["class_sums"],
                                results[1]["class_sums"])
  # 0.5 (positive) ranks first, 0.2 second; NaN entries ranks 3 to 5 in
  # (class, label) order: class 0 negative, class 1 positives.
  assert results[0]["gap_sum"] == pytest.approx(1 + 2 / 4 + 3 / 5)


def test_threshold_counts_and_curve():
  rng = np.random.default_rng(3)
  scores, ids, positive = _entries(rng, 600, 5, levels=50)
  entries = pooled_ranking.PooledEntries(64)
  entries.add(scores, ids, positive)
  thresholds = np.linspace(0, 1, 11)
  ranked = pooled_ranking.rank(entries, 5, thresholds=thresholds,
                               curve_points=10 ** 6)
  for i, threshold in enumerate(thresholds):
    above = scores >= threshold
    assert ranked["positives_at"][i] == np.sum(above & positive)
    assert ranked["negatives_at"][i] == np.sum(above & ~positive)
  # One point per distinct score holding a positive: (ranked, found).
  curve = ranked["curve"]
  levels = np.unique(scores[positive])[::-1]
  assert len(curve) == len(levels)
  for (ranked_count, found), level in zip(curve, levels):
    assert ranked_count == np.sum(scores >= level)
    assert found == np.sum(positive & (scores >= level))
  few = pooled_ranking.rank(entries, 5, curve_points=4)["curve"]
  assert len(few) == 4 and (few[-1] == curve[-1]).all()


def test_exact_mean_is_the_rounded_exact_mean():
  rng = np.random.default_rng(4)
  values = np.concatenate([rng.random(1000), [1e-300, 5e-324, 1e10, 0.0],
                           1 / rng.integers(1, 30, 500)])
  mean = pooled_ranking.ExactMean()
  for part in np.array_split(values, 7):
    mean.add(part)
  exact = sum(fractions.Fraction(v) for v in values.tolist()) / values.size
  assert mean.mean() == float(exact)
  assert pooled_ranking.exact_mean(values[::-1]) == mean.mean()
  mean.add([np.nan])
  assert np.isnan(mean.mean())


def test_score_keys_order_and_invert():
  scores = np.array([-np.inf, -2.5, -0.0, 0.0, 1e-40, 0.3, 1.0, np.inf,
                     np.nan])
  keys = pooled_ranking.score_keys(scores)
  assert list(np.argsort(keys, kind="stable")) == [7, 6, 5, 4, 2, 3, 1, 0, 8]
  assert keys[2] == keys[3]
  back = pooled_ranking.key_scores(keys)
  np.testing.assert_array_equal(back[:8], [-np.inf, -2.5, 0.0, 0.0, 1e-40,
                                           0.3, 1.0, np.inf])
  assert np.isnan(back[8])


def _peak_bytes(num_videos, capacity):
  metrics = eval_util.EvaluationMetrics(50, 20)
  metrics._entries = pooled_ranking.PooledEntries(capacity)  # pylint: disable=protected-access
  rng = np.random.default_rng(5)
  tracemalloc.start()
  try:
    for _ in range(num_videos // 100):
      predictions = rng.random((100, 50)).astype(np.float32)
      metrics.accumulate(predictions, rng.random((100, 50)) < 0.05, 0.5)
    metrics.get()
    return tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
    metrics.clear()


def test_memory_stays_flat_in_the_number_of_videos():
  # 20 entries a video; the buffer holds 5,000: 250 videos.
  small, large = _peak_bytes(1000, 5000), _peak_bytes(8000, 5000)
  # Held and sorted arrays would cost > 200 bytes a video: 1.4 MB more.
  assert large - small < 400_000, (small, large)
