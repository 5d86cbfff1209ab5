"""Base class, registry and flags of the YouTube-8M models (no models here).

A model maps a reader batch (`video_matrix` [B, D] or [B, T, D], float32 or
uint8, and `num_frames` int32 [B]) to `{"predictions": float32 [B, C]}`
class probabilities.

Adding a model: subclass `BaseModel`, implement `classify`, and either
decorate the class with `@models.register` (in a module imported before the
lookup) or pass its dotted path, `--model=my_pkg.my_module.MyModel`; the
registry imports the module itself. Nothing here needs editing.
"""

import dataclasses
import importlib

import keras
import tensorflow as tf

from youtube8m.common import checks
from youtube8m.common import utils
from youtube8m.data import raw_frames
from youtube8m.models import model_utils

# The model flags, one entry each, defined next to the models that read them
# (`define_flag` calls in video_level_models.py, frame_level_models.py, ...).
# train.py, eval.py, inference.py and export_model.py define one absl flag per
# entry, model_flags.json records them all, and every model takes the whole
# set as keyword arguments and uses the entries it needs.
MODEL_FLAGS = {}

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class ModelFlag:
  """One model flag: its default, its --help text and its value check.

  `check(flag, value)` raises Yt8mError naming the flag when the value is
  invalid; None accepts any value of the default's type. `legacy` (None:
  the default) is the value a model_flags.json written before the flag
  existed stands for: a flag whose default changes what a checkpoint means
  sets it, so that older train_dirs keep restoring as they were trained.
  """
  name: str
  default: object
  help: str
  check: object = None
  legacy: object = None


def define_flag(name, default, help, check=None, legacy=None):  # pylint: disable=redefined-builtin
  """Adds a model flag; returns its ModelFlag (`legacy`: see ModelFlag).

  A module re-imported (importlib.reload, tests) may define a flag again with
  the same default; a different default for the same name is an error.
  """
  flag = ModelFlag(name, default, help, check, legacy)
  existing = MODEL_FLAGS.get(name)
  if existing is not None and existing.default != default:
    raise utils.Yt8mError(f"model flag --{name} is defined twice, with "
                          f"defaults {existing.default!r} and {default!r}")
  MODEL_FLAGS[name] = flag
  return flag


def model_flag_defaults():
  """{flag: default} of every model flag, in definition order."""
  return {name: flag.default for name, flag in MODEL_FLAGS.items()}


# The generic value checks, under the names model modules use.
bad_flag = checks.bad_flag
positive_int, boolean, choice = checks.positive_int, checks.boolean, checks.choice
non_negative, positive, fraction = (checks.non_negative, checks.positive,
                                    checks.fraction)


def video_level_model(flag, value):
  """Check: the name of a video-level model (a frame model's classifier)."""
  try:
    cls = get_model_class(value)
  except utils.Yt8mError as e:
    raise utils.Yt8mError(f"--{flag}: {e}") from e
  if cls.frame_level:
    video_level = [n for n in sorted(_REGISTRY)
                   if not _REGISTRY[n].frame_level]
    raise bad_flag(flag, value, "expected a video-level model ("
                   f"{', '.join(video_level)})")


def check_model_flags(**model_flags):
  """Raises Yt8mError naming the first known model flag with a bad value."""
  for name, value in model_flags.items():
    flag = MODEL_FLAGS.get(name)
    if flag is not None and flag.check is not None:
      flag.check(name, value)


# Read by every model that ends in a video-level classifier.
define_flag("l2_penalty", 1e-8, "L2 penalty on the classifier weights: "
            "l2_penalty * sum(w^2) / 2.", non_negative)


class BaseModel(keras.Model):
  """A YouTube-8M classifier; subclasses implement `classify`.

  `__init__(num_classes, **model_flags)` takes the model flags a subclass
  needs as keyword arguments and ignores the rest. Variables are created on
  the first call (see `create_variables`).
  """

  # True when the model needs frame features [B, T, D] (--frame_features).
  frame_level = False
  # The single-replica train step is compiled with XLA (element-wise work
  # fused around the matmuls) unless a model sets this to False.
  jit_compile = True

  def __init__(self, num_classes, name=None, **unused_model_flags):
    super().__init__(name=name)
    positive_int("num_classes", num_classes)
    self.num_classes = int(num_classes)

  def build(self, input_shape):
    """Creates the variables with one inference pass on a zero batch.

    Without a build() Keras would trace `call` symbolically to create them,
    and a tf.train.Checkpoint restored before that (deferred restore) then
    leaves some variables unrestored. Only the feature size matters here.

    Args:
      input_shape: dict of shapes; `video_matrix` is [B, D] or [B, T, D], or
        a tuple of per-feature [B, T, D_i], each maybe a tuple of row chunks
        (`raw_frames.feature_parts`).
    """
    def is_shape(shape):
      return not shape or not isinstance(shape[0], (tuple, list))

    shape = input_shape["video_matrix"]
    parts = [shape] if is_shape(shape) else [
        part if is_shape(part) else part[0] for part in shape]
    sizes = [part[-1] for part in parts]
    feature_size = None if None in sizes else sum(sizes)
    if feature_size is not None:
      frame_shape = [1, 1] if self.frame_level else [1]
      zeros = tf.zeros(frame_shape + [feature_size])
      self.classify(zeros, tf.ones([1], tf.int32), training=False)

  def call(self, inputs, training=False):
    """inputs: dict with `video_matrix` and `num_frames` -> predictions.

    Args:
      inputs: `video_matrix` float32 or uint8 [B, D] (video level) or
        [B, T, D] (frame level, padded), or a tuple of per-feature uint8
        [B, T, D_i], each maybe split into batch row chunks (the raw
        reader's forms, `raw_frames.feature_parts`); `num_frames` int [B].
        Other keys (labels, video_ids) are ignored.
      training: Python bool.

    Returns:
      {"predictions": float32 [B, num_classes]} probabilities.
    """
    video_matrix = inputs["video_matrix"]
    parts = raw_frames.feature_parts(video_matrix)
    num_frames = tf.cast(inputs["num_frames"], tf.int32)
    rank = 3 if self.frame_level else 2
    if any(part.shape.rank != rank for part in parts):
      kind = ("frame features [batch, frames, features] (--frame_features)"
              if self.frame_level else "video-level features [batch, "
              "features] (run without --frame_features)")
      raise utils.Yt8mError(
          f"model {type(self).__name__} needs {kind}, but its input has "
          f"shape {' + '.join(str(part.shape) for part in parts)}")
    model_input = model_utils.prepare_input(
        parts[0] if len(parts) == 1 else tuple(parts), num_frames)
    predictions = self.classify(model_input, num_frames, training=training)
    return {"predictions": predictions}

  def classify(self, model_input, num_frames, training=False):
    """Class probabilities of prepared input.

    Args:
      model_input: float32 [B, D] or [B, T, D], l2-normalized, zero padded.
      num_frames: int32 [B].
      training: Python bool.

    Returns:
      float32 [B, num_classes] probabilities.
    """
    raise NotImplementedError(f"{type(self).__name__} must define classify()")

  def create_variables(self, feature_size, num_frames=2):
    """Creates every variable by calling the model once on zeros.

    Useful before exporting or inspecting `trainable_variables`; training and
    tf.train.Checkpoint restores do not need it.
    """
    shape = [1, num_frames, feature_size] if self.frame_level else [
        1, feature_size]
    self({"video_matrix": tf.zeros(shape),
          "num_frames": tf.fill([1], num_frames if self.frame_level else 1)},
         training=False)


def register(cls):
  """Class decorator: makes a BaseModel subclass available by class name."""
  if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
    raise TypeError(f"models.register: {cls!r} is not a BaseModel subclass")
  name = cls.__name__
  existing = _REGISTRY.get(name)
  # Re-importing a module (importlib.reload, tests) re-registers its classes.
  if existing is not None and (existing.__module__ != cls.__module__):
    raise utils.Yt8mError(
        f"model name '{name}' is registered by both {existing.__module__} and "
        f"{cls.__module__}; rename one of the classes")
  _REGISTRY[name] = cls
  return cls


def registered_names():
  """Sorted names of the registered models."""
  return sorted(_REGISTRY)


def _import_model_class(path):
  """The BaseModel subclass at dotted `path` (module.Class), registered."""
  module_name, _, class_name = path.rpartition(".")
  try:
    module = importlib.import_module(module_name)
  except ImportError as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise utils.Yt8mError(
        f"--model={path}: cannot import module '{module_name}' ({reason}); "
        "is its directory on PYTHONPATH?") from e
  cls = getattr(module, class_name, None)
  if cls is None:
    raise utils.Yt8mError(f"--model={path}: module '{module_name}' has no "
                          f"class '{class_name}'")
  if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
    raise utils.Yt8mError(f"--model={path}: '{class_name}' is not a subclass "
                          "of youtube8m.models.BaseModel")
  # Register under the class name unless a different model already has it;
  # the dotted path keeps working either way.
  if cls.__name__ not in _REGISTRY:
    register(cls)
  return cls


def get_model_class(name):
  """The model class for a registered name or a `module.Class` path."""
  name = str(name).strip()
  if name in _REGISTRY:
    return _REGISTRY[name]
  if "." in name:
    return _import_model_class(name)
  raise utils.Yt8mError(
      f"unknown model '{name}'; registered models: "
      f"{', '.join(registered_names())} (or give the dotted path of your own "
      "BaseModel subclass, e.g. --model=my_pkg.my_module.MyModel)")


def build_model(model_name, num_classes, **model_flags):
  """Constructs model `model_name` (see get_model_class) for `num_classes`.

  `model_flags` may hold every model flag (MODEL_FLAGS keys); the
  model uses the ones it needs and validates them.
  """
  return get_model_class(model_name)(num_classes, **model_flags)
