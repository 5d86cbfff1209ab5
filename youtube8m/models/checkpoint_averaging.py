"""Checkpoint averaging: the mean of a train_dir's newest checkpoints.

  python -m youtube8m.average_checkpoints --train_dir=D --num_checkpoints=5 \
      --output_dir=D_avg

writes a new model directory holding `ckpt-<newest step>` (the model's
variables only), `checkpoint`, model_flags.json, model_size.json and
averaging.json (which checkpoints went in). eval.py, inference.py,
export_model.py, --output_model_tgz, `export_model.py --ensemble` and
`train.py --init_from_checkpoint` take it like any train_dir.

Each float variable is the arithmetic mean of its values in the N newest
checkpoints the train_dir keeps (train.py keeps --max_checkpoints_to_keep),
summed in float64 and stored in float32; the batch-norm moving statistics
are averaged too; integer variables come from the newest checkpoint. From a
run with --ema_decay the averaged weights of each checkpoint are averaged
(those that eval and export would use). Averaging the weights of the last
checkpoints of one run is an old and cheap gain (Polyak and Juditsky 1992;
Vaswani et al. 2017 averaged the last 5 or 20 checkpoints of the
Transformer); the checkpoints must come from one run, late enough that its
weights stay in one basin.

Memory: the model, plus float64 sums of its float variables (twice its
float32 size).
"""

import json
import os

from absl import logging
import numpy as np
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.models import averaging_config
from youtube8m.models import builders
from youtube8m.models import checkpoint_files
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.models import size as model_size

RECORD = "averaging.json"


# The command's settings, in averaging_config.py (no TensorFlow there: the
# command checks them before TensorFlow loads).
AverageConfig = averaging_config.AverageConfig


def newest_checkpoints(train_dir, count):
  """The `count` newest checkpoint prefixes of train_dir, oldest first.

  Raises:
    Yt8mError: train_dir keeps fewer checkpoints.
  """
  # The complete checkpoints in train_dir, by their files (literal names).
  paths = [os.path.join(train_dir, name)
           for name in checkpoint_files.complete_checkpoints(train_dir)]
  if len(paths) < count:
    found = ", ".join(os.path.basename(p) for p in paths) or "none"
    raise utils.Yt8mError(
        f"--num_checkpoints={count} but --train_dir={train_dir} keeps "
        f"{len(paths)} checkpoint(s) ({found}); train.py keeps "
        "--max_checkpoints_to_keep of them")
  return sorted(paths, key=checkpoints.checkpoint_step)[-count:]


def average_into(model, paths):
  """Sets `model`'s variables to their mean over the checkpoints `paths`.

  Float variables are averaged (float64 sums); the others keep the value of
  the last path. Each checkpoint is read as eval reads it
  (checkpoints.restore_model: averaged weights under --ema_decay).
  """
  sums = None
  for path in paths:
    checkpoints.restore_model(model, path)
    values = [v.numpy() for v in model.variables]
    if sums is None:
      sums = [v.astype(np.float64) if np.issubdtype(v.dtype, np.floating)
              else None for v in values]
    else:
      for total, value in zip(sums, values):
        if total is not None:
          total += value
  for variable, total in zip(model.variables, sums):
    if total is not None:  # else: the last checkpoint's value, as restored
      variable.assign((total / len(paths)).astype(variable.dtype))


def _check_output(config):
  output = config.output_dir.rstrip("/")
  if os.path.abspath(output) == os.path.abspath(config.train_dir.rstrip("/")):
    raise utils.Yt8mError("--output_dir must not be --train_dir: the "
                          "average goes to a new directory")
  if tf.io.gfile.exists(output) and (not tf.io.gfile.isdir(output) or
                                     tf.io.gfile.listdir(output)):
    raise utils.Yt8mError(f"--output_dir={output} exists and is not an "
                          "empty directory; nothing was written")


def average_checkpoints(config):
  """Writes the averaged model directory; returns its checkpoint prefix."""
  settings.validate(config)
  _check_output(config)
  flags = model_config.load(config.train_dir)
  if flags is None:
    raise utils.Yt8mError(f"{model_config.path_in(config.train_dir)} not "
                          "found: --train_dir must be a training directory")
  paths = newest_checkpoints(config.train_dir, config.num_checkpoints)
  model, _ = builders.build_model(flags)
  average_into(model, paths)
  name = f"ckpt-{checkpoints.checkpoint_step(paths[-1])}"

  def write(tmp):
    checkpoint = tf.train.Checkpoint(model=model)
    # Created on first use; readers expect it, as in training's checkpoints.
    checkpoint.save_counter.assign(1)
    checkpoint.write(os.path.join(tmp, name))
    # Relative names, so the directory can be moved (as the rename does).
    with tf.io.gfile.GFile(os.path.join(tmp, "checkpoint"), "w") as f:
      f.write(f'model_checkpoint_path: "{name}"\n'
              f'all_model_checkpoint_paths: "{name}"\n')
    model_config.save(tmp, flags)
    model_size.report(model, tmp)
    with tf.io.gfile.GFile(os.path.join(tmp, RECORD), "w") as f:
      json.dump({"train_dir": config.train_dir, "checkpoints": paths}, f,
                indent=2)

  outputs.write_dir(config.output_dir.rstrip("/"), write)
  prefix = os.path.join(config.output_dir.rstrip("/"), name)
  logging.info("Averaged %s into %s", ", ".join(
      os.path.basename(p) for p in paths), prefix)
  return prefix
