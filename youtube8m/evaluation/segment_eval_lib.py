r"""Segment-level (2019) evaluation: eval.py's evaluator and the MAP@N scorer.

The metric (the 2019 Kaggle MAP@N): for each rated class c, the ranked list of
segments "<video_id>:<start_second>" is scored against the human ratings:

  AP_c = sum_i precision@i * rel_i / P_c,     MAP = mean_c AP_c

where P_c counts the segments rated 1 for c (also those missing from the
list), and the mean runs over the classes with at least one positive rating
(a class rated only 0 has no AP). In the list, a segment rated 1 for c is
relevant, one rated 0 for c is not, and a segment without a rating for c is
skipped: it neither helps nor costs precision, as in the 2019 Kaggle metric,
where only rated segments count. The scorer first cuts the submitted list
to its first `top_n` (100,000) entries, then skips unrated and repeated ids.

`score_submission` scores a submission (`inference.py --segment_labels`
writes one; `python -m youtube8m.score --segment_labels` is the command).

`SegmentEvaluator` computes the same MAP for a model on rated records
(`eval.py --segment_labels`): each rated class's list is every segment rated
for it, ranked by the model's score.
"""

import collections
import time

from absl import logging
import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import segment_readers
from youtube8m.data import tfrecords
from youtube8m.evaluation import average_precision_calculator as ap_calculator
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import eval_util
from youtube8m.models import losses as losses_lib


class SegmentEvaluator:
  """Runs a model over rated segments; reports the segment MAP.

  Args:
    model: a youtube8m frame-level BaseModel (variables created).
    loss_fn: a youtube8m.models.losses loss (weighted by label_weights).
    dataset_fn: () -> tf.data.Dataset of YT8MSegmentReader batches.
    num_classes: classes of the model.
    log_every: batches between progress lines.
  """

  SUMMARY_SUBDIR = "eval_segments"

  def __init__(self, model, loss_fn, dataset_fn, num_classes, log_every=10):
    self.model, self.loss_fn, self.dataset_fn = model, loss_fn, dataset_fn
    self.num_classes, self.log_every = num_classes, log_every
    self._step = tf.function(self._eval_step)

  @classmethod
  def from_config(cls, config, flags):
    """(evaluator, checkpoint of its model) for an eval_lib.EvalConfig."""
    model, loss_fn, dataset_fn = eval_lib.model_and_data(
        config, flags, segment_labels=True)
    return (cls(model, loss_fn, dataset_fn, flags["num_classes"]),
            tf.train.Checkpoint(model=model))

  def summarize(self, metrics, global_step, writer=None, checkpoint=""):
    del checkpoint  # no report at segment level
    log_and_summarize(metrics, global_step, writer)

  def _eval_step(self, batch):
    """Only the rated (segment, class) entries [R] go to the host."""
    predictions = self.model(batch, training=False)["predictions"]  # [N, C]
    loss = self.loss_fn.calculate_loss(
        predictions, batch["labels"], label_weights=batch["label_weights"])
    rated = tf.where(batch["label_weights"] > 0)  # [R, 2]: segment, class
    return {"classes": rated[:, 1],
            "scores": tf.gather_nd(predictions, rated),
            "ratings": tf.gather_nd(batch["labels"], rated),
            "loss": loss, "segments": tf.shape(predictions)[0]}

  def run(self, global_step=0):
    """One pass; returns {map, aps, avg_loss, num_classes, num_segments...}."""
    parts = collections.defaultdict(list)
    losses, segments, start = [], 0, time.time()
    for n, batch in enumerate(self.dataset_fn(), 1):
      out = {k: v.numpy() for k, v in self._step(batch).items()}
      for key in ("classes", "scores", "ratings"):
        parts[key].append(out[key])
      losses.append((float(out["loss"]), int(out["segments"])))
      segments += int(out["segments"])
      if n % self.log_every == 0:
        logging.info("examples_processed: %d | global_step %d | Batch Loss: "
                     "%.3f | Examples_per_sec: %.3f", segments, global_step,
                     losses[-1][0], segments / max(time.time() - start, 1e-9))
    if segments == 0:
      raise utils.Yt8mError("the evaluation data holds no rated segment "
                            "(segment_labels); --segment_labels needs the "
                            "2019 segment-rated records")
    classes, scores, ratings = (np.concatenate(parts[k]) for k in
                                ("classes", "scores", "ratings"))
    positives = np.bincount(classes[ratings > 0],
                            minlength=self.num_classes)
    # Entries in reading order: equal scores rank in that order, as in the
    # submission inference writes.
    aps = eval_util.class_aps(
        scores, classes, ratings > 0, positives)
    loss, sizes = np.array(losses).T
    rated = np.unique(classes)
    return {"map": float(np.nanmean(aps)) if positives.any() else 0.0,
            "aps": aps, "avg_loss": losses_lib.batch_weighted_mean(loss, sizes),
            "num_classes": int(np.count_nonzero(positives)),
            "num_rated_classes": int(rated.size),
            "num_segments": segments, "num_ratings": int(classes.size)}


def log_and_summarize(metrics, global_step, writer=None, prefix="segment/"):
  """The per-pass log line and TensorBoard scalars (tags `segment/...`)."""
  logging.info(
      "epoch/eval number %d | segment MAP: %.4f | Avg_Loss: %f | "
      "num_classes: %d | num_segments: %d | num_ratings: %d", global_step,
      metrics["map"], metrics["avg_loss"], metrics["num_classes"],
      metrics["num_segments"], metrics["num_ratings"])
  if writer is not None:
    with writer.as_default(step=global_step):
      tf.summary.scalar(prefix + "MAP", metrics["map"])
      tf.summary.scalar(prefix + "Avg_Loss", metrics["avg_loss"])
    writer.flush()


# ------------------------------------------------------------- the scorer ---

def _context_batches(path):
  spec = {"id": tf.io.RaggedFeature(tf.string),
          "video_id": tf.io.RaggedFeature(tf.string),
          "segment_labels": tf.io.RaggedFeature(tf.int64),
          "segment_start_times": tf.io.RaggedFeature(tf.int64),
          "segment_scores": tf.io.RaggedFeature(tf.float32)}
  for records in tf.data.TFRecordDataset(path).batch(1024):
    # Only the context is parsed: the scorer needs no frames.
    context, _, _ = tf.io.parse_sequence_example(records,
                                                 context_features=spec)
    yield {k: v.to_list() for k, v in context.items()}


def read_ratings(data_pattern, num_classes=3862):
  """{class: {segment id: 1 or 0}} from rated frame-level records.

  Checks what the records alone can tell (parallel lists, class range,
  start times that are multiples of 5, scores 0 or 1); the start-time-
  beyond-the-video check needs the frames and is left to the readers.
  """
  ratings = collections.defaultdict(dict)
  for path in tfrecords.list_files(data_pattern, "--eval_data_pattern"):
    for context in _context_batches(path):
      for n, (ids, old_ids) in enumerate(zip(context["id"],
                                             context["video_id"])):
        video = (ids or old_ids or [b""])[0].decode("utf-8")
        where = f"file {path}: video '{video}'"
        labels, starts, scores = (context[k][n] for k in (
            "segment_labels", "segment_start_times", "segment_scores"))
        if not len(labels) == len(starts) == len(scores):
          raise utils.Yt8mError(
              f"{where}: segment_labels, segment_start_times and "
              f"segment_scores have {len(labels)}, {len(starts)}, "
              f"{len(scores)} values; they must be parallel lists")
        for label, start, score in zip(labels, starts, scores):
          if not 0 <= label < num_classes:
            raise utils.Yt8mError(
                f"{where}: segment label id {label} is outside [0, "
                f"{num_classes}) (--num_classes={num_classes})")
          if start < 0 or start % segment_readers.SEGMENT_SIZE:
            raise utils.Yt8mError(
                f"{where}: segment start time {start} is not a multiple of "
                f"{segment_readers.SEGMENT_SIZE} seconds >= 0")
          if score not in (segment_readers.ABSENT, segment_readers.PRESENT):
            raise utils.Yt8mError(f"{where}: segment score {score:g} is not "
                                  "1 (present) or 0 (absent)")
          key = segment_readers.segment_id(video, start)
          ratings[label][key] = max(ratings[label].get(key, 0), int(score))
  return dict(ratings)


def score_submission(submission, ratings, top_n=100000):
  """MAP@top_n of a submission (see the module docstring).

  Args:
    submission: {class: [segment id, ...] best first}.
    ratings: {class: {segment id: 1 or 0}}.
    top_n: entries of each class's list that count.

  Returns:
    {"map", "num_classes" (classes with a positive rating), "aps"
     {class: AP}, "classes_without_positives", "unrated_entries_skipped"}.
  """
  aps, skipped = {}, 0
  for cls in sorted(ratings):
    rated = ratings[cls]
    positives = sum(rated.values())
    if positives == 0:
      continue
    relevant, seen = [], set()
    for segment in submission.get(cls, [])[:top_n]:
      if segment in seen:
        continue
      seen.add(segment)
      if segment in rated:
        relevant.append(rated[segment])
      else:
        skipped += 1
    # Scores that keep the submitted order; ap_at_n counts P positives.
    aps[cls] = ap_calculator.AveragePrecisionCalculator.ap_at_n(
        -np.arange(len(relevant), dtype=np.float64),
        np.array(relevant, np.int64), n=None, total_num_positives=positives)
  return {"map": float(np.mean(list(aps.values()))) if aps else 0.0,
          "num_classes": len(aps), "aps": aps,
          "classes_without_positives": len(ratings) - len(aps),
          "unrated_entries_skipped": skipped}
