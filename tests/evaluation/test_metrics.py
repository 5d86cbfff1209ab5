"""Tests of the AP calculators and eval_util against hand-computed values.

Ties: every metric is checked against brute force over all orders of the
tied entries (`brute_*` below), which knows nothing of the closed forms.
"""

import itertools

import numpy as np
import pytest
from sklearn import metrics as sk_metrics
import tensorflow as tf

from youtube8m.evaluation import average_precision_calculator as apc
from youtube8m.evaluation import eval_util
from youtube8m.evaluation import mean_average_precision_calculator as mapc

AP = apc.AveragePrecisionCalculator


def random_batch(rng, num_videos, num_classes, positives=3.0, levels=None):
  """predictions [N, C] float32 (some <= 0), labels [N, C] float32 0/1.

  With `levels`, scores take only that many values, so ties are common.
  """
  labels = rng.random((num_videos, num_classes)) < positives / num_classes
  if levels:
    predictions = rng.integers(0, levels, (num_videos, num_classes)) / levels
  else:
    predictions = rng.random((num_videos, num_classes))
  predictions = (predictions - 0.1 + 0.4 * labels).astype(np.float32)
  return predictions, labels.astype(np.float32)


def naive_ap(pairs, total_positives):
  """Straightforward AP of (score, positive) pairs; ties keep list order."""
  ranked = sorted(pairs, key=lambda pair: -pair[0])
  found, total = 0, 0.0
  for rank, (_, positive) in enumerate(ranked, 1):
    if positive:
      found += 1
      total += found / rank
  return total / total_positives if total_positives else 0.0


def plain_ap(relevant, denominator):
  """AP of a ranked 0/1 list over `denominator` positives."""
  found, total = 0, 0.0
  for rank, positive in enumerate(relevant, 1):
    if positive:
      found += 1
      total += found / rank
  return total / denominator if denominator else 0.0


def brute_ap(scores, positive, total_positives, n=None):
  """Mean AP@n over every order of the entries, sorted stably by score."""
  values = []
  for perm in itertools.permutations(range(len(scores))):
    ranked = sorted(perm, key=lambda i: -scores[i])[:n]
    values.append(plain_ap([positive[i] for i in ranked],
                           min(total_positives, n or total_positives)))
  return float(np.mean(values))


def brute_video(scores, labels):
  """(Hit@1, PERR) of one video averaged over all orders of its classes."""
  n = sum(1 for v in labels if v > 0)
  hits, perrs = [], []
  for perm in itertools.permutations(range(len(scores))):
    ranked = sorted(perm, key=lambda c: -scores[c])
    hits.append(labels[ranked[0]])
    perrs.append(sum(1 for c in ranked[:n] if labels[c] > 0 and scores[c] > 0)
                 / n if n else 0.0)
  return float(np.mean(hits)), float(np.mean(perrs))


def naive_gap(predictions, labels, top_k):
  pairs = []
  for row, label_row in zip(predictions.tolist(), labels.tolist()):
    best = sorted(range(len(row)), key=lambda c: -row[c])[:top_k]
    pairs += [(row[c], label_row[c] > 0) for c in best]
  return naive_ap(pairs, int(np.sum(labels > 0)))


# AveragePrecisionCalculator


def test_ap_of_a_known_ranked_list():
  predictions = [0.2, 0.9, 0.5, 0.7, 0.8]
  actuals = [1, 1, 0, 1, 0]  # ranked: + - + 0 +  (0.9 0.8 0.7 0.5 0.2)
  assert AP.ap(predictions, actuals) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
  assert AP.ap_at_n(predictions, actuals, n=3) == pytest.approx(
      (1 + 2 / 3) / 3)
  assert AP.ap_at_n(predictions, actuals, n=None,
                    total_num_positives=6) == pytest.approx(
                        (1 + 2 / 3 + 3 / 5) / 6)
  assert AP.ap([0.5, 0.4], [0, 0]) == 0.0


def test_streaming_ap_equals_one_shot():
  rng = np.random.default_rng(1)
  predictions = rng.random(1000)
  actuals = rng.random(1000) < 0.2
  calculator = AP()
  for chunk in np.array_split(np.arange(1000), 13):
    calculator.accumulate(predictions[chunk], actuals[chunk])
  assert calculator.num_accumulated_positives == np.sum(actuals)
  assert calculator.peek_ap_at_n() == AP.ap(predictions, actuals)
  calculator.clear()
  assert calculator.peek_ap_at_n() == 0.0
  assert calculator.num_accumulated_positives == 0


def test_top_n_keeps_best_entries_and_counts_every_positive():
  calculator = AP(top_n=2)
  calculator.accumulate([0.1, 0.9], [1, 0])
  calculator.accumulate([0.8, 0.3], [1, 1])
  calculator.accumulate([0.2], [0], num_positives=2)  # 2 positives unseen
  # Kept: 0.9 (-), 0.8 (+); positives counted: 1 + 2 + 2. As in the
  # original, the denominator is min(P, top_n) = 2, not P = 5.
  assert calculator.heap_size == 2
  assert calculator.num_accumulated_positives == 5
  assert calculator.peek_ap_at_n() == pytest.approx((1 / 2) / 2)

  rng = np.random.default_rng(2)
  predictions = rng.random(5000)
  actuals = rng.random(5000) < 0.1
  calculator = AP(top_n=50)
  for chunk in np.array_split(np.arange(5000), 37):
    calculator.accumulate(predictions[chunk], actuals[chunk])
  assert calculator.heap_size == 50
  assert calculator.peek_ap_at_n() == AP.ap_at_n(
      predictions, actuals, n=50, total_num_positives=int(np.sum(actuals)))
  assert calculator.peek_ap_at_n() < AP.ap(predictions, actuals)


def test_ap_at_n_divides_by_min_of_positives_and_n():
  # The original: numpos = min(total_num_positives, n).
  assert AP.ap_at_n([0.9, 0.8, 0.7], [1, 1, 0], n=2,
                    total_num_positives=10) == 1.0
  assert AP.ap_at_n([0.9, 0.8, 0.7], [1, 0, 1], n=2) == pytest.approx(1 / 2)
  # n above P: P is the denominator.
  assert AP.ap_at_n([0.9, 0.8, 0.7], [0, 1, 0], n=3) == pytest.approx(1 / 2)
  assert AP.ap_at_n([0.9, 0.8, 0.7], [0, 1, 0], n=3,
                    total_num_positives=2) == pytest.approx(1 / 4)
  calculator = AP(top_n=2)
  calculator.accumulate([0.9, 0.8, 0.7], [1, 0, 1], num_positives=10)
  assert calculator.peek_ap_at_n() == pytest.approx(1 / 2)


def test_ap_with_ties_equals_brute_force_over_orders():
  rng = np.random.default_rng(12)
  for _ in range(150):
    size = int(rng.integers(1, 7))
    scores = (rng.integers(0, 3, size) / 2).tolist()
    positive = (rng.random(size) < 0.5).tolist()
    total = sum(positive) + int(rng.integers(0, 2))
    n = None if rng.random() < 0.4 else int(rng.integers(1, size + 1))
    if not total:
      continue
    want = brute_ap(scores, positive, total, n)
    assert AP.ap_at_n(scores, positive, n=n, total_num_positives=total) == (
        pytest.approx(want, abs=1e-12))
    # Streamed in chunks, trimmed to top_n: the same.
    calculator = AP(top_n=n)
    for chunk in np.array_split(np.arange(size), 3):
      calculator.accumulate(np.array(scores)[chunk],
                            np.array(positive)[chunk], num_positives=0)
    calculator.accumulate([], [], num_positives=total)
    assert calculator.peek_ap_at_n() == pytest.approx(want, abs=1e-12)


def test_large_tie_groups_are_exact():
  # One group of 200 entries, 198 positive, cut at 3: the top 3 are a
  # uniform sample without replacement; sum over its 2^3 label patterns.
  want = 0.0
  for pattern in itertools.product([0, 1], repeat=3):
    probability, pos, neg = 1.0, 198, 2
    for x in pattern:
      probability *= (pos if x else neg) / (pos + neg)
      pos, neg = (pos - 1, neg) if x else (pos, neg - 1)
    want += probability * plain_ap(pattern, 3)
  calculator = AP(top_n=3)
  for chunk in np.array_split(np.arange(200), 9):
    calculator.accumulate(np.full(chunk.size, 0.5), chunk >= 2)
  assert calculator.heap_size == 3
  assert calculator.peek_ap_at_n() == pytest.approx(want, abs=1e-12)
  # Deep in a long list (harmonic sums by their asymptotic series).
  scores = np.concatenate([np.arange(5000, 0, -1), np.zeros(4)])
  actuals = np.concatenate([np.zeros(5000), [1, 0, 1, 0]])
  direct = sum((1 + (j - 5001) / 3) / j for j in range(5001, 5005)) / 2
  assert AP.ap(scores, actuals) == pytest.approx(direct / 2, rel=1e-12)


def test_ties_are_averaged_and_leave_global_rng_alone():
  np.random.seed(1234)
  state = np.random.get_state()
  assert AP.ap([0.5, 0.5], [0, 1]) == 0.75 == AP.ap([0.5, 0.5], [1, 0])
  calculator = AP(top_n=1)
  calculator.accumulate([0.5], [0])
  calculator.accumulate([0.5], [1])  # tied at the cut: half a hit
  assert calculator.peek_ap_at_n() == 0.5
  rng = np.random.default_rng(11)
  scores = rng.integers(0, 3, 1000) / 2
  actuals = rng.random(1000) < 0.5
  calculator = AP(top_n=50)
  calculator.accumulate(scores, actuals)
  assert calculator.peek_ap_at_n() == AP.ap_at_n(
      scores[::-1], actuals[::-1], n=50,
      total_num_positives=int(np.sum(actuals)))
  predictions, labels = random_batch(np.random.default_rng(3), 40, 30,
                                     levels=3)
  first = eval_util.calculate_gap(predictions, labels, top_k=5)
  assert all(eval_util.calculate_gap(predictions, labels, top_k=5) == first
             for _ in range(3))
  after = np.random.get_state()
  assert after[0] == state[0] and np.array_equal(after[1], state[1])
  assert after[2:] == state[2:]


def test_ap_equals_sklearn_without_ties():
  rng = np.random.default_rng(4)
  for _ in range(5):
    predictions = rng.random(300)
    actuals = rng.random(300) < 0.3
    assert AP.ap(predictions, actuals) == pytest.approx(
        sk_metrics.average_precision_score(actuals, predictions), abs=1e-12)


def test_ap_rejects_bad_input():
  with pytest.raises(ValueError):
    AP.ap([0.1, 0.2], [1])
  with pytest.raises(ValueError):
    AP().accumulate([0.1], [1], num_positives=-1)
  with pytest.raises(ValueError):
    AP(top_n=0)


# MeanAveragePrecisionCalculator


def test_mean_ap_calculator_per_class_matches_sklearn():
  rng = np.random.default_rng(5)
  predictions = rng.random((400, 6))
  actuals = rng.random((400, 6)) < 0.2
  actuals[:, 5] = False  # no positives: filtered out by default
  calculator = mapc.MeanAveragePrecisionCalculator(6)
  assert calculator.is_empty()
  for chunk in np.array_split(np.arange(400), 7):
    calculator.accumulate(predictions[chunk], actuals[chunk])
  assert not calculator.is_empty()
  aps = calculator.peek_map_at_n()
  assert len(aps) == 5
  for c in range(5):
    assert aps[c] == pytest.approx(sk_metrics.average_precision_score(
        actuals[:, c], predictions[:, c]), abs=1e-12)

  unfiltered = mapc.MeanAveragePrecisionCalculator(
      6, filter_empty_classes=False)
  # The original's layout: one sequence per class.
  unfiltered.accumulate(list(predictions.T), list(actuals.T))
  assert unfiltered.peek_map_at_n() == aps + [0.0]
  unfiltered.clear()
  assert unfiltered.is_empty()
  with pytest.raises(ValueError):
    unfiltered.accumulate(predictions[:, :5], actuals[:, :5])


# eval_util on hand-computed matrices


def test_hit_at_one_averages_ties():
  predictions = [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.3, 0.2]]
  labels = [[0, 1, 0], [0, 1, 0], [0, 1, 1]]
  # Row 3: classes 0 and 1 tie at the top; one of them is positive.
  assert eval_util.calculate_hit_at_one(predictions, labels) == 0.5


def test_perr_counts_unlabelled_rows_as_zero_and_ignores_scores_at_most_0():
  predictions = [[0.9, 0.8, 0.7, 0.1],     # labels {0, 2}: top 2 = {0, 1}
                 [0.9, 0.8, 0.7, 0.1],     # no labels
                 [0.5, 0.2, 0.1, 0.9],     # labels {3}: top 1 = {3}
                 [-0.5, 0.0, -0.2, -0.3]]  # labels {1}: top but score 0
  labels = [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0]]
  assert eval_util.calculate_precision_at_equal_recall_rate(
      predictions, labels) == pytest.approx((0.5 + 0 + 1 + 0) / 4)


HAND_PREDICTIONS = np.array([[0.9, 0.1, 0.5, 0.3],
                             [0.2, 0.7, 0.6, 0.8]], np.float32)
HAND_LABELS = np.array([[1, 1, 0, 0],
                        [0, 1, 1, 0]], np.float32)


def test_gap_and_map_count_positives_outside_the_top_k():
  # top 2: video 0 -> 0.9 (+, class 0), 0.5 (-, class 2); class 1 missed.
  #        video 1 -> 0.8 (-, class 3), 0.7 (+, class 1); class 2 missed.
  # pooled: + - + -, P = 4.
  assert eval_util.calculate_gap(HAND_PREDICTIONS, HAND_LABELS, top_k=2) == (
      pytest.approx((1 + 2 / 3) / 4))
  metrics = eval_util.EvaluationMetrics(4, top_k=2)
  metrics.accumulate(HAND_PREDICTIONS, HAND_LABELS, loss=0.0)
  result = metrics.get()
  assert result["gap"] == pytest.approx(5 / 12)
  # class 0: 1/1 over 1; class 1: (1/1) over 2; class 2: nothing over 1;
  # class 3: no positives -> NaN, left out of the mean.
  np.testing.assert_allclose(result["aps"][:3], [1.0, 0.5, 0.0])
  assert np.isnan(result["aps"][3])
  assert result["map"] == pytest.approx(0.5)
  assert result["num_classes_with_positives"] == 3
  assert result["avg_hit_at_one"] == 0.5
  assert result["avg_perr"] == pytest.approx((0.5 + 0.5) / 2)
  assert result["num_examples"] == 2


def test_top_k_by_class_layout():
  scores, labels, positives = eval_util.top_k_by_class(HAND_PREDICTIONS,
                                                       HAND_LABELS, k=2)
  np.testing.assert_array_equal(np.concatenate(scores),
                                np.float32([0.9, 0.7, 0.5, 0.8]))
  assert [len(s) for s in scores] == [1, 1, 1, 1]
  assert [x.tolist() for x in labels] == [[1], [1], [0], [0]]
  assert positives.tolist() == [1, 2, 1, 0]


def test_pooled_ties_are_averaged_over_their_orders():
  predictions = [[0.5, 0.5], [0.5, 0.1]]
  labels = [[0, 1], [1, 0]]
  # Pooled: 0.5 (-), 0.5 (+), 0.5 (+), 0.1 (-); the three 0.5 in any order.
  want = brute_ap([0.5, 0.5, 0.5, 0.1], [0, 1, 1, 0], 2)
  assert want == pytest.approx(((1 + 1) * 2 + (1 / 2 + 2 / 3) * 2 +
                                (1 + 2 / 3) * 2) / 6 / 2)
  assert eval_util.calculate_gap(predictions, labels, top_k=2) == (
      pytest.approx(want, abs=1e-12))


def test_avg_loss_is_weighted_by_batch_size():
  rng = np.random.default_rng(6)
  metrics = eval_util.EvaluationMetrics(10, top_k=3)
  metrics.accumulate(*random_batch(rng, 1, 10), loss=1.0)
  metrics.accumulate(*random_batch(rng, 3, 10), loss=2.0)
  assert metrics.get()["avg_loss"] == pytest.approx(7 / 4)
  metrics.clear()
  with pytest.raises(ValueError):
    metrics.get()


@pytest.mark.parametrize("levels", [None, 4])
def test_gap_matches_a_straightforward_computation(levels):
  predictions, labels = random_batch(np.random.default_rng(7), 60, 25,
                                     levels=levels)
  assert eval_util.calculate_gap(predictions, labels, top_k=4) == (
      pytest.approx(naive_gap(predictions, labels, 4), abs=1e-12))


@pytest.mark.parametrize("top_n", [None, 7])
def test_streaming_equals_one_shot(top_n):
  rng = np.random.default_rng(8)
  predictions, labels = random_batch(rng, 500, 40, positives=4, levels=6)
  one_shot = eval_util.EvaluationMetrics(40, top_k=5, top_n=top_n)
  one_shot.accumulate(predictions, labels, loss=0.5)
  streamed = eval_util.EvaluationMetrics(40, top_k=5, top_n=top_n)
  for chunk in np.split(np.arange(500), [1, 8, 50, 51, 200, 333]):
    streamed.accumulate(predictions[chunk], labels[chunk], loss=0.5)
  a, b = one_shot.get(), streamed.get()
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
  assert a["avg_hit_at_one"] == eval_util.calculate_hit_at_one(predictions,
                                                               labels)
  assert a["avg_perr"] == eval_util.calculate_precision_at_equal_recall_rate(
      predictions, labels)
  assert a["gap"] == eval_util.calculate_gap(predictions, labels, top_k=5)
  # Per-class APs equal the seed-style route: top_k_by_class fed to the
  # per-class calculators.
  scores, kept_labels, positives = eval_util.top_k_by_class(predictions,
                                                            labels, k=5)
  calculator = mapc.MeanAveragePrecisionCalculator(
      40, filter_empty_classes=False, top_n=top_n)
  calculator.accumulate(scores, kept_labels, list(positives))
  expected = np.array(calculator.peek_map_at_n())
  has = positives > 0
  np.testing.assert_allclose(a["aps"][has], expected[has], rtol=0, atol=1e-12)
  assert np.isnan(a["aps"][~has]).all()
  assert a["num_classes_with_positives"] == np.count_nonzero(has)


def test_map_equals_sklearn_when_every_entry_is_kept():
  rng = np.random.default_rng(9)
  predictions, labels = random_batch(rng, 200, 8, positives=2)
  metrics = eval_util.EvaluationMetrics(8, top_k=8)  # top_k = all classes
  metrics.accumulate(predictions, labels, loss=0.0)
  aps = metrics.get()["aps"]
  for c in range(8):
    assert aps[c] == pytest.approx(sk_metrics.average_precision_score(
        labels[:, c], predictions[:, c]), abs=1e-12)


# Exact ties within videos


def tied_batch(rng, num_videos, num_classes, levels=3):
  """Scores with few distinct values (many ties), labels 0/1 float32."""
  predictions, labels = random_batch(rng, num_videos, num_classes,
                                     positives=num_classes / 3, levels=levels)
  return np.round(predictions, 1), labels


def test_hit_at_one_and_perr_equal_brute_force_over_orders():
  predictions, labels = tied_batch(np.random.default_rng(13), 30, 5)
  predictions[0] = 0.0  # all tied at 0: PERR counts nothing
  brute = np.array([brute_video(p.tolist(), l.tolist())
                    for p, l in zip(predictions, labels)])
  assert eval_util.calculate_hit_at_one(predictions, labels) == (
      pytest.approx(brute[:, 0].mean(), abs=1e-12))
  assert eval_util.calculate_precision_at_equal_recall_rate(
      predictions, labels) == pytest.approx(brute[:, 1].mean(), abs=1e-6)
  summary = eval_util.top_k_summary(tf.constant(predictions),
                                    tf.constant(labels), k=2)
  np.testing.assert_allclose(summary["hit_at_one"], brute[:, 0], atol=1e-12)
  np.testing.assert_allclose(summary["perr"], brute[:, 1], atol=1e-6)


def test_top_k_selection_follows_the_tie_keys():
  predictions, labels = tied_batch(np.random.default_rng(14), 50, 9)
  keys = eval_util.tie_keys(predictions, labels)
  assert keys.dtype == np.int64 and keys.min() >= 0 and keys.max() < 2**32
  scores, ids = eval_util.row_top_k(predictions, 4, keys)
  for row in range(50):
    chosen = sorted(range(9), key=lambda c: (-predictions[row, c],
                                             keys[row, c], c))[:4]
    want = sorted(chosen, key=lambda c: (-predictions[row, c], c))
    assert ids[row].tolist() == want
    np.testing.assert_array_equal(scores[row], predictions[row, want])
  # Without keys: lower class id first (segment inference relies on it).
  _, ids = eval_util.row_top_k(np.zeros((2, 5)), 3)
  assert ids.tolist() == [[0, 1, 2]] * 2
  # The keys depend on the whole video: a label or a score elsewhere.
  changed = labels.copy()
  changed[:, 0] = 1 - changed[:, 0]
  assert (eval_util.tie_keys(predictions, changed)[:, 1:] !=
          keys[:, 1:]).mean() > 0.99
  np.testing.assert_array_equal(eval_util.tie_keys(predictions, labels), keys)


def test_tie_keys_favour_no_class():
  rng = np.random.default_rng(15)
  labels = (rng.random((4000, 20)) < 0.5).astype(np.float32)
  predictions = np.full((4000, 20), 0.5, np.float32)  # a collapsed model
  _, ids = eval_util.row_top_k(predictions, 1,
                               eval_util.tie_keys(predictions, labels))
  counts = np.bincount(ids[:, 0], minlength=20)
  assert counts.min() > 140 and counts.max() < 260, counts  # 200 +- 14
  # Hit@1 is the label rate itself, not that of class 0 or any one class.
  assert eval_util.calculate_hit_at_one(predictions, labels) == (
      pytest.approx(labels.mean(), abs=1e-12))


def test_pooled_metrics_with_ties_equal_brute_force():
  rng = np.random.default_rng(16)
  for _ in range(20):
    predictions, labels = tied_batch(rng, 3, 4, levels=2)
    _, ids = eval_util.row_top_k(predictions, 2,
                                 eval_util.tie_keys(predictions, labels))
    scores = np.take_along_axis(predictions, ids, 1).ravel().tolist()
    positive = np.take_along_axis(labels > 0, ids, 1).ravel().tolist()
    total = int(np.sum(labels > 0))
    if not total:
      continue
    assert eval_util.calculate_gap(predictions, labels, top_k=2) == (
        pytest.approx(brute_ap(scores, positive, total), abs=1e-12))
    metrics = eval_util.EvaluationMetrics(4, top_k=2)
    metrics.accumulate(predictions, labels, loss=0.0)
    aps = metrics.get()["aps"]
    for c in range(4):
      mine = [i for i, cls in enumerate(ids.ravel()) if cls == c]
      p = int(np.sum(labels[:, c] > 0))
      if p:
        assert aps[c] == pytest.approx(brute_ap(
            [scores[i] for i in mine], [positive[i] for i in mine], p),
                                       abs=1e-12)


def _skewed_rounded_batch(rng, num_videos, num_classes):
  """Low class ids are frequent (as in YouTube-8M); scores in 0.1 steps."""
  frequency = 0.5 / np.arange(1, num_classes + 1) ** 0.7
  labels = rng.random((num_videos, num_classes)) < frequency
  raw = 0.25 * labels + rng.random((num_videos, num_classes)) * 0.75
  return np.ceil(raw * 10) / 10, labels.astype(np.float32)


def test_rounded_scores_match_random_tie_breaking():
  # The reference breaks ties at random (a jitter below the 0.1 step),
  # averaged over draws: what the original's arbitrary orders amount to.
  rng = np.random.default_rng(17)
  predictions, labels = _skewed_rounded_batch(rng, 3000, 40)
  draws = []
  for _ in range(12):
    jittered = predictions + rng.random(predictions.shape) * 0.01
    draws.append([eval_util.calculate_hit_at_one(jittered, labels),
                  eval_util.calculate_precision_at_equal_recall_rate(
                      jittered, labels),
                  eval_util.calculate_gap(jittered, labels, top_k=5)])
  hit, perr, gap = np.mean(draws, axis=0)
  assert eval_util.calculate_hit_at_one(predictions, labels) == (
      pytest.approx(hit, abs=0.004))
  assert eval_util.calculate_precision_at_equal_recall_rate(
      predictions, labels) == pytest.approx(perr, abs=0.004)
  assert eval_util.calculate_gap(predictions, labels, top_k=5) == (
      pytest.approx(gap, abs=0.004))
  # Lower class id first (the old rule) is far off on this data.
  _, ids = eval_util.row_top_k(predictions, 1)
  assert np.mean(labels[np.arange(3000), ids[:, 0]]) > hit + 0.03


# TensorFlow summary


def test_tf_summary_agrees_with_numpy():
  rng = np.random.default_rng(10)
  predictions, labels = random_batch(rng, 64, 30, positives=4, levels=5)
  labels[0] = 1  # more positives (30) than top_k: PERR needs a deeper top_k
  labels[1] = 0
  predictions[2] = 0.25  # every class tied
  summarize = tf.function(lambda p, l: eval_util.top_k_summary(p, l, k=6))
  got = {k: v.numpy() for k, v in summarize(tf.constant(predictions),
                                            tf.constant(labels)).items()}
  want = eval_util.top_k_summary_numpy(predictions, labels, k=6)
  assert got.keys() == want.keys()
  for key in want:
    np.testing.assert_array_equal(got[key], want[key].astype(got[key].dtype),
                                  err_msg=key)
  # Every class tied: the 6 lowest tie keys, not the 6 lowest class ids.
  keys = eval_util.tie_keys(predictions, labels)[2]
  assert got["top_k_ids"][2].tolist() == sorted(np.argsort(keys)[:6])
  assert got["top_k_ids"][2].tolist() != list(range(6))
  assert got["top_k_scores"].shape == (64, 6)

  from_tf = eval_util.EvaluationMetrics(30, top_k=6)
  from_tf.accumulate_summary(got, loss=1.0)
  from_numpy = eval_util.EvaluationMetrics(30, top_k=6)
  from_numpy.accumulate(predictions, labels, loss=1.0)
  for key, value in from_numpy.get().items():
    np.testing.assert_array_equal(from_tf.get()[key], value, err_msg=key)
