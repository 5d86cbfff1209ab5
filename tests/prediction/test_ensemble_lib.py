"""ensemble_lib.py: weighted ensembles of prediction files, against hand
values, the scorers and an independent numpy GAP."""

import json

import numpy as np
import pytest

from youtube8m.common import utils
from youtube8m.data import submissions
from youtube8m.data import synthetic
from youtube8m.evaluation import eval_util
from youtube8m.evaluation import score_lib
from youtube8m.evaluation import segment_eval_lib
from youtube8m.prediction import ensemble_lib
from youtube8m.prediction import inference_lib
from youtube8m.prediction import segment_ensemble
from youtube8m.prediction import video_ensemble

from support import tiny
from support import workflow_helpers as wh

HEADER = submissions.CSV_HEADER


def _write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def _run(**kwargs):
  kwargs.setdefault("num_classes", 6)
  return ensemble_lib.run(ensemble_lib.EnsembleConfig(**kwargs))


def test_hand_computed_weighted_mean(tmp_path):
  a = _write(tmp_path, "a.csv", HEADER + "v1,0 0.8 1 0.4\nv2,2 0.6 3 0.2\n")
  b = _write(tmp_path, "b.csv", HEADER + "v1,1 0.9 5 0.5\nv2,3 1 4 0.3\n")
  out = str(tmp_path / "e.csv")
  result = _run(predictions=f"{a},{b}", weights="1,3", output_file=out,
                top_k=3)
  assert result["weights"] == [0.25, 0.75] and not result["fitted"]
  # v1: class 1 .25*.4 + .75*.9 = .775, class 5 .375, class 0 .2
  # v2: class 3 .25*.2 + .75*1 = .8, class 4 .225, class 2 .15
  assert wh.read_predictions(out) == {
      "v1": [(1, 0.775), (5, 0.375), (0, 0.2)],
      "v2": [(3, 0.8), (4, 0.225), (2, 0.15)]}
  # Weight 0: b's classes are not entries of a alone.
  _run(predictions=f"{a},{b}", weights="1,0", output_file=out, top_k=3)
  assert wh.read_predictions(out) == {"v1": [(0, 0.8), (1, 0.4)],
                                      "v2": [(2, 0.6), (3, 0.2)]}


def _member_files(tmp_path, count=60, classes=6, listed=4, seed=0):
  """Two members, each good on half of the classes, and the labels:
  (paths, labels {video: classes}, dense member scores [2, V, C])."""
  rng = np.random.default_rng(seed)
  truth = rng.random((count, classes)) < 0.3
  dense = np.zeros((2, count, classes))
  paths = []
  for m in range(2):
    good = np.arange(classes) % 2 == m
    noise = np.where(good, 0.15, 0.6)
    scores = np.clip(truth * 0.5 + 0.25 + rng.normal(size=truth.shape) *
                     noise, 0.001, 0.999)
    lines = [HEADER]
    for v in range(count):
      top = np.argsort(-scores[v])[:listed]
      dense[m, v, top] = scores[v, top].astype(np.float32)
      lines.append(f"v{v}," + " ".join(f"{c} {scores[v, c]:.9g}"
                                        for c in top) + "\n")
    paths.append(_write(tmp_path, f"m{m}.csv", "".join(lines)))
  labels = {f"v{v}": sorted(np.flatnonzero(truth[v]).tolist())
            for v in range(count)}
  synthetic.write_labels_csv(str(tmp_path / "labels.csv"), labels)
  return paths, labels, dense, truth


def test_scores_equal_an_independent_gap_and_the_scorer(tmp_path):
  paths, labels, dense, truth = _member_files(tmp_path)
  members = video_ensemble.VideoMembers(paths, 6)
  for weights in ([1, 0], [0, 1], [0.3, 0.7], [0.55, 0.45]):
    got = members.score(weights, labels, top_k=3)["gap"]
    mixed = np.tensordot(weights, dense, axes=1)
    assert got == pytest.approx(eval_util.calculate_gap(mixed, truth, 3),
                                abs=1e-9)
  # A member alone scores as its own file does with the scorer.
  alone = score_lib.score_videos(score_lib.ScoreConfig(
      predictions=paths[1], labels=str(tmp_path / "labels.csv"),
      num_classes=6, top_k=3))
  assert members.score([0, 1], labels, 3)["gap"] == pytest.approx(
      alone["gap"], abs=1e-12)


def test_fitted_weights_beat_each_member_and_are_the_grid_best(tmp_path):
  paths, labels, _, _ = _member_files(tmp_path)
  out = str(tmp_path / "e.csv")
  result = _run(predictions=",".join(paths),
                fit_labels=str(tmp_path / "labels.csv"), output_file=out,
                top_k=3, weight_step=0.05)
  assert result["fitted"] and sum(result["weights"]) == pytest.approx(1)
  assert result["ensemble"] > max(result["members"])
  members = video_ensemble.VideoMembers(paths, 6)
  grid = [members.score([w, 1 - w], labels, 3)["gap"]
          for w in np.linspace(0, 1, 21)]
  assert result["ensemble"] == pytest.approx(max(grid), abs=1e-12)
  # Labels of videos no member predicts do not count.
  synthetic.write_labels_csv(str(tmp_path / "more.csv"),
                             dict(labels, other=[1, 2]))
  more = _run(predictions=",".join(paths), weights=",".join(
      map(str, result["weights"])), fit_labels=str(tmp_path / "more.csv"),
              top_k=3)
  assert more["ensemble"] == result["ensemble"]
  # The written file scores as the ensemble did (up to its %g rounding).
  scored = score_lib.score_videos(score_lib.ScoreConfig(
      predictions=out, labels=str(tmp_path / "labels.csv"), num_classes=6,
      top_k=3))
  assert scored["gap"] == pytest.approx(result["ensemble"], abs=1e-4)


def test_search_finds_the_best_of_a_known_function():
  target = [0.2, 0.5, 0.3]
  weights, value = ensemble_lib.search_weights(
      lambda w: -sum((a - b) ** 2 for a, b in zip(w, target)), 3, 0.1)
  # Moves scale the other weights, so the end is near the grid, not on it.
  np.testing.assert_allclose(weights, target, atol=1e-5)
  assert value == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("b_text, message", [
    ("v1,0 0.5\nv3,1 0.5\n", r"b\.csv, line 3: video 'v3' is not in .*a\.csv"),
    ("v1,0 0.5\n", r"b\.csv: has no row for video 'v2' \(.*a\.csv, line 3\)"),
    ("v1,0 0.5\nv2,1 0.5\nv1,2 0.5\n",
     r"b\.csv, line 4: video 'v1' already has predictions on line 2"),
    ("v1,0 0.5\nv2,1\n", r"b\.csv, line 3: video 'v2': 1 values"),
    ("v1,0 0.5\nv2,9 0.5\n", r"b\.csv, line 3: video 'v2': class '9'"),
])
def test_mismatched_and_malformed_members_are_named(tmp_path, b_text,
                                                    message):
  a = _write(tmp_path, "a.csv", HEADER + "v1,0 0.5\nv2,1 0.5\n")
  b = _write(tmp_path, "b.csv", HEADER + b_text)
  out = tmp_path / "e.csv"
  with pytest.raises(utils.Yt8mError, match=message):
    _run(predictions=f"{a},{b}", output_file=str(out))
  assert not out.exists()


def test_setting_errors(tmp_path):
  a = _write(tmp_path, "a.csv", HEADER + "v1,0 0.5\n")
  s = _write(tmp_path, "s.csv", "Class,Segments\n1,v1:0\n")
  out = str(tmp_path / "e.csv")
  with pytest.raises(utils.Yt8mError, match="not of the kind of"):
    _run(predictions=f"{a},{s}", output_file=out)
  with pytest.raises(utils.Yt8mError, match="at least two files"):
    _run(predictions=a, output_file=out)
  with pytest.raises(utils.Yt8mError, match=r"--weights=1: 1 weights for 2"):
    _run(predictions=f"{a},{a}", weights="1", output_file=out)
  with pytest.raises(utils.Yt8mError, match="nothing to do"):
    _run(predictions=f"{a},{a}")
  bad = _write(tmp_path, "x.csv", "id,labels\n")
  with pytest.raises(utils.Yt8mError, match=r"x\.csv, line 1: expected"):
    _run(predictions=f"{bad},{a}", output_file=out)
  labels = _write(tmp_path, "l.csv", "v9,1\n")
  with pytest.raises(utils.Yt8mError, match=r"a\.csv, line 2: video 'v1' "
                     "is not in --fit_labels"):
    _run(predictions=f"{a},{a}", fit_labels=labels)


# ----------------------------------------------------------------- segments

SEGMENT_HEADER = submissions.SUBMISSION_HEADER + "\n"


def test_segment_rank_scores_by_hand(tmp_path):
  a = _write(tmp_path, "a.csv", SEGMENT_HEADER + "3,x:0 x:5 y:0 z:0\n")
  b = _write(tmp_path, "b.csv", SEGMENT_HEADER + "3,y:0 x:5\n")
  out = str(tmp_path / "e.csv")
  _run(predictions=f"{a},{b}", weights="1,1", output_file=out, top_n=3)
  # N = 4. a: x:0 1, x:5 .75, y:0 .5, z:0 .25; b: y:0 1, x:5 .75.
  # Sums / 2: x:5 .75, y:0 .75, x:0 .5, z:0 .125; ties: first seen first.
  assert submissions.read_submission(out) == {3: ["x:5", "y:0", "x:0"]}
  _run(predictions=f"{a},{b}", weights="0,1", output_file=out)
  assert submissions.read_submission(out) == {3: ["y:0", "x:5"]}


def test_segment_map_equals_the_scorer(tmp_path):
  rng = np.random.default_rng(3)
  segments = [f"v{v}:{5 * s}" for v in range(30) for s in range(4)]
  ratings, paths = {}, []
  for cls in (1, 4, 7):
    rated = rng.choice(segments, 40, replace=False)
    ratings[cls] = {s: int(rng.random() < 0.4) for s in rated}
  ratings[9] = {segments[0]: 1}  # a rated class no member ranks
  for m in range(2):
    rows = [f"{cls},{' '.join(rng.permutation(segments)[:100])}\n"
            for cls in (1, 4, 7)]
    paths.append(_write(tmp_path, f"s{m}.csv", SEGMENT_HEADER + "".join(rows)))
  members = segment_ensemble.SegmentMembers(paths)
  for weights, top_n in (([0.3, 0.7], 100000), ([0.5, 0.5], 60),
                         ([1, 0], 25)):
    want = segment_eval_lib.score_submission(
        members.combined(weights, top_n), ratings, top_n)
    got = members.score(weights, ratings, top_n)
    assert got["map"] == pytest.approx(want["map"], abs=1e-12)
    assert got["num_classes"] == want["num_classes"] == 4


def test_segment_members_must_match(tmp_path):
  a = _write(tmp_path, "a.csv", SEGMENT_HEADER + "1,x:0\n2,x:0\n")
  b = _write(tmp_path, "b.csv", SEGMENT_HEADER + "1,x:0\n3,x:5\n")
  c = _write(tmp_path, "c.csv", SEGMENT_HEADER + "1,x:0\n")
  d = _write(tmp_path, "d.csv", SEGMENT_HEADER + "1,x:0\n2,x:0 y:5 x:0\n")
  cases = [(b, r"b\.csv, line 3: class 3 has no row in .*a\.csv"),
           (c, r"c\.csv: has no row for class 2 \(.*a\.csv, line 3\)"),
           (d, r"d\.csv, line 3: segment x:0 appears twice")]
  for other, message in cases:
    with pytest.raises(utils.Yt8mError, match=message):
      _run(predictions=f"{a},{other}", output_file=str(tmp_path / "e.csv"))


# ------------------------------------------------------- from inference.py

def test_members_from_inference_with_more_than_20_classes(tmp_path):
  flags = tiny.video_flags(num_classes=40)
  path, videos = tiny.video_file(tmp_path / "v.tfrecord", count=12)
  synthetic.write_labels_csv(str(tmp_path / "labels.csv"),
                             {v: labels for v, (labels, _) in videos.items()})
  paths = []
  for n, scale in enumerate((1.0, -2.0)):
    train_dir, _ = tiny.checkpoint_dir(tmp_path / f"run{n}", flags, scale)
    paths.append(str(tmp_path / f"p{n}.csv"))
    inference_lib.infer(inference_lib.InferenceConfig(
        train_dir=train_dir, input_data_pattern=path, output_file=paths[-1],
        top_k=30))
  assert all(len(pairs) == 30 for pairs in
             wh.read_predictions(paths[0]).values())
  result = _run(predictions=",".join(paths), num_classes=40, top_k=30,
                fit_labels=str(tmp_path / "labels.csv"),
                output_file=str(tmp_path / "e.csv"))
  assert result["ensemble"] >= max(result["members"])
  assert all(len(pairs) == 30 for pairs in
             wh.read_predictions(str(tmp_path / "e.csv")).values())


@pytest.mark.slow
def test_command_line_prints_members_then_json(tmp_path):
  paths, _, _, _ = _member_files(tmp_path)
  result = wh.run_script([
      "-m", "youtube8m.ensemble", f"--predictions={','.join(paths)}",
      f"--fit_labels={tmp_path / 'labels.csv'}", "--num_classes=6",
      "--top_k=3", f"--output_file={tmp_path / 'e.csv'}"])
  lines = result.stdout.strip().splitlines()
  assert lines[0].startswith(f"member {paths[0]}: GAP@3 ")
  assert lines[2].startswith("ensemble (fitted weights ")
  summary = json.loads(lines[-1])
  assert len(summary["weights"]) == 2 and summary["fitted"]
  failed = wh.run_script(["-m", "youtube8m.ensemble",
                          f"--predictions={paths[0]},{tmp_path / 'no.csv'}",
                          f"--output_file={tmp_path / 'x.csv'}"], check=False)
  assert failed.returncode == 1
  assert failed.stderr.strip().splitlines()[-1].startswith("error: ")
