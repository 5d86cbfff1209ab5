"""Tests of the AP calculators and eval_util against hand-computed values."""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics
import tensorflow as tf

from youtube8m import average_precision_calculator as apc
from youtube8m import eval_util
from youtube8m import mean_average_precision_calculator as mapc

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
  # Kept: 0.9 (-), 0.8 (+); positives counted: 1 + 2 + 2.
  assert calculator.heap_size == 2
  assert calculator.num_accumulated_positives == 5
  assert calculator.peek_ap_at_n() == pytest.approx((1 / 2) / 5)

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


def test_ties_keep_input_order_and_leave_global_rng_alone():
  np.random.seed(1234)
  state = np.random.get_state()
  assert AP.ap([0.5, 0.5], [0, 1]) == 0.5
  assert AP.ap([0.5, 0.5], [1, 0]) == 1.0
  calculator = AP(top_n=1)
  calculator.accumulate([0.5], [0])
  calculator.accumulate([0.5], [1])  # tied, later: dropped
  assert calculator.peek_ap_at_n() == 0.0
  calculator = AP(top_n=3)
  actuals = np.ones(200)
  actuals[[0, 2]] = 0  # kept: the first three accumulated, - + -
  for chunk in np.array_split(np.arange(200), 9):
    calculator.accumulate(np.full(chunk.size, 0.5), actuals[chunk])
  assert calculator.peek_ap_at_n() == pytest.approx((1 / 2) / 198)
  rng = np.random.default_rng(11)
  scores = rng.integers(0, 3, 1000) / 2
  actuals = rng.random(1000) < 0.5
  calculator = AP(top_n=50)
  calculator.accumulate(scores, actuals)
  best = sorted(zip(scores.tolist(), actuals.tolist()), key=lambda p: -p[0])
  assert calculator.peek_ap_at_n() == pytest.approx(
      naive_ap(best[:50], int(np.sum(actuals))), abs=1e-12)
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


def test_hit_at_one_breaks_ties_by_lower_class_id():
  predictions = [[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.3, 0.3, 0.2]]
  labels = [[0, 1, 0], [0, 1, 0], [0, 1, 1]]
  assert eval_util.calculate_hit_at_one(predictions, labels) == 1 / 3


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


def test_pooled_ties_keep_video_order():
  predictions = [[0.5, 0.5], [0.5, 0.1]]
  labels = [[0, 1], [1, 0]]
  # Each video's top 2, pooled in video order, then within-video rank:
  # v0 c0 0.5 (-), v0 c1 0.5 (+), v1 c0 0.5 (+), v1 c1 0.1 (-).
  assert eval_util.calculate_gap(predictions, labels, top_k=2) == (
      pytest.approx((1 / 2 + 2 / 3) / 2))


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
  assert got["top_k_ids"][2].tolist() == list(range(6))
  assert got["top_k_scores"].shape == (64, 6)

  from_tf = eval_util.EvaluationMetrics(30, top_k=6)
  from_tf.accumulate_summary(got, loss=1.0)
  from_numpy = eval_util.EvaluationMetrics(30, top_k=6)
  from_numpy.accumulate(predictions, labels, loss=1.0)
  for key, value in from_numpy.get().items():
    np.testing.assert_array_equal(from_tf.get()[key], value, err_msg=key)
