"""api.evaluate and api.read_labels: eval.py's figures, from Python."""

import math
import os

import numpy as np
import pytest

from youtube8m import api
from youtube8m.evaluation import eval_lib

from support import one_line
from support.api_world import NUM_CLASSES
from support.api_world import video_features

# Two videos, three classes. Pooled top 3, by score: 0.9 (+), 0.8, 0.5,
# 0.3 (+), 0.2, 0.1; two positives in all: GAP = (1/1 + 2/4) / 2 = 0.75.
# Hit@1: video a's best class is a positive, b's is not: 0.5; PERR (one
# positive each, looked for in the top 1) likewise. Class 0's entries are
# 0.9 (+), 0.2; class 2's 0.3 (+), 0.1: AP 1 each; class 1 has no
# positive and is left out of MAP: 1.0.
SCORES = np.array([[0.9, 0.5, 0.1], [0.2, 0.8, 0.3]], np.float32)
TRUTH = np.array([[1, 0, 0], [0, 0, 1]])
HAND = {"gap": 0.75, "hit_at_one": 0.5, "perr": 0.5, "map": 1.0}


def _top_k(scores, k):
  order = np.argsort(-scores, axis=1)[:, :k]
  return api.Predictions(
      ids=np.array(["a", "b"]), class_ids=order.astype(np.int32),
      scores=np.take_along_axis(scores, order, 1), num_classes=3,
      vocabulary={})


def test_hand_computed_metrics_from_scores_and_from_predictions():
  for metrics in (api.evaluate(SCORES, TRUTH),
                  api.evaluate(_top_k(SCORES, 3), {"a": [0], "b": [2]})):
    assert {k: metrics[k] for k in HAND} == pytest.approx(HAND)
    assert metrics["num_videos"] == 2 and metrics["num_classes"] == 2
    assert metrics["aps"][[0, 2]] == pytest.approx([1.0, 1.0])
    assert math.isnan(metrics["aps"][1])
  # GAP@1 keeps 0.9 (+) and 0.8: (1/1) / 2 positives.
  assert api.evaluate(SCORES, TRUTH, top_k=1)["gap"] == pytest.approx(0.5)
  # A labelled video without predictions counts as predicting nothing.
  only_a = api.Predictions(ids=np.array(["a"]), class_ids=np.array([[0]]),
                           scores=np.array([[0.9]]), num_classes=3,
                           vocabulary={})
  metrics = api.evaluate(only_a, {"a": [0], "b": [2]})
  assert metrics["videos_without_predictions"] == 1
  assert metrics["gap"] == pytest.approx(0.5)
  assert metrics["hit_at_one"] == pytest.approx(0.5)


@pytest.mark.slow
def test_evaluate_gives_the_figures_of_eval_py(world, tmp_path):
  validate = world.pattern("video", "validate")
  expected = eval_lib.evaluate(eval_lib.EvalConfig(
      train_dir=world.video["train_dir"], eval_data_pattern=validate,
      run_once=True, batch_size=10,
      eval_summary_dir=str(tmp_path / "summaries")))
  model = api.load(world.video["train_dir"])
  labels = api.read_labels(validate, NUM_CLASSES)
  from_records = api.evaluate(model.predict_records(validate), labels)
  ids, rows = [], []
  for path in world.files("video", "validate"):
    file_ids, file_rows = video_features(path)
    ids += file_ids
    rows.append(file_rows)
  truth = np.zeros([len(ids), NUM_CLASSES])
  for row, video in enumerate(ids):
    truth[row, labels[video]] = 1
  from_scores = api.evaluate(model.scores(np.concatenate(rows)), truth)
  for metrics in (from_records, from_scores):
    assert metrics["num_videos"] == expected["num_examples"] == len(ids)
    assert metrics["num_classes"] == expected["num_classes_with_positives"]
    for key, eval_key in (("gap", "gap"), ("map", "map"),
                          ("hit_at_one", "avg_hit_at_one"),
                          ("perr", "avg_perr")):
      assert metrics[key] == pytest.approx(expected[eval_key], abs=1e-6)
    np.testing.assert_allclose(metrics["aps"], expected["aps"], atol=1e-6)


def test_labels_from_records_and_from_the_labels_csv(world):
  csv = os.path.join(world.data, "validate_labels.csv")
  from_csv = api.read_labels(csv, NUM_CLASSES)
  assert api.read_labels(world.pattern("video", "validate"),
                         NUM_CLASSES) == from_csv
  assert api.read_labels(world.pattern("frame", "validate"),
                         NUM_CLASSES) == from_csv
  assert len(from_csv) == 32 and all(from_csv.values())


def _error(call):
  with pytest.raises(api.Yt8mError) as error:
    call()
  return one_line.message(error.value)


def test_mistakes_are_one_line_errors(world):
  predictions = _top_k(SCORES, 2)
  assert _error(lambda: api.evaluate(predictions, {"a": [0]})) == (
      "labels: no entry for video 'b' of the predictions")
  assert _error(lambda: api.evaluate(predictions, {"a": [0], "b": [3]})) == (
      "labels['b']: class 3 is outside [0, 3) (the model's classes)")
  assert _error(lambda: api.evaluate(predictions, TRUTH)).startswith(
      "labels: expected {video id: class ids}")
  assert _error(lambda: api.evaluate(SCORES, TRUTH[:1])).startswith(
      "predictions (2, 3) and labels (1, 3): expected")
  assert _error(lambda: api.evaluate(SCORES, TRUTH, top_k=0)) == (
      "top_k=0: expected a positive integer")
  pattern = world.pattern("video", "validate")
  message = _error(lambda: api.read_labels(pattern, num_classes=2))
  assert message.startswith(f"file {world.files('video', 'validate')[0]}: "
                            "video '")
  assert "is outside [0, 2)" in message
  assert _error(lambda: api.read_labels(pattern + ".missing")) == (
      f"source '{pattern}.missing' matches no file")
