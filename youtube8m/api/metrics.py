"""`evaluate`: eval.py's metrics (GAP, MAP, Hit@1, PERR) from Python.

The metrics are eval_util's, computed by the code eval.py and
`python -m youtube8m.score` run:
  - a full score matrix [B, C] with labels [B, C] goes through
    eval_util.EvaluationMetrics, as eval.py's batches do;
  - `Predictions` (top-k pairs per video) go through score_lib, as score.py
    scores inference.py's CSV: classes a video's row does not list rank
    below those it lists, and a labelled video without a row counts as
    predicting nothing. Both equal eval.py's on the same videos when k is
    at least the metric's top_k (20) and at least any video's number of
    positives (PERR looks that deep).
"""

import numpy as np

from youtube8m.api import arguments
from youtube8m.api import predictions as predictions_lib
from youtube8m.common import utils
from youtube8m.data import record_labels
from youtube8m.evaluation import eval_util
from youtube8m.evaluation import score_lib


def read_labels(source, num_classes=3862):
  """{video id: sorted class ids} from a labels CSV or TFRecord files.

  Args:
    source: a `VIDEO_ID,LABEL1 LABEL2 ...` CSV (ends in .csv; score.py's
      --labels), or a glob of video- or frame-level TFRecords (their `id`
      and `labels`).
    num_classes: class ids must be below it (4716 for the 2017 data).
  """
  if str(source).lower().endswith(".csv"):
    return score_lib.read_labels(source, num_classes)
  return record_labels.read(source, num_classes, flag_name="source")


def evaluate(predictions, labels, top_k=20):
  """GAP@top_k, MAP, Hit@1 and PERR of predictions against labels.

  Args:
    predictions: a Predictions (its ids are matched to the labels), or
      float scores [B, C] (e.g. Model.scores).
    labels: for Predictions, {video id: class ids} (read_labels), or a
      path read_labels takes; for scores, [B, C] with > 0 meaning positive,
      rows aligned with the scores.
    top_k: each video's best top_k classes count for GAP and MAP.

  Returns:
    {"gap", "map", "hit_at_one", "perr": float; "aps": float64 [C] per-class
    AP (NaN for a class without positives); "num_classes": classes with
    positives; "num_videos"; "videos_without_predictions": labelled videos
    no prediction row covers (scored as empty); "top_k"}.

  Raises:
    Yt8mError: mismatched shapes, an id without labels, a repeated id.
  """
  arguments.check_positive_int("top_k", top_k)
  if isinstance(predictions, predictions_lib.Predictions):
    if isinstance(labels, str):
      labels = read_labels(labels, predictions.num_classes)
    if not isinstance(labels, dict):
      raise utils.Yt8mError(
          "labels: expected {video id: class ids} (api.read_labels) for "
          f"Predictions, got {type(labels).__name__}")
    metrics, missing = _top_k_metrics(predictions, labels, top_k)
  else:
    metrics, missing = _matrix_metrics(predictions, labels, top_k), 0
  values = metrics.get()
  return {"gap": values["gap"], "map": values["map"],
          "hit_at_one": values["avg_hit_at_one"], "perr": values["avg_perr"],
          "aps": values["aps"],
          "num_classes": values["num_classes_with_positives"],
          "num_videos": values["num_examples"],
          "videos_without_predictions": missing, "top_k": top_k}


def _top_k_metrics(predictions, labels, top_k):
  """(EvaluationMetrics of the labelled videos, videos without a row)."""
  labels = {str(video): _class_ids(classes, video, predictions.num_classes)
            for video, classes in labels.items()}
  if not labels:
    raise utils.Yt8mError("labels: holds no video")
  ids = [str(video) for video in predictions.ids]
  seen = set()
  for video in ids:
    if video not in labels:
      raise utils.Yt8mError(f"labels: no entry for video {video!r} of the "
                            "predictions")
    if video in seen:
      raise utils.Yt8mError(f"predictions: video {video!r} appears twice")
    seen.add(video)
  b, k = predictions.class_ids.shape
  metrics = score_lib.evaluation_metrics(
      labels, ids,
      predictions.class_ids.astype(np.int64).ravel(),
      predictions.scores.astype(np.float64).ravel(),
      np.full(b, k, np.int64), predictions.num_classes, top_k)
  return metrics, len(labels) - len(seen)


def _class_ids(classes, video, num_classes):
  """Sorted unique class ids of one video, each in [0, num_classes)."""
  ids = sorted({int(c) for c in classes})
  bad = [c for c in ids if not 0 <= c < num_classes]
  if bad:
    raise utils.Yt8mError(f"labels[{video!r}]: class {bad[0]} is outside "
                          f"[0, {num_classes}) (the model's classes)")
  return ids


def _matrix_metrics(scores, labels, top_k):
  """EvaluationMetrics of one score matrix [B, C] and labels [B, C]."""
  scores = np.asarray(scores, np.float32)
  labels = np.asarray(labels)
  if scores.ndim != 2 or labels.shape != scores.shape or not scores.size:
    raise utils.Yt8mError(
        f"predictions {scores.shape} and labels {labels.shape}: expected "
        "Predictions, or scores and labels both [videos, classes]")
  if not np.isfinite(scores).all():
    raise utils.Yt8mError("predictions: a score is NaN or infinite")
  metrics = eval_util.EvaluationMetrics(scores.shape[1], top_k)
  metrics.accumulate(scores, labels, 0.0)
  return metrics
