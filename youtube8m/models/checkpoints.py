"""Checkpoints: finding them, and restoring a model from them.

Training writes `train_dir/ckpt-N` (checkpoint_files.Writer); eval,
inference, export and warm starts read them back through here, with
one-line errors for damaged or mismatched files. Paths are literal: a
train_dir named `exp[lr=0.01]` is read through a glob-free alias
(literal_paths), since TensorFlow's reader globs.
"""

import os

from absl import logging
import tensorflow as tf

from youtube8m.common import literal_paths
from youtube8m.common import utils
from youtube8m.models import builders
from youtube8m.models import checkpoint_files
from youtube8m.models import ema
from youtube8m.models import model_config


def latest_checkpoint(train_dir, flag_name="--train_dir"):
  """The newest complete checkpoint prefix in train_dir; an error if none."""
  latest = checkpoint_files.find_latest(train_dir)
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
    with literal_paths.readable(path) as readable:
      status = checkpoint.restore(readable)
      if partial:
        status = status.expect_partial()
      status.assert_existing_objects_matched()
  except (tf.errors.OpError, IndexError, OSError) as e:
    # A truncated data file surfaces as IndexError ("Read less bytes than
    # requested") from the checkpoint reader, a truncated index as an
    # OpError without a code ("not an sstable").
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
  with literal_paths.readable(path) as readable:
    checkpoint, averaged = ema.checkpoint_for_use(model, readable)
  restore_checkpoint(checkpoint, path, partial=True)
  logging.info("Restored %s%s", path, " (averaged weights)" if averaged
               else "")


def load_trained_model(model_dir, given, explicit, checkpoint="",
                       imports=True):
  """(model, flags, checkpoint path) of a training directory.

  Args:
    model_dir: a train_dir (or an extracted model .tar.gz) holding
      model_flags.json and checkpoints.
    given, explicit: this run's model flag values and the ones typed; typed
      flags must agree with model_flags.json (model_config.resolve).
    checkpoint: a checkpoint prefix to load instead of the latest.
    imports: whether a model class typed as a dotted path may be imported
      (False for a model archive: only registered models).
  """
  flags, _ = model_config.resolve(model_dir, given, set(explicit),
                                  imports=imports)
  path = checkpoint or latest_checkpoint(model_dir)
  model, _ = builders.build_model(flags)
  restore_model(model, path)
  return model, flags, path
