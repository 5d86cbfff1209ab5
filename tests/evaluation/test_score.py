"""score.py: the local Kaggle scorer vs hand values, sklearn and eval.py."""

import json

from absl import flags
import numpy as np
import pytest
from sklearn import metrics as sk_metrics
import tensorflow as tf

from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import submissions
from youtube8m.data import synthetic
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import eval_util
from youtube8m.evaluation import score_lib
from youtube8m.evaluation import segment_eval_lib
from youtube8m.prediction import inference_lib

from support import records
from support import tiny
from support import workflow_helpers as wh

HEADER = "VideoId,LabelConfidencePairs\n"


def _score(tmp_path, predictions, labels, **kwargs):
  (tmp_path / "p.csv").write_text(predictions)
  (tmp_path / "l.csv").write_text(labels)
  kwargs.setdefault("num_classes", 6)
  return score_lib.score_videos(score_lib.ScoreConfig(
      predictions=str(tmp_path / "p.csv"), labels=str(tmp_path / "l.csv"),
      **kwargs))


def test_hand_computed_example(tmp_path):
  # top_k=2. Pooled top-2 entries by score, P = 5 positives (e's too):
  #   .95 c:0 -, .9 a:1 +, .8 a:3 -, .7 b:2 +, .6 b:0 -, .5 c:1 +, .3 d:2 -
  # GAP = (1/2 + 2/4 + 3/6) / 5 = 0.3 (a:0 at .1 is outside a's top 2).
  # Hit@1: a, b of 5 videos. PERR: a 1/2, b 1, c 0, d 0 (no positive),
  # e 0 (no row). Per class over the top-2 entries: class 0 (P=1) 0,
  # class 1 (P=2) 1, class 2 (P=1) 1, class 3 (P=1, e's) 0: MAP 0.5 over 4.
  result = _score(
      tmp_path,
      HEADER + "a,1 0.9 3 0.8 0 0.1\nb,0 0.6 2 0.7\nc,0 0.95 1 0.5\n"
      "d,2 0.3\n",
      "VideoId,Labels\na,0 1\nb,2\nc,1\nd,\ne,3\n", top_k=2)
  assert result["gap"] == pytest.approx(0.3)
  assert result["hit_at_one"] == pytest.approx(0.4)
  assert result["perr"] == pytest.approx(0.3)
  assert result["map"] == pytest.approx(0.5)
  assert result["num_classes"] == 4 and result["num_videos"] == 5
  assert result["videos_without_predictions"] == 1
  line = score_lib.summary_line(result)
  assert "GAP@2 0.300000" in line and "1 labelled videos have no prediction" \
      in line


def test_per_class_ap_equals_sklearn_and_gap_the_csv_helper(tmp_path):
  rng = np.random.default_rng(5)
  labels = rng.random((30, 6)) < 0.3
  scores = rng.random((30, 6)) + 0.3 * labels  # distinct: no ties
  rows = [f"v{n},{' '.join(f'{c} {float(scores[n, c])!r}' for c in range(6))}\n"
          for n in range(30)]
  truth = {f"v{n}": list(np.flatnonzero(labels[n])) for n in range(30)}
  synthetic.write_labels_csv(str(tmp_path / "l.csv"), truth)
  (tmp_path / "p.csv").write_text(HEADER + "".join(rows))
  config = score_lib.ScoreConfig(predictions=str(tmp_path / "p.csv"),
                             labels=str(tmp_path / "l.csv"), num_classes=6,
                             top_k=6)
  labelled = score_lib.read_labels(config.labels, 6)
  metrics = score_lib.evaluation_metrics(
      labelled, *score_lib.read_predictions(config.predictions, labelled, 6)[:4],
      num_classes=6, top_k=6).get()
  # With every class kept, class c's list is every video: sklearn's AP.
  for c in range(6):
    if labels[:, c].any():
      assert metrics["aps"][c] == pytest.approx(
          sk_metrics.average_precision_score(labels[:, c], scores[:, c]))
  # The independent pooled-list GAP of the workflow tests, here for top 3.
  config.top_k = 3
  top3 = {f"v{n}": [(c, scores[n, c]) for c in np.argsort(-scores[n])[:3]]
          for n in range(30)}
  assert score_lib.score_videos(config)["gap"] == pytest.approx(
      wh.gap_from_csv(top3, {v: set(t) for v, t in truth.items()}))


def test_equals_the_evaluator_on_a_tiny_checkpoint(tmp_path):
  path, videos = tiny.video_file(tmp_path / "val.tfrecord", count=30)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  top_k = 3  # below the 6 classes: positives outside the lists count too
  inference_lib.infer(inference_lib.InferenceConfig(
      train_dir=train_dir, input_data_pattern=path, top_k=top_k,
      output_file=str(tmp_path / "p.csv")))
  synthetic.write_labels_csv(str(tmp_path / "l.csv"),
                             {v: labels for v, (labels, _) in videos.items()})
  expected = eval_lib.evaluate(eval_lib.EvalConfig(
      train_dir=train_dir, eval_data_pattern=path, batch_size=7,
      run_once=True, top_k=top_k))
  result = score_lib.score_videos(score_lib.ScoreConfig(
      predictions=str(tmp_path / "p.csv"), labels=str(tmp_path / "l.csv"),
      num_classes=tiny.NUM_CLASSES, top_k=top_k))
  assert result["gap"] == pytest.approx(expected["gap"], abs=1e-6)
  assert result["map"] == pytest.approx(expected["map"], abs=1e-6)
  assert result["hit_at_one"] == pytest.approx(expected["avg_hit_at_one"])
  assert result["perr"] == pytest.approx(expected["avg_perr"])
  assert result["num_classes"] == expected["num_classes_with_positives"]


def test_unknown_ids_fail_or_are_counted(tmp_path):
  predictions, labels = HEADER + "a,1 0.9\nzz,1 0.5\n", "a,1\nb,2\n"
  with pytest.raises(utils.Yt8mError,
                     match=r"p.csv, line 3: video 'zz' is not in the labels"):
    _score(tmp_path, predictions, labels)
  result = _score(tmp_path, predictions, labels, ignore_unknown_ids=True)
  assert result["unknown_ids_ignored"] == 1
  assert result["videos_without_predictions"] == 1  # b
  assert result["gap"] == pytest.approx(0.5) and result["hit_at_one"] == 0.5
  assert "1 rows of unknown videos ignored" in score_lib.summary_line(result)


def test_only_predicted_videos_leaves_the_others_out(tmp_path):
  predictions = HEADER + "a,1 0.9 2 0.4\n"
  everyone = _score(tmp_path, predictions, "a,1\nb,2\n")
  assert everyone["gap"] == pytest.approx(0.5)  # b's positive is missed
  only = _score(tmp_path, predictions, "a,1\nb,2\n",
                only_predicted_videos=True)
  assert only["gap"] == _score(tmp_path, predictions, "a,1\n")["gap"] == 1.0
  assert only["num_videos"] == 1 and only["videos_without_predictions"] == 0


@pytest.mark.parametrize("predictions, message", [
    ("", r"the first line must be 'VideoId,LabelConfidencePairs' \(the file "
         r"is empty\)"),
    ("a,1 0.5\n", "the first line must be"),
    (HEADER, "holds no prediction row"),
    (HEADER + "a,1 0.5 2\n", r"line 2: video 'a': 3 values; expected "
                             "class-score pairs"),
    (HEADER + "a,x 0.5\n", r"line 2: video 'a': class 'x' is not a class id"),
    (HEADER + "a,6 0.5\n", r"class '6' is not a class id in \[0, 6\) "
                           r"\(--num_classes=6\)"),
    (HEADER + "a,-1 0.5\n", "class '-1' is not"),
    (HEADER + "a,1 high\n", "line 2: video 'a': score 'high' of class 1 is "
                            "not a finite number"),
    (HEADER + "a,1 nan\n", "score 'nan' of class 1 is not a finite"),
    (HEADER + "a,1 inf\n", "score 'inf'"),
    (HEADER + "a,1 0.5 1 0.4\n", "class 1 appears twice"),
    (HEADER + "a,1 0.5\n\na,2 0.5\n", "line 4: video 'a' already has "
                                      "predictions on line 2"),
    (HEADER + "just an id\n", "line 2: expected 'id,cls score"),
])
def test_malformed_predictions(tmp_path, predictions, message):
  with pytest.raises(utils.Yt8mError, match=message) as info:
    _score(tmp_path, predictions, "a,1\n")
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("labels, message", [
    ("", "holds no labelled video"),
    ("VideoId,Labels\n", "holds no labelled video"),
    ("a,1 2\na,3\n", "line 2: video 'a' already has labels on line 1"),
    ("a,1\nb,7\n", r"line 2: video 'b': label '7' is not a class id in "
                   r"\[0, 6\)"),
    ("a 1\n", "line 1: expected VIDEO_ID,LABEL1 LABEL2"),
])
def test_malformed_labels(tmp_path, labels, message):
  with pytest.raises(utils.Yt8mError, match=message):
    _score(tmp_path, HEADER + "a,1 0.5\n", labels)


def test_ties_are_averaged_and_rows_may_differ_in_length(tmp_path):
  # a: classes 2 (positive) and 1 tie at the top: Hit@1 1/2; its one
  # positive shares the 1 place with 2 tied pairs: PERR 1/2. b: no pair.
  # f: its top class is positive but scores 0: a hit, and no PERR hit.
  result = _score(tmp_path, HEADER + "a,2 0.5 1 0.5 0 0.2\nb,\n"
                  "c,3 0.9 1 0.1 0 0\nf,0 0\n", "a,2\nb,1\nc,0\nf,0\n",
                  top_k=3)
  assert result["hit_at_one"] == pytest.approx((0.5 + 1) / 4)
  assert result["perr"] == pytest.approx(0.5 / 4)
  assert result["videos_without_predictions"] == 0  # b has a row


def test_tied_scores_score_as_eval_util_does(tmp_path):
  # Rows list every class (top_k = all 6), scores with many exact ties:
  # the scorer must agree with eval_util on the dense matrices.
  rng = np.random.default_rng(8)
  labels = rng.random((40, 6)) < 0.3
  scores = np.round(rng.random((40, 6)) * 4) / 4 + 0.25 * labels
  rows = [f"v{n},{' '.join(f'{c} {scores[n, c]:g}' for c in order)}\n"
          for n, order in enumerate(rng.permuted(np.tile(np.arange(6),
                                                         (40, 1)), axis=1))]
  truth = {f"v{n}": list(np.flatnonzero(labels[n])) for n in range(40)}
  synthetic.write_labels_csv(str(tmp_path / "l.csv"), truth)
  (tmp_path / "p.csv").write_text(HEADER + "".join(rows))
  result = score_lib.score_videos(score_lib.ScoreConfig(
      predictions=str(tmp_path / "p.csv"), labels=str(tmp_path / "l.csv"),
      num_classes=6, top_k=6))
  reference = eval_util.EvaluationMetrics(6, 6)
  reference.accumulate(scores, labels.astype(np.float32), loss=0.0)
  expected = reference.get()
  assert result["gap"] == pytest.approx(expected["gap"])
  assert result["map"] == pytest.approx(expected["map"])
  assert result["hit_at_one"] == pytest.approx(expected["avg_hit_at_one"])
  assert result["perr"] == pytest.approx(expected["avg_perr"], abs=1e-6)


def _rated(vid, labels, starts, scores):
  context = {
      "segment_labels": tf.train.Feature(
          int64_list=tf.train.Int64List(value=labels)),
      "segment_start_times": tf.train.Feature(
          int64_list=tf.train.Int64List(value=starts)),
      "segment_scores": tf.train.Feature(
          float_list=tf.train.FloatList(value=scores))}
  frames = {"rgb": np.zeros((20, 4), np.uint8)}
  return records.frame_record(vid, [], frames, context=context)


def test_segment_mode_is_segment_evals_scorer(tmp_path):
  data = records.write(tmp_path / "rated.tfrecord", [
      _rated("a", [3, 3, 7], [0, 5, 5], [1.0, 0.0, 1.0]),
      _rated("b", [3], [0], [1.0]),
      _rated("d", [7, 7], [0, 5], [1.0, 0.0])])
  submission = tmp_path / "segments.csv"
  submission.write_text("Class,Segments\n3,a:5 a:0 b:0\n7,d:0 x:0 a:5\n")
  config = score_lib.ScoreConfig(predictions=str(submission), labels=data,
                             segment_labels=True, top_n=2)
  result = score_lib.score_segments(config)
  expected = segment_eval_lib.score_submission(
      submissions.read_submission(str(submission)),
      segment_eval_lib.read_ratings(data), top_n=2)
  # top_n=2: class 3 (P=2) ranks (a:5 neg, a:0 pos): (1/2) / 2; class 7
  # (P=2) ranks d:0 pos, then x:0, unrated, is skipped: (1/1) / 2.
  assert result["map"] == pytest.approx(expected["map"])
  assert result["map"] == pytest.approx((1 / 4 + 1 / 2) / 2)
  assert result["top_n"] == 2 and "aps" not in result
  line = score_lib.summary_line(result, segment_labels=True)
  assert line.startswith("segment MAP@2 0.375000 over 2 classes")


def test_settings_are_flags_with_help():
  values = flags.FlagValues()
  settings.define_flags(score_lib.ScoreConfig, flag_values=values)
  values(["prog"])
  assert all(values[f.name].help
             for f in settings.flag_fields(score_lib.ScoreConfig))
  assert settings.from_flags(score_lib.ScoreConfig, values) == score_lib.ScoreConfig()
  with pytest.raises(utils.Yt8mError, match="--top_k=0 is invalid"):
    settings.validate(score_lib.ScoreConfig(predictions="p.csv",
                                            labels="l.csv", top_k=0))


@pytest.mark.slow
def test_command_line_prints_a_summary_then_json(tmp_path):
  (tmp_path / "p.csv").write_text(HEADER + "a,1 0.9 2 0.1\nb,2 0.8\n")
  (tmp_path / "l.csv").write_text("a,1\nb,1\n")
  run = wh.run_script(["-m", "youtube8m.score",
                       f"--predictions={tmp_path / 'p.csv'}",
                       f"--labels={tmp_path / 'l.csv'}", "--top_k=1"])
  summary, last = run.stdout.strip().splitlines()[-2:]
  assert summary.startswith("GAP@1 0.500000 | Hit@1 0.500000")
  assert json.loads(last)["gap"] == pytest.approx(0.5)
  run = wh.run_script(["-m", "youtube8m.score",
                       f"--predictions={tmp_path / 'l.csv'}",
                       f"--labels={tmp_path / 'l.csv'}"], check=False)
  assert run.returncode == 1
  assert run.stderr.strip().splitlines()[-1] == (
      f"error: {tmp_path / 'l.csv'}: the first line must be "
      "'VideoId,LabelConfidencePairs'")
