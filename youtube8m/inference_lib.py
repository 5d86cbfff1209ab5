"""Predictions for Kaggle: the model's top-k classes per video, as CSV.

The model comes from one of three places:
  - a training directory (its latest checkpoint and model_flags.json);
  - an exported SavedModel (export_model.py, or train_dir/export/step_N);
  - a .tar.gz made by --output_model_tgz (checkpoint + model_flags.json).
The CSV is `VideoId,LabelConfidencePairs`, then `id,cls score cls score ...`
(top_k pairs, best first, "%i %g"). It is written to a temporary file and
renamed into place, so it appears whole or not at all (gs:// included).
"""

import dataclasses
import os
import tarfile
import tempfile
import time

from absl import logging
import tensorflow as tf

from youtube8m import export
from youtube8m import model_config
from youtube8m import readers
from youtube8m import train_lib
from youtube8m import utils

CSV_HEADER = "VideoId,LabelConfidencePairs\n"


@dataclasses.dataclass
class InferenceConfig:
  train_dir: str = "/tmp/yt8m_model/"
  input_data_pattern: str = ""
  output_file: str = ""
  saved_model_dir: str = ""
  input_model_tgz: str = ""
  untar_model_dir: str = "/tmp/yt8m-model/"
  output_model_tgz: str = ""
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
  top_k: int = 20
  batch_size: int = 512
  num_readers: int = 1
  readable_output_file: str = ""
  vocabulary_file: str = ""
  # 2019 segment mode: a Class,Segments CSV (see segment_inference).
  segment_labels: bool = False
  segment_max_pred: int = 100000
  segment_label_ids_file: str = ""  # default: data/segment_label_ids.csv


def write_atomically(path, write_fn):
  """Calls write_fn(file) on a temporary file, then renames it to path."""
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  tmp = f"{path}.tmp-{os.getpid()}"
  try:
    with tf.io.gfile.GFile(tmp, "w") as f:
      result = write_fn(f)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)
  return result


def format_row(video_id, classes, scores):
  """One CSV row: `id,cls score cls score ...` ("%i %g"), newline-ended."""
  pairs = " ".join("%i %g" % (c, s) for c, s in zip(classes, scores))
  return f"{video_id},{pairs}\n"


def safe_extract(tgz_path, target_dir):
  """Extracts a .tar.gz, refusing members that would land outside target."""
  target = os.path.realpath(target_dir)
  os.makedirs(target, exist_ok=True)
  with tf.io.gfile.GFile(tgz_path, "rb") as raw, \
      tarfile.open(fileobj=raw, mode="r:gz") as tar:
    members = tar.getmembers()
    for member in members:
      dest = os.path.realpath(os.path.join(target, member.name))
      if os.path.commonpath([target, dest]) != target or not (
          member.isfile() or member.isdir()):
        raise utils.Yt8mError(
            f"--input_model_tgz={tgz_path}: refusing member '{member.name}' "
            "(it would land outside --untar_model_dir or is a link/device)")
    tar.extractall(target, members=members)
  return target


def make_model_tgz(train_dir, tgz_path):
  """Packs train_dir's latest checkpoint and model_flags.json into a .tar.gz."""
  latest = tf.train.latest_checkpoint(train_dir)
  if not latest:
    raise utils.Yt8mError(f"no checkpoint in --train_dir={train_dir} to pack")
  with tempfile.TemporaryDirectory() as tmp:
    local = os.path.join(tmp, "model.tar.gz")
    with tarfile.open(local, "w:gz") as tar:
      names = [model_config.FILENAME] + [
          os.path.basename(p) for p in tf.io.gfile.glob(latest + ".*")]
      for name in names:
        copy = os.path.join(tmp, name)
        tf.io.gfile.copy(os.path.join(train_dir, name), copy, overwrite=True)
        tar.add(copy, arcname=name)
      state = os.path.join(tmp, "checkpoint")
      with open(state, "w") as f:
        base = os.path.basename(latest)
        f.write(f'model_checkpoint_path: "{base}"\n'
                f'all_model_checkpoint_paths: "{base}"\n')
      tar.add(state, arcname="checkpoint")
    tf.io.gfile.copy(local, tgz_path + ".tmp", overwrite=True)
    tf.io.gfile.rename(tgz_path + ".tmp", tgz_path, overwrite=True)
  logging.info("Wrote %s (%s)", tgz_path, os.path.basename(latest))


class _CheckpointPredictor:
  """Top-k from a model rebuilt from model_flags.json + latest checkpoint."""

  def __init__(self, model_dir, config):
    flags, _ = model_config.resolve(model_dir, config.model_flags,
                                    set(config.explicit_flags))
    latest = tf.train.latest_checkpoint(model_dir)
    if not latest:
      raise utils.Yt8mError(f"no checkpoint in {model_dir}")
    self.model, _ = train_lib.build(flags)
    self.model.create_variables(train_lib.feature_size(flags))
    tf.train.Checkpoint(model=self.model).restore(
        latest).expect_partial().assert_existing_objects_matched()
    logging.info("Restored %s", latest)
    self.flags, self.top_k = flags, config.top_k
    self.reader = readers.get_reader(
        flags["frame_features"], flags["num_classes"], flags["feature_names"],
        flags["feature_sizes"], raw=True)
    self._predict = tf.function(self._top_k)

  def _top_k(self, batch):
    predictions = self.model(batch, training=False)["predictions"]
    scores, classes = tf.math.top_k(predictions, k=self.top_k)
    return batch["video_ids"], classes, scores

  def batches(self, config):
    dataset = readers.make_dataset(
        self.reader, config.input_data_pattern, config.batch_size,
        num_readers=config.num_readers, flag_name="--input_data_pattern")
    for batch in dataset:
      yield [t.numpy() for t in self._predict(batch)]


class _SavedModelPredictor:
  """Top-k from an exported SavedModel's serving signature."""

  def __init__(self, export_dir, config):
    self.serve, self._loaded = export.load_serving_fn(export_dir)
    self.flags = model_config.load(export_dir)
    exported_k = self.serve.structured_outputs["class_indexes"].shape[-1]
    if exported_k is not None and config.top_k > exported_k:
      raise utils.Yt8mError(f"--top_k={config.top_k} but {export_dir} was "
                            f"exported with top {exported_k}")
    self.top_k = config.top_k

  def batches(self, config):
    for records in readers.record_batches(
        config.input_data_pattern, config.batch_size, config.num_readers,
        "--input_data_pattern"):
      out = self.serve(serialized=records)
      yield (out["video_id"].numpy(),
             out["class_indexes"].numpy()[:, :self.top_k],
             out["predictions"].numpy()[:, :self.top_k])


def make_predictor(config):
  """The predictor for whichever model source the flags name."""
  if config.input_model_tgz:
    model_dir = safe_extract(config.input_model_tgz, config.untar_model_dir)
    logging.info("Extracted %s to %s", config.input_model_tgz, model_dir)
    return _CheckpointPredictor(model_dir, config)
  if config.saved_model_dir or export.is_saved_model(config.train_dir):
    return _SavedModelPredictor(config.saved_model_dir or config.train_dir,
                                config)
  return _CheckpointPredictor(config.train_dir, config)


def infer(config):
  """Writes the Kaggle CSV (and the readable file); returns videos written.

  With `segment_labels`, writes the 2019 `Class,Segments` CSV instead and
  returns the number of segments scored.
  """
  if config.output_model_tgz:
    make_model_tgz(config.train_dir, config.output_model_tgz)
  if not config.output_file:
    if config.output_model_tgz:
      return 0
    raise utils.Yt8mError("--output_file is required")
  if config.segment_labels:
    from youtube8m import segment_inference  # pylint: disable=g-import-not-at-top
    return segment_inference.infer_segments(config)
  predictor = make_predictor(config)
  names = None
  if config.readable_output_file:
    names = utils.load_vocabulary(config.vocabulary_file or None)

  def write_rows(f, readable):
    f.write(CSV_HEADER)
    if readable:
      readable.write("VideoId\tTopPredictions\n")
    count, start = 0, time.time()
    for ids, classes, scores in predictor.batches(config):
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
    return write_atomically(config.readable_output_file,
                            lambda readable: write_rows(f, readable))

  count = write_atomically(config.output_file, write_csv)
  logging.info("Wrote %d videos to %s", count, config.output_file)
  return count


def _readable_row(video_id, classes, scores, names):
  """`video_id<TAB>score class name; ...`: for people, not for Kaggle."""
  items = "; ".join(f"{s:.3f} {c} {names.get(int(c), '') or '?'}"
                    for c, s in zip(classes, scores))
  return f"{video_id}\t{items}\n"
