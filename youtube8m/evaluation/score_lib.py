r"""The local Kaggle scorer's library (`python -m youtube8m.score`).

Video level (2017/2018), the CSV inference.py writes:

  python -m youtube8m.score --predictions=predictions.csv \
      --labels=validate_labels.csv [--top_k=20] [--report_file=score.html]

prints GAP@top_k, Hit@1, PERR and MAP (over the classes with positives) in
one line, then one JSON line. The metrics are eval_util's, so they equal
eval.py's on the same videos: each video's top_k pairs are pooled, and
recall counts all of its positives, also those it did not predict; equal
scores are averaged over their orders (eval_util's rules), the row's order
only deciding which tied pairs make a top_k cut. Hit@1 and PERR use every
pair of the row. A labelled video without a row scores as a video with no
prediction (it is counted and reported); a row for an unknown video is an
error unless --ignore_unknown_ids.

Files: predictions `VideoId,LabelConfidencePairs`, then `id,cls score ...`;
labels `VIDEO_ID,LABEL1 LABEL2 ...` per line (synthetic.write_labels_csv),
optionally under a Kaggle-style `VideoId,Labels` header.

Segment level (2019): the `Class,Segments` file against rated records, MAP@N
by segment_eval_lib's scorer:

  python -m youtube8m.score --segment_labels --predictions=segments.csv \
      --labels='/data/segment/validate*.tfrecord' [--top_n=100000]
"""

import array
import math

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import submissions
from youtube8m.evaluation import eval_report
from youtube8m.evaluation import eval_util
from youtube8m.evaluation import score_config
from youtube8m.evaluation import segment_eval_lib

PREDICTIONS_HEADER = submissions.CSV_HEADER.strip()
_LABEL_HEADER_IDS = {"videoid", "video_id", "id"}


# The scorer's settings, in score_config.py (no TensorFlow there: the command
# checks them before TensorFlow loads).
ScoreConfig = score_config.ScoreConfig


def _lines(path):
  with tf.io.gfile.GFile(path, "r") as f:
    return f.read().splitlines()


def _class_id(token, num_classes):
  """int class id, or None if token is no id in [0, num_classes)."""
  try:
    value = int(token)
  except ValueError:
    return None
  return value if 0 <= value < num_classes else None


def read_labels(path, num_classes):
  """{video id: sorted unique class ids (list)} in file order.

  Raises:
    Yt8mError: empty file, bad line, bad class id or a repeated video.
  """
  lines = _lines(path)
  labels, first = {}, {}
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    video, comma, rest = line.partition(",")
    video = video.strip()
    where = f"{path}, line {number}"
    if number == 1 and video.lower() in _LABEL_HEADER_IDS:
      continue  # a Kaggle-style header (VideoId,Labels)
    if not comma or not video:
      raise utils.Yt8mError(f"{where}: expected VIDEO_ID,LABEL1 LABEL2 ...")
    ids = []
    for token in rest.split():
      cls = _class_id(token, num_classes)
      if cls is None:
        raise utils.Yt8mError(
            f"{where}: video '{video}': label '{token}' is not a class id in "
            f"[0, {num_classes}) (--num_classes={num_classes})")
      ids.append(cls)
    if video in labels:
      raise utils.Yt8mError(f"{where}: video '{video}' already has labels "
                            f"on line {first[video]}")
    labels[video], first[video] = sorted(set(ids)), number
  if not labels:
    raise utils.Yt8mError(f"{path}: holds no labelled video")
  return labels


def _parse_pairs(tokens, where, num_classes):
  """(class ids, scores) of one row; one-line errors name the bad token."""
  if len(tokens) % 2:
    raise utils.Yt8mError(f"{where}: {len(tokens)} values; expected "
                          "class-score pairs")
  classes = [_class_id(t, num_classes) for t in tokens[0::2]]
  if None in classes:
    bad = tokens[2 * classes.index(None)]
    raise utils.Yt8mError(f"{where}: class '{bad}' is not a class id in "
                          f"[0, {num_classes}) (--num_classes={num_classes})")
  scores = []
  for cls, token in zip(classes, tokens[1::2]):
    try:
      score = float(token)
    except ValueError:
      score = None
    if score is None or not math.isfinite(score):
      raise utils.Yt8mError(f"{where}: score '{token}' of class {cls} is not "
                            "a finite number")
    scores.append(score)
  if len(set(classes)) != len(classes):
    repeated = next(c for c in classes if classes.count(c) > 1)
    raise utils.Yt8mError(f"{where}: class {repeated} appears twice")
  return classes, scores


def prediction_rows(path, num_classes):
  """Yields (line number, video id, class ids, scores) of a predictions CSV.

  Raises:
    Yt8mError: no header, a malformed row or pair, a class id outside
      [0, num_classes), a non-finite score, a repeated class or video
      (naming the file and line), or no row at all.
  """
  lines = _lines(path)
  if not lines or lines[0].strip() != PREDICTIONS_HEADER:
    raise utils.Yt8mError(f"{path}: the first line must be "
                          f"'{PREDICTIONS_HEADER}'" +
                          ("" if lines else " (the file is empty)"))
  first = {}
  for number, line in enumerate(lines[1:], 2):
    if not line.strip():
      continue
    video, comma, rest = line.partition(",")
    video = video.strip()
    where = f"{path}, line {number}"
    if not comma or not video:
      raise utils.Yt8mError(f"{where}: expected 'id,cls score cls score ...'")
    where += f": video '{video}'"
    if video in first:
      raise utils.Yt8mError(f"{where} already has predictions on line "
                            f"{first[video]}")
    first[video] = number
    row_classes, row_scores = _parse_pairs(rest.split(), where, num_classes)
    yield number, video, row_classes, row_scores
  if not first:
    raise utils.Yt8mError(f"{path}: holds no prediction row")


def read_predictions(path, labels, num_classes, ignore_unknown_ids=False):
  """The rows of a predictions CSV for the videos of `labels`, in file order.

  Returns:
    (videos [R] list of ids, classes [M] int64, scores [M] float64,
     lengths [R] int64 pairs per row (pairs in file order), unknown rows
     skipped).
  """
  videos, unknown = [], 0
  # Flat typed arrays: 8 bytes per value, where lists of Python numbers
  # would need ~4 times that for a 20-pair x 1M-video file.
  classes, scores, lengths = array.array("q"), array.array("d"), []
  for number, video, row_classes, row_scores in prediction_rows(
      path, num_classes):
    if video not in labels:
      if ignore_unknown_ids:
        unknown += 1
        continue
      raise utils.Yt8mError(f"{path}, line {number}: video '{video}' is not "
                            "in the labels; --ignore_unknown_ids skips such "
                            "rows")
    videos.append(video)
    classes.extend(row_classes)
    scores.extend(row_scores)
    lengths.append(len(row_classes))
  return (videos, np.frombuffer(classes, np.int64),
          np.frombuffer(scores, np.float64), np.array(lengths, np.int64),
          unknown)


def _expected_hits(row, scores, positive, starts, lengths, num_positives):
  """Hit@1 and PERR hits [V] of sorted rows, as eval_util defines them.

  Ties are averaged over their orders: Hit@1 is the share of positives among
  the pairs tied at the row's top score; a positive tied at the n-th score
  (n: the video's positives) counts (places left) / (pairs tied there).
  Classes a row does not list rank below all it lists.

  Args:
    row, scores, positive: [M] pairs, rows best first.
    starts: [V + 1] offsets of the rows; lengths [V]; num_positives [V].
  """
  def per_row(mask):
    return np.bincount(row, weights=mask, minlength=lengths.size)
  best = np.full(lengths.size, -np.inf)
  best[lengths > 0] = scores[starts[:-1][lengths > 0]]
  at_top = scores == best[row]
  hit = per_row(positive & at_top) / np.maximum(per_row(at_top), 1)
  # The n-th best score; -inf when the row lists fewer than n pairs.
  known = (num_positives > 0) & (num_positives <= lengths)
  nth = np.full(lengths.size, -np.inf)
  nth[known] = scores[starts[:-1][known] + num_positives[known] - 1]
  above, tied = scores > nth[row], scores == nth[row]
  room = num_positives - per_row(above)
  shared = room * per_row(positive & tied) * (nth > 0)
  return hit, (per_row(positive & above & (scores > 0)) +
               shared / np.maximum(per_row(tied), 1))


def evaluation_metrics(labels, videos, classes, scores, lengths, num_classes,
                       top_k):
  """An eval_util.EvaluationMetrics holding every labelled video.

  Args:
    labels: {video id: class ids} (read_labels).
    videos, classes, scores, lengths: read_predictions' rows [R], pairs [M].
    num_classes, top_k: as in eval.py.

  Returns:
    The EvaluationMetrics (get() gives the metrics; pooled() the entries),
    videos of `labels` without a row come after the rows, with no entry.
  """
  predicted = set(videos)
  missing = [v for v in labels if v not in predicted]
  order_ids = list(videos) + missing  # scoring position -> video
  lengths = np.concatenate([lengths, np.zeros(len(missing), np.int64)])
  row = np.repeat(np.arange(len(order_ids)), lengths)  # [M]
  # Best first within each row. Equal scores average over their orders in
  # every metric; only which tied pairs make a row's top_k cut depends on
  # order, and lexsort is stable: the row's (the writer's) order decides.
  sort = np.lexsort((-scores, row))
  classes, scores = classes[sort], scores[sort]
  starts = np.concatenate([[0], np.cumsum(lengths)])
  rank = np.arange(row.size) - starts[row]
  # Labels as (position, class) keys; positives found with one isin.
  label_rows = np.repeat(np.arange(len(order_ids)),
                         [len(labels[v]) for v in order_ids])
  label_classes = np.array([c for v in order_ids for c in labels[v]],
                           np.int64)
  positive = np.isin(row * num_classes + classes,
                     label_rows * num_classes + label_classes)
  num_positives = np.bincount(label_rows, minlength=len(order_ids))
  hit, perr_hits = _expected_hits(row, scores, positive, starts, lengths,
                                  num_positives)
  top = rank < top_k
  scores, classes, positive = scores[top], classes[top], positive[top]
  width = np.minimum(lengths, top_k)
  metrics = eval_util.EvaluationMetrics(num_classes, top_k)
  # accumulate_summary takes [B, w] arrays: feed runs of rows of one width,
  # in order (usually one run: every row has top_k pairs).
  cuts = np.concatenate([[0], np.flatnonzero(np.diff(width)) + 1,
                         [len(order_ids)]])
  offsets = np.concatenate([[0], np.cumsum(width)])
  label_starts = np.searchsorted(label_rows, cuts)
  for n, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
    lo, hi, shape = offsets[a], offsets[b], (b - a, width[a])
    metrics.accumulate_summary({
        "top_k_scores": scores[lo:hi].reshape(shape),
        "top_k_ids": classes[lo:hi].reshape(shape),
        "top_k_positive": positive[lo:hi].reshape(shape),
        "hit_at_one": hit[a:b], "perr_hits": perr_hits[a:b],
        "num_positives": num_positives[a:b],
        "class_positives": np.bincount(
            label_classes[label_starts[n]:label_starts[n + 1]],
            minlength=num_classes)}, loss=0.0)
  return metrics


def score_videos(config):
  """Video-level scores of config.predictions; writes the report if asked."""
  labels = read_labels(config.labels, config.num_classes)
  videos, classes, scores, lengths, unknown = read_predictions(
      config.predictions, labels, config.num_classes,
      config.ignore_unknown_ids)
  if config.only_predicted_videos:
    labels = {video: labels[video] for video in videos}
  metrics = evaluation_metrics(labels, videos, classes, scores, lengths,
                               config.num_classes, config.top_k)
  values = metrics.get()
  del values["avg_loss"]  # a CSV has no loss
  eval_report.summarize(metrics, values, 0, None, config.vocabulary_file,
                        config.report_file, eval_report.ReportInfo(
                            predictions=config.predictions,
                            labels=config.labels))
  return {"gap": values["gap"], "top_k": config.top_k,
          "hit_at_one": values["avg_hit_at_one"], "perr": values["avg_perr"],
          "map": values["map"],
          "num_classes": values["num_classes_with_positives"],
          "num_videos": len(labels),
          "videos_without_predictions": len(labels) - len(videos),
          "unknown_ids_ignored": unknown}


def score_segments(config):
  """segment_eval's MAP@top_n of a Class,Segments file."""
  result = segment_eval_lib.score_submission(
      submissions.read_submission(config.predictions),
      segment_eval_lib.read_ratings(config.labels, config.num_classes),
      config.top_n)
  del result["aps"]
  result["top_n"] = config.top_n
  return result


def summary_line(result, segment_labels=False):
  """The one human line printed before the JSON line."""
  if segment_labels:
    return (f"segment MAP@{result['top_n']} {result['map']:.6f} over "
            f"{result['num_classes']} classes with positive ratings "
            f"({result['unrated_entries_skipped']} unrated entries skipped)")
  notes = []
  if result["videos_without_predictions"]:
    notes.append(f"{result['videos_without_predictions']} labelled videos "
                 "have no prediction row and score as empty")
  if result["unknown_ids_ignored"]:
    notes.append(f"{result['unknown_ids_ignored']} rows of unknown videos "
                 "ignored")
  return (f"GAP@{result['top_k']} {result['gap']:.6f} | Hit@1 "
          f"{result['hit_at_one']:.6f} | PERR {result['perr']:.6f} | MAP "
          f"{result['map']:.6f} over {result['num_classes']} classes | "
          f"{result['num_videos']} videos" +
          (f" ({'; '.join(notes)})" if notes else ""))


def score(config):
  """The result dict of a ScoreConfig: segment or video level."""
  if config.segment_labels:
    return score_segments(config)
  return score_videos(config)
