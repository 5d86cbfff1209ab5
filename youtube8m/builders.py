"""From a resolved configuration to objects: model, reader, restored weights.

Every workflow (train, eval, inference, export, segments, the benchmarks)
builds its model and reader here, from the dict that `model_config.resolve`
returns (the content of model_flags.json), so they cannot drift apart. The
segment reader is chosen by the caller (`segment_labels=True`), which the
front ends decide; nothing here looks at flags itself.
"""

import os

from absl import logging
import tensorflow as tf

from youtube8m import ema
from youtube8m import losses
from youtube8m import model_config
from youtube8m import models
from youtube8m import readers
from youtube8m import segment_readers
from youtube8m import utils


def feature_size(flags):
  """Width D of the concatenated features named by --feature_names."""
  return sum(utils.parse_feature_flags(flags["feature_names"],
                                       flags["feature_sizes"])[1])


def model_class(flags):
  """The model class of `flags`, checked against --frame_features."""
  cls = models.get_model_class(flags["model"])
  if cls.frame_level != bool(flags["frame_features"]):
    raise utils.Yt8mError(
        f"--model={flags['model']} reads "
        f"{'frame' if cls.frame_level else 'video'}-level features: "
        f"{'add' if cls.frame_level else 'drop'} --frame_features and set "
        "--feature_names/--feature_sizes to match")
  return cls


def build_model(flags, create_variables=True):
  """(model, loss_fn) for a resolved model configuration.

  Args:
    flags: {flag: value} as model_config.resolve returns it.
    create_variables: call the model once on zeros so that every variable
      exists (needed before a restore that must match every variable, an
      export, or counting parameters).
  """
  model_class(flags)
  model_flags = {k: v for k, v in flags.items() if k in models.MODEL_FLAGS}
  model = models.build_model(flags["model"], flags["num_classes"],
                             **model_flags)
  if create_variables:
    model.create_variables(feature_size(flags))
  return model, losses.get_loss(flags["label_loss"])


def make_reader(flags, segment_labels=False, all_segments=False, raw=True,
                skip_nonfinite=False):
  """The reader of the records the model was trained on.

  Args:
    flags: resolved model configuration.
    segment_labels: read the rated 5-frame segments of 2019 records
      (YT8MSegmentReader) instead of whole videos.
    all_segments: with segment_labels, cut every video into segments
      (inference on unrated records).
    raw: uint8 frames for the model to dequantize (the fast form).
    skip_nonfinite: drop videos whose float features hold NaN or inf (and
      count them in the batch's `num_skipped`) instead of failing on them.
  """
  args = (flags["num_classes"], flags["feature_names"], flags["feature_sizes"])
  if segment_labels:
    if not flags["frame_features"]:
      raise utils.Yt8mError(
          "--segment_labels reads frame-level records (the 2019 segment "
          "data): use a frame-level model and --frame_features")
    return segment_readers.YT8MSegmentReader(*args, raw=raw,
                                             all_segments=all_segments)
  return readers.get_reader(flags["frame_features"], *args, raw=raw,
                            skip_nonfinite=skip_nonfinite)


def latest_checkpoint(train_dir, flag_name="--train_dir"):
  """The newest checkpoint prefix in train_dir; an error if there is none."""
  latest = tf.train.latest_checkpoint(train_dir)
  if not latest:
    raise utils.Yt8mError(f"no checkpoint in {flag_name}={train_dir}")
  return latest


def checkpoint_step(path):
  """The global step in a checkpoint prefix such as .../ckpt-1000 (or 0)."""
  try:
    return int(os.path.basename(path).rsplit("-", 1)[1])
  except (IndexError, ValueError):
    return 0


def restore_checkpoint(checkpoint, path, partial=False):
  """checkpoint.restore(path), with one-line errors for a bad checkpoint.

  Args:
    checkpoint: a tf.train.Checkpoint whose objects' variables exist.
    path: a checkpoint prefix (.../ckpt-N).
    partial: only some of the checkpoint's objects are wanted (the model
      without the optimizer).

  Raises:
    Yt8mError: the files are damaged or incomplete, or they hold another
      model than the one model_flags.json describes.
  """
  try:
    status = checkpoint.restore(path)
    if partial:
      status = status.expect_partial()
    status.assert_existing_objects_matched()
  except (tf.errors.DataLossError, tf.errors.NotFoundError,
          tf.errors.OutOfRangeError, tf.errors.InvalidArgumentError,
          IndexError, OSError) as e:
    # A truncated data file surfaces as IndexError ("Read less bytes than
    # requested") from the checkpoint reader.
    reason = str(getattr(e, "message", e) or type(e).__name__)
    raise utils.Yt8mError(
        f"checkpoint {path} cannot be read ({reason.splitlines()[0]}): "
        "it is damaged or incomplete; delete its files to fall back to an "
        "earlier checkpoint") from e
  except (AssertionError, ValueError) as e:
    raise utils.Yt8mError(
        f"checkpoint {path} does not hold the model that "
        f"{model_config.FILENAME} describes (a variable is missing or has "
        f"another shape: {str(e).splitlines()[0][:200]}); was the file "
        "edited, or the checkpoint copied from another run?") from e


def restore_model(model, path):
  """Loads a checkpoint's model variables into `model` (variables created).

  Every variable of the model must be in the checkpoint; the optimizer's
  slots, if any, are ignored. A checkpoint of a run with --ema_decay gives
  its averaged weights (ema.py).
  """
  checkpoint, averaged = ema.checkpoint_for_use(model, path)
  restore_checkpoint(checkpoint, path, partial=True)
  logging.info("Restored %s%s", path, " (averaged weights)" if averaged
               else "")


def load_trained_model(model_dir, given, explicit, checkpoint=""):
  """(model, flags, checkpoint path) of a training directory.

  Args:
    model_dir: a train_dir (or an extracted model .tar.gz) holding
      model_flags.json and checkpoints.
    given, explicit: this run's model flag values and the ones typed; typed
      flags must agree with model_flags.json (model_config.resolve).
    checkpoint: a checkpoint prefix to load instead of the latest.
  """
  flags, _ = model_config.resolve(model_dir, given, set(explicit))
  path = checkpoint or latest_checkpoint(model_dir)
  model, _ = build_model(flags)
  restore_model(model, path)
  return model, flags, path
