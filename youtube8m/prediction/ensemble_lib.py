r"""Weighted ensembles of prediction files (`python -m youtube8m.ensemble`).

  python -m youtube8m.ensemble --predictions=a.csv,b.csv \
      --fit_labels=validate_labels.csv           # search the weights
  python -m youtube8m.ensemble --predictions=a_test.csv,b_test.csv \
      --weights=0.3,0.7 --output_file=submission.csv

Members are video-level Kaggle CSVs (`VideoId,LabelConfidencePairs`,
video_ensemble.py) or 2019 `Class,Segments` submissions (segment_ensemble
.py); the first line of the first file says which, and every member must
be of that kind. The ensemble's score is the weighted sum of the members'
(weights scaled to sum to 1): a class missing from a member's top-k counts
as that member's score 0 (so give the members more classes with
`inference.py --top_k=100`); a submission's ranks become rank scores.

--fit_labels (held-out ground truth: a labels CSV, or a glob of rated
segment records) scores each member and the ensemble: GAP@--top_k over the
videos the members predict (labels of other videos are not used), or
segment MAP@--top_n. Without --weights, the weights are searched for the
best score there (`search_weights`), as the winning teams tuned their
blends on held-out validation data (Willow, 2017; Axon AI, 2018,
arXiv:1809.07895, learned its ensemble weights). Fit on videos the models
did not train on, and judge the result on others.

Prints one line per member and one for the ensemble, then a JSON line whose
`weights` are the weights used (pass them to --weights, or to
`export_model.py --ensemble_weights` to put the ensemble in one graph).
"""

import tensorflow as tf

from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import submissions
from youtube8m.evaluation import score_lib
from youtube8m.evaluation import segment_eval_lib
from youtube8m.prediction import ensemble_config
from youtube8m.prediction import segment_ensemble
from youtube8m.prediction import video_ensemble
from youtube8m.serving import ensemble as ensemble_export

MAX_ROUNDS = 20  # of the coordinate search; it usually settles in 2 or 3


# The command's settings, in ensemble_config.py (no TensorFlow there: the
# command checks them before TensorFlow loads).
EnsembleConfig = ensemble_config.EnsembleConfig


def file_kind(path):
  """"video" or "segment", from the first line of a member file."""
  with tf.io.gfile.GFile(path, "r") as f:
    first = f.readline().strip()
  if first == score_lib.PREDICTIONS_HEADER:
    return "video"
  if first == submissions.SUBMISSION_HEADER:
    return "segment"
  raise utils.Yt8mError(
      f"{path}, line 1: expected '{score_lib.PREDICTIONS_HEADER}' (video "
      f"level) or '{submissions.SUBMISSION_HEADER}' (segments)")


def _spread(weights, n, value):
  """`weights` with weights[n] = value, the others scaled to 1 - value."""
  rest = sum(w for i, w in enumerate(weights) if i != n)
  others = len(weights) - 1
  return [value if i == n else
          (1 - value) * (w / rest if rest > 0 else 1 / others)
          for i, w in enumerate(weights)]


def search_weights(score, count, step=0.05):
  """Coordinate search for the weights that maximize `score(weights)`.

  From equal weights, each round tries every member's weight on the grid
  0, step, ..., 1 (the others scaled to fill the rest, keeping their
  proportions) and keeps a change only if it raises the score; it stops
  after a round without a gain. Deterministic: ties keep the earlier.

  Returns:
    (weights summing to 1, their score).
  """
  grid = [min(1.0, i * step) for i in range(int(round(1 / step)) + 1)]
  cache = {}

  def value(weights):
    key = tuple(round(w, 12) for w in weights)
    if key not in cache:
      cache[key] = score(weights)
    return cache[key]

  best = [1.0 / count] * count
  best_score = value(best)
  for _ in range(MAX_ROUNDS):
    improved = False
    for n in range(count):
      for w in grid:
        candidate = _spread(best, n, w)
        candidate_score = value(candidate)
        if candidate_score > best_score + 1e-12:
          best, best_score, improved = candidate, candidate_score, True
    if not improved:
      break
  return best, best_score


def _members(config, paths):
  """(members, labels or None, score(weights) -> dict, metric name)."""
  kinds = [file_kind(p) for p in paths]
  other = next((p for p, k in zip(paths, kinds) if k != kinds[0]), None)
  if other:
    raise utils.Yt8mError(f"{other}: not of the kind of {paths[0]} "
                          f"({kinds[0]} level); ensemble files of one kind")
  if kinds[0] == "video":
    members = video_ensemble.VideoMembers(paths, config.num_classes)
    if not config.fit_labels:
      return members, None, f"GAP@{config.top_k}"
    labels = score_lib.read_labels(config.fit_labels, config.num_classes)
    members.check_labelled(labels, f"--fit_labels={config.fit_labels}")
    # Only the members' videos count: the labels may cover more (all of
    # validate, when the members predicted some of its shards).
    labels = {video: labels[video] for video in members.videos}
    return members, lambda w: members.score(w, labels, config.top_k)[
        "gap"], f"GAP@{config.top_k}"
  members = segment_ensemble.SegmentMembers(paths)
  if not config.fit_labels:
    return members, None, f"MAP@{config.top_n}"
  ratings = segment_eval_lib.read_ratings(config.fit_labels,
                                          config.num_classes)
  return members, lambda w: members.score(w, ratings, config.top_n)["map"], \
      f"MAP@{config.top_n}"


def run(config):
  """Fits or applies the weights, writes --output_file; returns the result
  {"weights", "fitted", "metric", "members" [scores], "ensemble" score}
  (scores only with --fit_labels)."""
  settings.validate(config)
  paths = [p.strip() for p in config.predictions.split(",") if p.strip()]
  if len(paths) < 2:
    raise utils.Yt8mError(f"--predictions={config.predictions}: give at "
                          "least two files, comma-separated")
  if not config.output_file and not config.fit_labels:
    raise utils.Yt8mError("nothing to do: give --output_file and/or "
                          "--fit_labels")
  members, score, metric = _members(config, paths)
  fitted = bool(score) and not config.weights
  if fitted:
    weights, ensemble_score = search_weights(score, len(paths),
                                             config.weight_step)
    weights = [round(w, 12) for w in weights]  # 0.3, not 0.30000000000000004
  else:
    weights = ensemble_export.parse_weights(config.weights, len(paths),
                                            "--weights")
    ensemble_score = score(weights) if score else None
  result = {"weights": weights, "fitted": fitted, "metric": metric,
            "files": paths}
  if score:
    result["members"] = [score([float(i == n) for i in range(len(paths))])
                         for n in range(len(paths))]
    result["ensemble"] = ensemble_score
  if config.output_file:
    if isinstance(members, video_ensemble.VideoMembers):
      members.write(config.output_file, weights, config.top_k)
    else:
      members.write(config.output_file, weights, config.top_n)
    result["output_file"] = config.output_file
  return result


def summary_lines(result):
  """The human lines printed before the JSON line."""
  lines = []
  if "members" in result:
    for path, value in zip(result["files"], result["members"]):
      lines.append(f"member {path}: {result['metric']} {value:.6f}")
  weights = ", ".join(f"{w:.4f}" for w in result["weights"])
  line = (f"ensemble ({'fitted' if result['fitted'] else 'given'} weights "
          f"{weights})")
  if "ensemble" in result:
    line += f": {result['metric']} {result['ensemble']:.6f}"
  if "output_file" in result:
    line += f"; wrote {result['output_file']}"
  return lines + [line]
