"""Predictions for Kaggle: the model's top-k classes per video, as CSV.

The model comes from a training directory, an exported SavedModel or a
model .tar.gz (see predictors.py). The CSV is `VideoId,LabelConfidencePairs`,
then `id,cls score cls score ...` (top_k pairs, best first, "%i %g"). It is
written to a temporary file and renamed into place, so it appears whole or
not at all (gs:// included).
"""

import dataclasses
import time

from absl import logging

from youtube8m import model_archive
from youtube8m import model_config
from youtube8m import outputs
from youtube8m import predictors
from youtube8m import settings
from youtube8m import utils

CSV_HEADER = "VideoId,LabelConfidencePairs\n"


@dataclasses.dataclass
class InferenceConfig:
  """Every inference.py setting (segment mode adds its own, see
  segment_inference.SegmentInferenceConfig)."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "Training directory to load the latest checkpoint "
      "from (or an exported SavedModel directory).")
  input_data_pattern: str = settings.setting(
      "", "Glob of TFRecords to predict (local or gs://).")
  output_file: str = settings.setting("", "Where the Kaggle CSV goes.")
  saved_model_dir: str = settings.setting(
      "", "Predict with this exported SavedModel instead.")
  input_model_tgz: str = settings.setting(
      "", "Predict with a model packed by --output_model_tgz.")
  untar_model_dir: str = settings.setting(
      "/tmp/yt8m-model/", "Where --input_model_tgz is extracted.")
  output_model_tgz: str = settings.setting(
      "", "Also pack train_dir's latest checkpoint and model_flags.json into "
      "this .tar.gz.")
  top_k: int = settings.setting(20, "Predictions per video.")
  batch_size: int = settings.setting(512, "Examples per batch.")
  num_readers: int = settings.setting(
      1, "Files read in parallel (the output order stays fixed).")
  readable_output_file: str = settings.setting(
      "", "Optional file of the same predictions with label names.")
  vocabulary_file: str = settings.setting(
      "", "Vocabulary CSV for --readable_output_file (default: the shipped "
      "2018 vocabulary.csv).")
  # model_flags.json entries given on the command line, and the typed ones.
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()


def format_row(video_id, classes, scores):
  """One CSV row: `id,cls score cls score ...` ("%i %g"), newline-ended."""
  pairs = " ".join("%i %g" % (c, s) for c, s in zip(classes, scores))
  return f"{video_id},{pairs}\n"


def pack_model_tgz(config):
  """Writes --output_model_tgz if asked; whether predictions are wanted.

  Raises:
    Yt8mError: neither --output_file nor --output_model_tgz is given.
  """
  if config.output_model_tgz:
    model_archive.make_model_tgz(config.train_dir, config.output_model_tgz)
  if not config.output_file and not config.output_model_tgz:
    raise utils.Yt8mError("--output_file is required")
  return bool(config.output_file)


def infer(config):
  """Writes the Kaggle CSV (and the readable file); returns videos written.

  """
  if not pack_model_tgz(config):
    return 0
  predictor = predictors.make_predictor(config)
  names = None
  if config.readable_output_file:
    names = utils.load_vocabulary(config.vocabulary_file or None)

  def write_rows(f, readable):
    f.write(CSV_HEADER)
    if readable:
      readable.write("VideoId\tTopPredictions\n")
    count, start = 0, time.time()
    for ids, classes, scores in predictor.batches(
        config.input_data_pattern, config.batch_size, config.num_readers):
      for video_id, row_classes, row_scores in zip(ids, classes, scores):
        video_id = video_id.decode("utf-8")
        f.write(format_row(video_id, row_classes, row_scores))
        if readable:
          readable.write(_readable_row(video_id, row_classes, row_scores,
                                       names))
      count += len(ids)
      elapsed = time.time() - start
      logging.info("num examples processed: %d elapsed seconds: %.2f "
                   "examples/sec: %.1f", count, elapsed,
                   count / max(elapsed, 1e-9))
    return count

  def write_csv(f):
    if names is None:
      return write_rows(f, None)
    return outputs.write_file(config.readable_output_file,
                            lambda readable: write_rows(f, readable))

  count = outputs.write_file(config.output_file, write_csv)
  logging.info("Wrote %d videos to %s", count, config.output_file)
  return count


def _readable_row(video_id, classes, scores, names):
  """`video_id<TAB>score class name; ...`: for people, not for Kaggle."""
  items = "; ".join(f"{s:.3f} {c} {names.get(int(c), '') or '?'}"
                    for c, s in zip(classes, scores))
  return f"{video_id}\t{items}\n"
