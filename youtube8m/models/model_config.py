"""The resolved model configuration, saved as `train_dir/model_flags.json`.

train.py writes it at start; eval.py, inference.py and export rebuild the
model from it, so users need not retype flags. Flags given again must agree
with it; a flag given with another value is a one-line error.
"""

import json
import os

from absl import flags
import tensorflow as tf

from youtube8m import models
from youtube8m.common import outputs
from youtube8m.common import settings
from youtube8m.common import utils

FILENAME = "model_flags.json"

# Flags describing the data the model reads and its loss, recorded beside
# the model flags (models.MODEL_FLAGS) in model_flags.json.
DATA_FLAGS = {flag.name: flag for flag in (
    models.ModelFlag(
        "model", "LogisticModel",
        "Model class: a registered name (video level: LogisticModel, "
        "MoeModel; frame level: FrameLevelLogisticModel, DbofModel, "
        "LstmModel, NetVLADModel, NeXtVLADModel, MixNeXtVLADModel, "
        "NetFVModel, SoftDbofModel, TransformerModel, GruModel, "
        "AttentionLstmModel) or a dotted path to your own BaseModel "
        "subclass (my_pkg.my_module.MyModel)."),
    models.ModelFlag(
        "feature_names", "mean_rgb",
        "Comma-separated features, in the order they are concatenated (e.g. "
        "'mean_rgb, mean_audio' or 'rgb, audio')."),
    models.ModelFlag("feature_sizes", "1024",
                     "Comma-separated sizes of --feature_names, same order."),
    models.ModelFlag("frame_features", False,
                     "Read frame-level SequenceExamples (else video-level)."),
    models.ModelFlag("label_loss", "CrossEntropyLoss",
                     "CrossEntropyLoss, HingeLoss or SoftmaxLoss."),
    models.ModelFlag("num_classes", 3862, "Classes in the vocabulary: 3862 "
                     "(2018+), 4716 (2017).", models.positive_int),
)}


def all_flags():
  """{name: ModelFlag} of every flag model_flags.json records."""
  return {**DATA_FLAGS, **models.MODEL_FLAGS}


def all_defaults():
  """{name: default} of every flag model_flags.json records."""
  return {name: flag.default for name, flag in all_flags().items()}


def define_flags(flag_values=flags.FLAGS):
  """One absl flag per model_flags.json entry (data flags and model flags)."""
  settings.define_table(all_flags(), flag_values)


def flags_given(flag_values=flags.FLAGS):
  """({flag: value} of every model flag, set of the flags the user typed)."""
  return settings.table_given(all_flags(), flag_values)


def normalize(config):
  """Canonical values, so `"mean_rgb, mean_audio"` equals `mean_rgb,mean_audio`."""
  config = dict(config)
  names, sizes = utils.parse_feature_flags(config["feature_names"],
                                           config["feature_sizes"])
  config["feature_names"] = ",".join(names)
  config["feature_sizes"] = ",".join(str(s) for s in sizes)
  return config


def path_in(train_dir):
  return os.path.join(train_dir, FILENAME)


def load(train_dir):
  """The saved configuration (dict), or None if train_dir has none."""
  path = path_in(train_dir)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      saved = json.load(f)
  except ValueError as e:
    raise utils.Yt8mError(f"{path}: not valid JSON ({e})") from e
  if not isinstance(saved, dict) or "model" not in saved:
    raise utils.Yt8mError(f"{path}: has no 'model' entry")
  # Files written by the original starter code hold only the data flags;
  # a flag newer than the file takes the value that stands for its absence.
  config = all_defaults()
  config.update({name: flag.legacy for name, flag in all_flags().items()
                 if flag.legacy is not None})
  config.update(saved)
  return normalize(config)


def save(train_dir, config):
  """Writes the configuration whole or not at all (outputs.write_file)."""
  tf.io.gfile.makedirs(train_dir)
  outputs.write_file(path_in(train_dir), lambda f: json.dump(
      config, f, indent=2, sort_keys=True))


def _same(a, b):
  if isinstance(a, float) or isinstance(b, float):
    try:
      return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)))
    except (TypeError, ValueError):
      return False
  return a == b


def resolve(train_dir, given, explicit, for_training=False):
  """Merges the flags of this run with the ones saved in train_dir.

  Args:
    train_dir: the model directory.
    given: {flag: value} for every recorded flag (defaults included).
    explicit: names of the flags the user actually typed.
    for_training: True for train.py, which may start the file.

  Returns:
    (config, saved): the configuration to use, and whether it came from
    model_flags.json (saved) or from these flags (new).

  Raises:
    Yt8mError: a typed flag contradicts the saved value, or (not training)
      there is no saved configuration.
  """
  saved = load(train_dir)
  if saved is None:
    if not for_training and not explicit & {"model"}:
      raise utils.Yt8mError(
          f"{path_in(train_dir)} not found: train a model in --train_dir "
          "first (or pass the model flags explicitly)")
    return normalize(given), False
  typed = normalize({**saved, **{k: given[k] for k in explicit if k in given}})
  conflicts = [k for k in sorted(explicit) if k in saved and
               not _same(typed[k], saved[k])]
  if conflicts:
    details = ", ".join(f"--{k}={typed[k]} (saved: {saved[k]})"
                        for k in conflicts)
    advice = ("pass --start_new_model to train a new model in it, or use "
              "another --train_dir" if for_training else
              "drop these flags: the model is rebuilt from that file")
    verb = "contradicts" if len(conflicts) == 1 else "contradict"
    raise utils.Yt8mError(
        f"{details} {verb} {path_in(train_dir)}; {advice}")
  return saved, True
