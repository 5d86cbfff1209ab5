"""Segment predictions for the 2019 Kaggle task: the `Class,Segments` CSV.

`inference.py --segment_labels` cuts every video into 5-frame segments at
seconds 0, 5, 10, ... (the last, partial one kept: zero padded, num_frames
its real length), scores each segment with a frame-level model, and writes

  Class,Segments
  3,Ab3x:35 Zz9q:0 Ab3x:40 ...
  7,...

one row per whitelisted class (--segment_label_ids_file; default the 1000
classes of the 2019 challenge shipped in youtube8m/data/segment_label_ids.csv),
rows in class id order, each with up to --segment_max_pred segment ids
"<video_id>:<start_second>", best score first. Equal scores keep reading
order (files sorted, records in file order, start times ascending), so the
file is the same on every run. It is written to a temporary file and renamed
into place, like inference.py's video-level CSV.
"""

import csv
import io
import time

from absl import logging
import numpy as np
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import submissions
from youtube8m.evaluation import eval_util
from youtube8m.models import builders
from youtube8m.prediction import inference_config
from youtube8m.prediction import inference_lib
from youtube8m.prediction import segment_rerank
from youtube8m.serving import export
from youtube8m.serving import predictors

DEFAULT_LABEL_IDS = "segment_label_ids.csv"  # in youtube8m/data


# In inference_config.py (no TensorFlow there: the command checks it before
# TensorFlow loads).
SegmentInferenceConfig = inference_config.SegmentInferenceConfig


def load_class_whitelist(path, num_classes):
  """Sorted unique class ids (int32 [W]) from the `Index` column of a CSV."""
  path = path or utils.data_path(DEFAULT_LABEL_IDS)
  with tf.io.gfile.GFile(path, "r") as f:
    reader = csv.DictReader(io.StringIO(f.read()))
  if "Index" not in (reader.fieldnames or []):
    raise utils.Yt8mError(f"--segment_label_ids_file={path}: no 'Index' "
                          f"column (header: {reader.fieldnames})")
  ids = set()
  for number, row in enumerate(reader, 2):
    try:
      cls = int(row["Index"])
    except (TypeError, ValueError):
      raise utils.Yt8mError(
          f"--segment_label_ids_file={path}, line {number}: "
          f"'{row['Index']}' is not a class id") from None
    if not 0 <= cls < num_classes:
      raise utils.Yt8mError(
          f"--segment_label_ids_file={path}, line {number}: class {cls} is "
          f"outside [0, {num_classes}) of the model (--num_classes="
          f"{num_classes}); give a whitelist of the model's classes")
    ids.add(cls)
  if not ids:
    raise utils.Yt8mError(f"--segment_label_ids_file={path} lists no class")
  return np.array(sorted(ids), np.int32)


class TopSegments:
  """Keeps each class's `k` best-scored segments while batches stream in.

  Memory stays O(classes * k): batches are appended and, when more than
  2k are held, cut back to the best k per class. Among equal scores the
  earlier segment (lower index) ranks first.
  """

  def __init__(self, num_classes, k):
    self.k = int(k)
    self._scores = [np.zeros((num_classes, 0), np.float32)]  # [W, n] each
    self._index = [np.zeros((num_classes, 0), np.int64)]  # [W, n] each
    self._held = 0
    self.count = 0

  def add(self, scores):
    """scores: float [N, W] of the next N segments (numbered in order)."""
    scores = np.asarray(scores, np.float32).T  # [W, N]
    self._scores.append(scores)
    self._index.append(np.broadcast_to(
        np.arange(self.count, self.count + scores.shape[1]), scores.shape))
    self.count += scores.shape[1]
    self._held += scores.shape[1]
    if self._held > 2 * self.k:
      self._compact()

  def _compact(self):
    scores = np.concatenate(self._scores, axis=1)
    index = np.concatenate(self._index, axis=1)
    # Columns are in index order (kept ones first, all lower than new ones),
    # and row_top_k ranks equal scores by lower column: by lower index.
    best, columns = eval_util.row_top_k(scores, self.k)
    self._scores = [best]
    self._index = [np.take_along_axis(index, columns, 1)]
    self._held = best.shape[1]

  def best(self):
    """int64 [W, min(k, count)]: segment indexes per class, best first."""
    self._compact()
    return self._index[0]


def _segment_model(config):
  """(model, flags) of a frame-level checkpoint (train_dir or model tgz)."""
  if config.saved_model_dir or (not config.input_model_tgz and
                                export.is_saved_model(config.train_dir)):
    raise utils.Yt8mError(
        "--segment_labels needs a checkpoint (--train_dir or "
        "--input_model_tgz): an exported SavedModel predicts whole videos")
  predictor = predictors.make_predictor(config, checkpoint_only=True)
  if not predictor.flags["frame_features"]:
    raise utils.Yt8mError(
        f"--segment_labels needs a frame-level model; {predictor.flags['model']}"
        " reads video-level features")
  return predictor.model, predictor.flags


def infer_segments(config):
  """Writes the `Class,Segments` CSV; returns the number of segments scored."""
  settings.validate(config)
  if config.segment_max_pred <= 0:
    raise utils.Yt8mError(f"--segment_max_pred={config.segment_max_pred}: "
                          "expected a positive integer")
  if not inference_lib.pack_model_tgz(config):
    return 0
  model, flags = _segment_model(config)
  whitelist = load_class_whitelist(config.segment_label_ids_file,
                                   flags["num_classes"])
  reader = builders.make_reader(flags, segment_labels=True, all_segments=True)
  dataset = readers.make_dataset(reader, config.input_data_pattern,
                                 config.batch_size or
                                 inference_lib.DEFAULT_BATCH_SIZE,
                                 num_readers=config.num_readers,
                                 flag_name="--input_data_pattern")

  @tf.function
  def predict(batch):
    predictions = model(batch, training=False)["predictions"]  # [N, C]
    return batch["video_ids"], tf.gather(predictions, whitelist, axis=1)

  prior = None
  if segment_rerank.applies(config):
    prior = segment_rerank.VideoPrior(
        *segment_rerank.prior_model(config, model, flags), config, whitelist)
  top = TopSegments(len(whitelist), config.segment_max_pred)
  segment_ids, start = [], time.time()
  for batch in dataset:
    ids, scores = predict(batch)
    batch_ids = [v.decode("utf-8") for v in ids.numpy()]
    segment_ids.extend(batch_ids)
    top.add(scores.numpy() if prior is None else
            prior.rerank(batch_ids, scores.numpy()))
    elapsed = time.time() - start
    logging.info("num examples processed: %d elapsed seconds: %.2f "
                 "examples/sec: %.1f", top.count, elapsed,
                 top.count / max(elapsed, 1e-9))
  best = top.best()

  def write(f):
    f.write(submissions.SUBMISSION_HEADER + "\n")
    for cls, row in zip(whitelist, best):
      f.write(f"{cls},{' '.join(segment_ids[i] for i in row)}\n")

  outputs.write_file(config.output_file, write)
  logging.info("Wrote %d classes x up to %d of %d segments to %s",
               len(whitelist), config.segment_max_pred, top.count,
               config.output_file)
  return top.count
