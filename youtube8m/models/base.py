"""Base class, registry and flags of the YouTube-8M models (no models here).

A model maps a reader batch (`video_matrix` [B, D] or [B, T, D], float32 or
uint8, and `num_frames` int32 [B]) to `{"predictions": float32 [B, C]}`
class probabilities.

Adding a model: subclass `BaseModel`, implement `classify`, and either
decorate the class with `@models.register` (in a module imported before the
lookup) or pass its dotted path, `--model=my_pkg.my_module.MyModel`. Nothing
here needs editing.

Importing a module runs its code, so a dotted path is imported only by
`import_model_class`, which the front ends call for paths the user typed
on the command line (catalog.import_user_model, model_config.resolve);
`get_model_class` only looks up registered names and paths imported that
way, so a name read from a file never imports anything.
"""

import importlib

import keras
import tensorflow as tf

from youtube8m.common import checks
from youtube8m.common import utils
from youtube8m.data import raw_frames
from youtube8m.models import catalog
from youtube8m.models import model_utils

# The model flags and their checks live in the TensorFlow-free catalog (the
# commands read them before TensorFlow loads); these are their names here.
MODEL_FLAGS = catalog.MODEL_FLAGS
ModelFlag = catalog.ModelFlag
define_flag = catalog.define_flag
model_flag_defaults = catalog.model_flag_defaults
check_model_flags = catalog.check_model_flags
video_level_model = catalog.video_level_model
bad_flag = checks.bad_flag
positive_int, boolean, choice = catalog.positive_int, checks.boolean, checks.choice
num_classes_check = catalog.num_classes_check
MAX_WIDTH, MAX_CLASSES = catalog.MAX_WIDTH, catalog.MAX_CLASSES
non_negative, positive, fraction = (checks.non_negative, checks.positive,
                                    checks.fraction)

_REGISTRY = {}


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
  # True when the model's outputs do not depend on how many padding frames
  # follow each video (it masks them, or samples only valid frames): the
  # frame reader then pads a batch to its longest video, not to 300 frames.
  # A model setting it should be tested with extra padding.
  padding_invariant = False

  def __init__(self, num_classes, name=None, **unused_model_flags):
    super().__init__(name=name)
    num_classes_check("num_classes", num_classes)
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
    indices = (self.frame_indices(num_frames, tf.shape(parts[0])[1],
                                  training) if self.frame_level else None)
    if indices is not None:
      # Only the sampled frames are dequantized and normalized. A video
      # with no frame (malformed) gets zero frames, as it would unsampled.
      sampled = model_utils.gather_raw_frames(video_matrix, indices)
      count = tf.where(num_frames > 0, tf.shape(indices)[1], 0)
      model_input = model_utils.prepare_input(
          sampled[0] if len(sampled) == 1 else tuple(sampled), count)
      predictions = self.classify_sampled(model_input, num_frames,
                                          training=training)
    else:
      model_input = model_utils.prepare_input(
          parts[0] if len(parts) == 1 else tuple(parts), num_frames)
      predictions = self.classify(model_input, num_frames, training=training)
    return {"predictions": predictions}

  def frame_indices(self, num_frames, length, training=False):
    """Frames a sampling model looks at: int32 [B, K], or None (all).

    A model that classifies K sampled frames defines this (the sampling
    depends on num_frames [B] and the padded length only) and
    `classify_sampled`; `call` then gathers those frames from the raw
    bytes before dequantizing them, instead of dequantizing every frame.
    """
    del num_frames, length, training
    return None

  def classify_sampled(self, frames, num_frames, training=False):
    """Probabilities [B, C] of sampled, prepared frames [B, K, D] (the
    models that define `frame_indices`); num_frames: the videos' [B]."""
    raise NotImplementedError(f"{type(self).__name__} samples frames but "
                              "defines no classify_sampled()")

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


def untracked_variables(model):
  """[(attribute, variable path)] of model variables no checkpoint saves.

  tf.train.Checkpoint follows a Keras 3 model's attributes, but not the
  layers held in a Python list or dict attribute (`self.blocks = [...]`):
  their weights would train, then be lost at every restore.
  """
  # The view holds its root weakly: keep the checkpoint alive while walking.
  checkpoint = tf.train.Checkpoint(model=model)
  saved = {id(obj) for obj in tf.train.TrackableView(checkpoint).descendants()}
  # A Dropout's seed-generator state is random-number bookkeeping, not a
  # weight: Keras 3 checkpoints never hold it, and a restore need not.
  missing = [v for v in model.variables if id(v) not in saved
             and not (v.name == "seed_generator_state" and not v.trainable)]
  if not missing:
    return []
  owners = {}
  for attribute, value in vars(model).items():
    if attribute.startswith("_"):  # Keras's own bookkeeping
      continue
    items = (value.values() if isinstance(value, dict) else value
             if isinstance(value, (list, tuple)) else ())
    for item in items:
      if isinstance(item, keras.layers.Layer):
        for variable in item.variables:
          owners.setdefault(id(variable), f"self.{attribute}")
  return [(owners.get(id(v), "?"), v.path) for v in missing]


def check_checkpointable(model):
  """Refuses a model whose trainable weights checkpoints would not hold."""
  missing = untracked_variables(model)
  if not missing:
    return
  attributes = sorted({a for a, _ in missing if a != "?"})
  held = (f"the layers in {', '.join(attributes)} (a Python list or dict)"
          if attributes else "some layers")
  shown = ", ".join(path for _, path in missing[:4]) + (
      f" and {len(missing) - 4} more" if len(missing) > 4 else "")
  raise utils.Yt8mError(
      f"model {type(model).__name__}: {held} are not saved in checkpoints "
      f"(variables {shown}), so a restore would silently reset them; assign "
      "each layer to an attribute of its own (setattr(self, f'block_{i}', "
      "layer)) or hold them in a keras.Sequential")


def register(cls):
  """Class decorator: makes a BaseModel subclass available by class name."""
  if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
    raise TypeError(f"models.register: {cls!r} is not a BaseModel subclass")
  name = cls.__name__
  builtin = catalog.builtin_module(name)
  if builtin is not None and cls.__module__ != builtin:
    raise utils.Yt8mError(
        f"model name '{name}' is a built-in model of {builtin}; rename "
        f"{cls.__module__}.{name}")
  existing = _REGISTRY.get(name)
  # Re-importing a module (importlib.reload, tests) re-registers its classes.
  if existing is not None and (existing.__module__ != cls.__module__):
    raise utils.Yt8mError(
        f"model name '{name}' is registered by both {existing.__module__} and "
        f"{cls.__module__}; rename one of the classes")
  _REGISTRY[name] = cls
  return cls


def registered_names():
  """Sorted names of the registered models, the built-in ones included."""
  return sorted(set(_REGISTRY) | set(catalog.BUILTIN_MODELS))


def is_known_model(name):
  """Whether `name` is registered (or built in) or a dotted path imported
  already (import_model_class)."""
  name = str(name).strip()
  return (name in _REGISTRY or name in catalog.BUILTIN_MODELS or
          name in _IMPORTED)


# Dotted paths imported by import_model_class: {path: class}.
_IMPORTED = {}


def import_model_class(path):
  """The BaseModel subclass at dotted `path` (module.Class), imported.

  Imports (runs) the module: call it only for a path the user typed. The
  class is registered under its name unless another model has it, and
  `get_model_class(path)` finds it from then on. A name without a dot is
  looked up as get_model_class does.
  """
  path = str(path).strip()
  if is_known_model(path) or not catalog.is_dotted(path):
    return get_model_class(path)
  if path not in _IMPORTED:
    _IMPORTED[path] = _import_model_class(path)
  return _IMPORTED[path]


def _import_model_class(path):
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
  """The model class of a registered name or of an imported dotted path.

  Never imports a module of yours: a dotted path must have been imported by
  import_model_class (the command line's --model) first. Built-in models'
  modules are imported when first asked for.
  """
  name = str(name).strip()
  if name not in _REGISTRY and catalog.builtin_module(name):
    # Built-in models are imported when first asked for (this module never
    # imports its subclasses; their module registers them).
    importlib.import_module(catalog.builtin_module(name))
  if name in _REGISTRY:
    return _REGISTRY[name]
  if name in _IMPORTED:
    return _IMPORTED[name]
  if catalog.is_dotted(name):
    raise utils.Yt8mError(
        f"model class '{name}' was not imported: a dotted path is imported "
        f"only when typed on the command line (e.g. --model={name})")
  raise catalog.unknown_model(name, registered_names())


def build_model(model_name, num_classes, **model_flags):
  """Constructs model `model_name` (see get_model_class) for `num_classes`.

  `model_flags` may hold every model flag (MODEL_FLAGS keys); the
  model uses the ones it needs and validates them.
  """
  return get_model_class(model_name)(num_classes, **model_flags)
