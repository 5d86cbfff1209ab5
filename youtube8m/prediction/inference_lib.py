"""Predictions for Kaggle: the model's top-k classes per video, as CSV.

The model comes from a training directory, an exported SavedModel or a
model .tar.gz (see predictors.py). The CSV is `VideoId,LabelConfidencePairs`,
then `id,cls score cls score ...` (top_k pairs, best first, "%i %g"). It is
written to a temporary file and renamed into place, so it appears whole or
not at all (gs:// included). Video ids a CSV cannot hold (comma, quote,
newline or other control character, not UTF-8) and NaN/inf scores are
errors, not rows; so is an input without any video.
"""

import time

from absl import logging
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import progress
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import data_service
from youtube8m.data import submissions
from youtube8m.data import tfrecords
from youtube8m.models import memory
from youtube8m.prediction import inference_config
from youtube8m.serving import model_archive
from youtube8m.serving import predictors


# In inference_config.py (no TensorFlow there: the command checks it before
# TensorFlow loads).
InferenceConfig = inference_config.InferenceConfig

DEFAULT_BATCH_SIZE = inference_config.DEFAULT_BATCH_SIZE  # the seed's 512
HEARTBEAT_SECS = 30  # a line while one batch runs longer than this


def batch_size(config, predictor):
  """The batch size of a run: --batch_size, or what fits the budget
  (memory.choose_batch_size); logs (or warns) when the budget decides."""
  size, message = memory.choose_batch_size(
      config.batch_size, DEFAULT_BATCH_SIZE, predictor.model,
      predictor.flags or {"frame_features": False},
      config.memory_budget_gb)
  if message:
    (logging.warning if config.batch_size else logging.info)("%s", message)
  return size


class _Upstream(Exception):
  """An error of the rows' source, carried unchanged through write_output."""


class _Output:
  """A file whose write errors become one line naming its flag and path."""

  def __init__(self, f, path, flag):
    self._f, self._path, self._flag = f, path, flag

  def write(self, text):
    try:
      return self._f.write(text)
    except (OSError, tf.errors.OpError) as e:
      raise _output_error(self._path, self._flag, e) from e


def _output_error(path, flag, error):
  reason = (getattr(error, "strerror", None) or getattr(error, "message", "")
            or str(error)).strip().splitlines()
  return utils.Yt8mError(f"{flag}={path}: cannot write it "
                         f"({reason[0] if reason else type(error).__name__})")


def write_output(path, flag, write_fn):
  """outputs.write_file(path, write_fn): whole or nothing, errors one line.

  I/O errors of the output itself (a directory that is a file, a full disk,
  no permission) become a Yt8mError naming `flag` and `path`; errors of
  whatever write_fn reads propagate unchanged.
  """
  def guarded(f):
    try:
      return write_fn(_Output(f, path, flag))
    except (OSError, tf.errors.OpError) as e:
      raise _Upstream(e) from e
  try:
    return outputs.write_file(path, guarded)
  except _Upstream as e:
    raise e.args[0]  # pylint: disable=raise-missing-from
  except (OSError, tf.errors.OpError) as e:
    raise _output_error(path, flag, e) from e


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


def check_outputs(config):
  """No two outputs may be one file, nor any output one of the inputs."""
  inputs = []
  if config.output_file and config.input_data_pattern:
    inputs.append((predictors.INPUT_FLAG, tfrecords.list_files(
        config.input_data_pattern, predictors.INPUT_FLAG)))
  inputs.append(("--input_model_tgz", [config.input_model_tgz]
                 if config.input_model_tgz else []))
  if config.readable_output_file:
    inputs.append(("--vocabulary_file", [config.vocabulary_file]
                   if config.vocabulary_file else []))
  outputs.check_distinct({
      "--output_file": config.output_file,
      "--readable_output_file": (config.readable_output_file
                                 if config.output_file else ""),
      "--output_model_tgz": config.output_model_tgz}, inputs)


def infer(config):
  """Writes the Kaggle CSV (and the readable file); returns videos written.

  Raises:
    Yt8mError: bad settings (e.g. --top_k outside 1..num_classes), a video
      id a CSV cannot hold, a NaN/inf score, no video in the input, or an
      output that cannot be written. Nothing is written then (an
      --output_model_tgz asked for is written only once the model loads).
  """
  settings.validate(config)
  check_outputs(config)
  names = None
  if config.readable_output_file:  # a bad vocabulary: before the model loads
    names = utils.load_vocabulary(config.vocabulary_file or None)
  # The predictor first: it checks the model and --top_k before any output.
  predictor = predictors.make_predictor(config) if config.output_file else None
  if not pack_model_tgz(config):
    return 0
  size = batch_size(config, predictor)  # warns before any output
  service = None
  if config.data_service_address:
    if predictor.model is None:
      raise utils.Yt8mError(
          "--data_service_address: a SavedModel parses its records in its "
          "own signature; predict from the checkpoint (--train_dir or "
          "--input_model_tgz) to parse on the data service")
    service = data_service.service_target(config.data_service_address)
  source = f"{predictors.INPUT_FLAG}={config.input_data_pattern}"

  def write_rows(f, readable):
    f.write(submissions.CSV_HEADER)
    if readable:
      readable.write("VideoId\tTopPredictions\n")
    total = tfrecords.count_records(tfrecords.list_files(
        config.input_data_pattern, "--input_data_pattern"))
    meter = progress.Progress(total)
    meter.update(0)
    heartbeat = progress.Heartbeat(HEARTBEAT_SECS, lambda seconds: logging.info(
        "%s | a batch still running after %.0f s",
        meter.describe("examples processed"), seconds))
    with heartbeat:
      count = _write_batches(
          f, readable, predictor.batches(
              config.input_data_pattern, size, config.num_readers,
              **({"data_service": service} if service else {})),
          source, names, meter, heartbeat, total)
    if not count:
      raise utils.Yt8mError(f"{source}: the input holds no video; no CSV "
                            "written")
    return count

  def write_csv(f):
    if names is None:
      return write_rows(f, None)
    return write_output(config.readable_output_file, "--readable_output_file",
                        lambda readable: write_rows(f, readable))

  count = write_output(config.output_file, "--output_file", write_csv)
  logging.info("Wrote %d videos to %s", count, config.output_file)
  return count


def _write_batches(f, readable, batches, source, names, meter, heartbeat,
                   total):
  """Writes the CSV (and readable) rows of every batch; returns videos."""
  count, start = 0, time.time()
  for ids, classes, scores in batches:
    # Whole batches: checked and formatted without a Python loop per row.
    video_ids = submissions.csv_video_ids(ids, source)
    f.write(submissions.format_rows(video_ids, classes, scores, source))
    if readable:
      readable.write("".join(
          _readable_row(video_id, row_classes, row_scores, names)
          for video_id, row_classes, row_scores in zip(
              video_ids, classes, scores)))
    count += len(ids)
    elapsed = time.time() - start
    eta = meter.update(count).eta_seconds()
    logging.info("num examples processed: %d%s elapsed seconds: %.2f "
                 "examples/sec: %.1f%s", count, f"/{total}" if total else "",
                 elapsed, count / max(elapsed, 1e-9),
                 f" | ETA {progress.format_duration(eta)}" if eta else "")
    heartbeat.touch()
  return count


def _readable_row(video_id, classes, scores, names):
  """`video_id<TAB>score class name; ...`: for people, not for Kaggle."""
  items = "; ".join(f"{s:.3f} {c} {names.get(int(c), '') or '?'}"
                    for c, s in zip(classes, scores))
  return f"{video_id}\t{items}\n"
