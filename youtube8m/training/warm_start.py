"""Starting a train_dir from another run's weights: --init_from_checkpoint.

The 2019 workflow fine-tunes a video-level model on segment ratings. Two ways:
  - continue in the same train_dir with `--segment_labels`: the checkpoint
    (weights, optimizer state, global step) is restored as usual, and the
    fine-tuned model replaces the video-level one there;
  - `--train_dir=B --init_from_checkpoint=A`: B starts with A's model
    weights and model_flags.json, but a fresh optimizer and step 0, so A
    stays untouched and both can be evaluated side by side.
`--init_from_checkpoint` names a train_dir (its latest checkpoint) or one
checkpoint prefix (`A/ckpt-1000`). It applies only while B has no
checkpoint of its own: a restarted job resumes B, as any training does.
"""

import dataclasses
import os

from absl import logging
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.models import checkpoint_files
from youtube8m.models import checkpoints
from youtube8m.models import model_config


def _source(path):
  """(checkpoint prefix, directory holding model_flags.json) of `path`."""
  if tf.io.gfile.isdir(path):
    prefix = checkpoint_files.find_latest(path)
    if not prefix:
      raise utils.Yt8mError(f"--init_from_checkpoint={path}: no checkpoint "
                            "in that directory")
    return prefix, path
  if not tf.io.gfile.exists(path + ".index"):
    raise utils.Yt8mError(f"--init_from_checkpoint={path}: neither a "
                          "train_dir nor a checkpoint prefix (like "
                          "train_dir/ckpt-1000)")
  return path, os.path.dirname(path)


def applies(config):
  """Whether this run starts from --init_from_checkpoint (not from its own)."""
  if not config.init_from_checkpoint:
    return False
  if config.start_new_model:
    return True
  return not checkpoint_files.find_latest(config.train_dir)


def inherit_flags(config):
  """config with the source's model flags when starting from it.

  The weights only fit the same model, so the model flags come from the
  source's model_flags.json; flags typed on this run must agree with it.
  """
  if not applies(config):
    if config.init_from_checkpoint:
      logging.info("%s has a checkpoint: resuming it and ignoring "
                   "--init_from_checkpoint=%s", config.train_dir,
                   config.init_from_checkpoint)
    return config
  _, flags_dir = _source(config.init_from_checkpoint)
  if model_config.load(flags_dir) is None:
    raise utils.Yt8mError(
        f"--init_from_checkpoint={config.init_from_checkpoint}: "
        f"{model_config.path_in(flags_dir)} not found (the model flags of "
        "those weights)")
  flags, _ = model_config.resolve(flags_dir, config.model_flags,
                                  set(config.explicit_flags))
  # Typed flags were checked against the source; now they all come from it.
  return dataclasses.replace(config, model_flags=flags,
                             explicit_flags=frozenset(flags))


def restore_weights(model, config):
  """Loads the source checkpoint's model variables (not the optimizer's).

  Args:
    model: a BaseModel whose variables exist (create_variables was called).
    config: the TrainConfig; `applies(config)` must be true.

  Returns:
    The checkpoint prefix read.
  """
  prefix, _ = _source(config.init_from_checkpoint)
  checkpoints.restore_checkpoint(tf.train.Checkpoint(model=model), prefix,
                              partial=True)
  logging.info("Initialized the model from %s (optimizer and step start "
               "afresh)", prefix)
  return prefix
