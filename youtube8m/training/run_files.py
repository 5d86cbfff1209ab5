"""What a run finds and leaves in its train_dir.

train.py reads the saved model configuration (model_flags.json) against the
typed flags, removes what a killed run left behind, and, with
--start_new_model, the previous run's outputs, before it writes anything.
Every delete is of a name listed in train_dir itself, and a symbolic link
is removed as a link (outputs.remove): never what it points to.
"""

import os

from absl import logging
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.models import model_config


def resolve_flags(config):
  """The model configuration of this run: typed flags against train_dir's
  model_flags.json (writes nothing)."""
  if config.start_new_model:
    return model_config.typed_config(config.model_flags,
                                     set(config.explicit_flags))
  flags, from_file = model_config.resolve(
      config.train_dir, config.model_flags, set(config.explicit_flags),
      for_training=True)
  if from_file:
    logging.info("Model flags from %s: %s",
                 model_config.path_in(config.train_dir), flags)
  return flags


def prepare(config, flags):
  """Chief only, once the run is validated: starts afresh if asked, then
  saves model_flags.json."""
  train_dir = config.train_dir
  if config.start_new_model and tf.io.gfile.exists(train_dir):
    logging.info("--start_new_model: removing the previous run's outputs "
                 "from %s", train_dir)
    for name in tf.io.gfile.listdir(train_dir):
      name = name.rstrip("/")
      if (name == "checkpoint" or name.startswith("ckpt-") or
          name.startswith("events.out.tfevents") or
          name in (model_config.FILENAME, "export", "eval", "eval_segments")):
        outputs.remove(os.path.join(train_dir, name))
  model_config.save(train_dir, flags)


def remove_leftovers(train_dir):
  """Temporary outputs and half-written checkpoints of a killed run.

  Called with the train_dir lock held, so no other trainer is writing.
  """
  outputs.remove_stale(train_dir)
  if tf.io.gfile.isdir(train_dir):
    for name in tf.io.gfile.listdir(train_dir):
      name = name.rstrip("/")
      if name.startswith("ckpt-") and name.endswith("_temp"):
        logging.info("Removing %s, a checkpoint an interrupted run did not "
                     "finish", name)
        outputs.remove(os.path.join(train_dir, name))
