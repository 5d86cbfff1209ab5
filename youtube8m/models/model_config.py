"""The resolved model configuration, saved as `train_dir/model_flags.json`.

train.py writes it at start; eval.py, inference.py and export rebuild the
model from it, so users need not retype flags. Flags given again must agree
with it; a flag given with another value is a one-line error.

The commands' side (`define_flags`, `from_flags`) imports no TensorFlow:
they define, parse and check these flags before TensorFlow loads.

The file may come from elsewhere (a copied train_dir, a shared bucket, a
model archive), so what it says is checked before anything is built:
  - every known entry has its default's type and passes its flag's check
    (sizes are bounded: see catalog.MAX_WIDTH and catalog.MAX_CLASSES);
    unknown entries are left out, with a warning;
  - an entry naming a model class (`model`, `video_level_classifier_model`)
    must be a registered model, or the same dotted path typed on this
    command line: only then is its module imported (archives: never).
"""

import json
import numbers
import os
import sys

from absl import flags
from absl import logging

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.models import catalog

# Flags defined here belong to the command that asks for them (its --help).
flags.disclaim_key_flags()

FILENAME = "model_flags.json"

# Flags describing the data the model reads and its loss, recorded beside
# the model flags (models.MODEL_FLAGS) in model_flags.json.
DATA_FLAGS = {flag.name: flag for flag in (
    catalog.ModelFlag(
        "model", "LogisticModel",
        "Model class: a registered name (video level: LogisticModel, "
        "MoeModel; frame level: FrameLevelLogisticModel, DbofModel, "
        "LstmModel, NetVLADModel, NeXtVLADModel, MixNeXtVLADModel, "
        "NetFVModel, SoftDbofModel, TransformerModel, GruModel, "
        "AttentionLstmModel) or a dotted path to your own BaseModel "
        "subclass (my_pkg.my_module.MyModel), imported only when typed on "
        "the command line.", catalog.check_model, model_class=True),
    catalog.ModelFlag(
        "feature_names", "mean_rgb",
        "Comma-separated features, in the order they are concatenated (e.g. "
        "'mean_rgb, mean_audio' or 'rgb, audio')."),
    catalog.ModelFlag("feature_sizes", "1024",
                      "Comma-separated sizes of --feature_names, same order."),
    catalog.ModelFlag("frame_features", False,
                      "Read frame-level SequenceExamples (else video-level).",
                      checks.boolean),
    catalog.ModelFlag("label_loss", "CrossEntropyLoss",
                      "CrossEntropyLoss, HingeLoss or SoftmaxLoss.",
                      checks.choice(catalog.LOSS_NAMES)),
    catalog.ModelFlag("num_classes", 3862, "Classes in the vocabulary: 3862 "
                      "(2018+), 4716 (2017).", catalog.num_classes_check),
)}


def all_flags():
  """{name: ModelFlag} of every flag model_flags.json records."""
  return {**DATA_FLAGS, **catalog.MODEL_FLAGS}


def all_defaults():
  """{name: default} of every flag model_flags.json records."""
  return {name: flag.default for name, flag in all_flags().items()}


def define_flags(flag_values=flags.FLAGS, data_only=False, argv=None):
  """One absl flag per model_flags.json entry, for the calling command.

  Args:
    flag_values: where to define them.
    data_only: only the data flags (--model, --feature_names, ...): for a
      command that rebuilds the model from model_flags.json and reads no
      model hyperparameter (export_model).
    argv: the command line (default sys.argv): a dotted --model there is
      imported first, so that its module's `models.define_flag` calls
      become flags too.
  """
  if not data_only:
    catalog.import_user_model(sys.argv if argv is None else argv)
  table = DATA_FLAGS if data_only else all_flags()
  settings.define_table({name: flag for name, flag in table.items()
                         if name not in flag_values}, flag_values)


def flags_given(flag_values=flags.FLAGS):
  """({flag: value} of every model flag, set of the flags the user typed).

  Flags this command does not define keep their defaults.
  """
  table = {name: flag for name, flag in all_flags().items()
           if name in flag_values}
  values, explicit = settings.table_given(table, flag_values)
  return {**all_defaults(), **values}, explicit


def check(values):
  """Raises Yt8mError naming the first model flag with a bad value."""
  for name, flag in all_flags().items():
    if flag.check is not None and name in values:
      flag.check(name, values[name])
  utils.parse_feature_flags(values["feature_names"], values["feature_sizes"])


def from_flags(config_class, flag_values=flags.FLAGS, **values):
  """A validated `config_class` from the parsed settings and model flags.

  The settings' checks (settings.validate) and the model flags' checks run
  here, before any workflow library (TensorFlow) is imported: `model_flags`
  gets every model flag's value, `explicit_flags` the ones typed.
  """
  model_flags, explicit = flags_given(flag_values)
  check(model_flags)
  return settings.validate(settings.from_flags(
      config_class, flag_values, model_flags=model_flags,
      explicit_flags=frozenset(explicit), **values))


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
  """The saved configuration (dict), or None if train_dir has none.

  Known entries are type-checked and checked (model class names are
  checked by `resolve`, which decides whether to import them); entries
  that are not flags of this version stay in the dict, unchecked, and
  are never given to a model.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  path = path_in(train_dir)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      saved = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise utils.Yt8mError(f"{path}: not valid JSON ({e})") from e
  if not isinstance(saved, dict) or "model" not in saved:
    raise utils.Yt8mError(f"{path}: has no 'model' entry")
  # Files written by the original starter code hold only the data flags;
  # a flag newer than the file takes the value that stands for its absence.
  config = all_defaults()
  config.update({name: flag.legacy for name, flag in all_flags().items()
                 if flag.legacy is not None})
  config.update(saved)
  check_values(config, path)
  try:
    return normalize(config)
  except utils.Yt8mError as e:
    raise utils.Yt8mError(f"{path}: {e}") from e


_KINDS = {bool: "true or false", int: "an integer", float: "a number",
          str: "a string"}


def _has_type(value, default):
  if isinstance(default, bool):
    return isinstance(value, bool)
  if isinstance(value, bool):
    return False
  if isinstance(default, int):
    return isinstance(value, numbers.Integral)
  if isinstance(default, float):
    return isinstance(value, numbers.Real)
  return isinstance(value, type(default))


def check_values(config, source):
  """Raises Yt8mError naming `source` and the first bad known entry.

  Each known entry must have its default's type and pass its check; the
  entries naming a model class are checked by allow_model_classes (their
  checks would look a dotted path up).
  """
  for name, flag in all_flags().items():
    if name not in config:
      continue
    value = config[name]
    if not _has_type(value, flag.default):
      kind = _KINDS.get(type(flag.default), type(flag.default).__name__)
      raise utils.Yt8mError(f"{source}: '{name}' is {value!r}, expected "
                            f"{kind}")
    try:
      if flag.check is not None and not flag.model_class:
        flag.check(name, value)
    except utils.Yt8mError as e:
      raise utils.Yt8mError(f"{source}: {e}") from e
  try:
    _, sizes = utils.parse_feature_flags(config["feature_names"],
                                         config["feature_sizes"])
  except KeyError:
    return
  except utils.Yt8mError as e:
    raise utils.Yt8mError(f"{source}: {e}") from e
  for size in sizes:
    catalog.positive_int("feature_sizes", size)


def allow_model_classes(config, given, explicit, source, imports=True):
  """Checks (and imports) the model classes `config` names.

  A registered name is fine. A dotted path is imported only when the user
  typed the same value for that flag on this command line (and `imports`
  allows it: never for a model archive). Anything else is refused before
  any module is imported.
  """
  from youtube8m.models import base  # pylint: disable=import-outside-toplevel
  for name, flag in all_flags().items():
    if not flag.model_class or name not in config:
      continue
    value = str(config[name]).strip()
    if base.is_known_model(value):
      continue
    typed = name in explicit and str(given.get(name, "")).strip() == value
    if not catalog.is_dotted(value):  # not a path: an unknown name
      try:
        base.get_model_class(value)
      except utils.Yt8mError as e:
        raise utils.Yt8mError(str(e) if typed else f"{source}: {e}") from e
    if not imports:
      raise utils.Yt8mError(
          f"{source} names {name} {value!r}, which is not a registered "
          f"model ({', '.join(base.registered_names())}); a model archive "
          "may name only those, and never has its code imported. Predict "
          f"with the model's --train_dir and --{name}={value} to use your "
          "own model")
    if not typed:
      raise utils.Yt8mError(
          f"{source} names {name} {value!r}, which is not a registered "
          f"model; its module is imported (its code run) only when you type "
          f"--{name}={value} on the command line yourself")
    base.import_model_class(value)


def typed_config(given, explicit):
  """The configuration of typed flags (no file), typed model classes
  imported; the values are checked by the model that reads them."""
  config = normalize(given)
  allow_model_classes(config, given, explicit, "the command line")
  return config


def save(train_dir, config):
  """Writes the configuration whole or not at all (outputs.write_file)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from youtube8m.common import outputs  # pylint: disable=import-outside-toplevel
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


def resolve(train_dir, given, explicit, for_training=False, imports=True):
  """Merges the flags of this run with the ones saved in train_dir.

  Args:
    train_dir: the model directory.
    given: {flag: value} for every recorded flag (defaults included).
    explicit: names of the flags the user actually typed.
    for_training: True for train.py, which may start the file.
    imports: False refuses every model class that is not registered (a
      model archive), even when typed.

  Returns:
    (config, saved): the configuration to use, and whether it came from
    model_flags.json (saved) or from these flags (new).

  Raises:
    Yt8mError: a typed flag contradicts the saved value, a saved value is
      bad or names a model class that may not be imported, or (not
      training) there is no saved configuration.
  """
  saved = load(train_dir)
  if saved is None:
    if not for_training and not explicit & {"model"}:
      raise utils.Yt8mError(
          f"{path_in(train_dir)} not found: train a model in --train_dir "
          "first (or pass the model flags explicitly)")
    return typed_config(given, explicit), False
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
  allow_model_classes(saved, given, explicit, path_in(train_dir), imports)
  # Now that the model modules are imported, their flags are known too.
  check_values(saved, path_in(train_dir))
  unknown = sorted(set(saved) - set(all_flags()))
  if unknown:
    logging.warning("%s: ignoring entries that are no model flags of this "
                    "version: %s", path_in(train_dir), ", ".join(unknown))
  return {k: v for k, v in saved.items() if k not in unknown}, True
