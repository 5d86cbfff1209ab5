"""Weight averaging (--ema_decay): an exponential moving average of the model.

With --ema_decay=d > 0, training keeps a shadow copy of the model (same
class, same flags) whose trainable weights follow, after every optimizer
step,

    average = d * average + (1 - d) * weight

starting from the weights training starts from (fresh, warm-started or
restored). A step the optimizer skips (a non-finite float16 gradient under
--mixed_precision=mixed_float16) leaves the average unchanged. The shadow's
other variables, the batch-norm moving statistics, are copied from the
model after every step: they are already moving averages over the training
batches, so they are used as they are.

The shadow is saved in every checkpoint under the key "ema", beside "model"
and "optimizer", so a restarted run resumes the same average as an
uninterrupted one. Every reader that restores a model for use rather than
for training (eval.py, inference.py, export_model.py, model .tar.gz files)
restores "ema" into its model when the checkpoint has it, "model"
otherwise (checkpoints.restore_model): the checkpoint says which weights to
use, so nothing is recorded in model_flags.json (--ema_decay is a training
setting, like the learning rate). The exports written during training are
of the shadow. --init_from_checkpoint starts from the source's trained (not
averaged) weights.

Cost: one more copy of the model's variables in memory and in each
checkpoint, and one pass over the weights per step. On one replica the
update runs inside the XLA-compiled step; under MirroredStrategy each
device updates its own copy of the shadow from its own copy of the weights
(identical on every device after the step), with no communication.
"""

import keras
import tensorflow as tf

from youtube8m.common import checks
from youtube8m.common import literal_paths

CHECKPOINT_KEY = "ema"


def check_decay(decay):
  """Raises Yt8mError naming --ema_decay unless 0 <= decay < 1."""
  checks.fraction("ema_decay", decay)


def has_average(checkpoint_path):
  """Whether a checkpoint prefix holds averaged weights ("ema/...").

  False also when the checkpoint cannot be read: restoring it then raises
  the error.
  """
  prefix = CHECKPOINT_KEY + "/"
  try:
    with literal_paths.readable(checkpoint_path) as readable:
      names = [name for name, _ in tf.train.list_variables(readable)]
  except (tf.errors.OpError, ValueError, IndexError, OSError):
    return False
  return any(name.startswith(prefix) for name in names)


def checkpoint_for_use(model, checkpoint_path):
  """(tf.train.Checkpoint, averaged) for restoring `model` to use it.

  The checkpoint object maps `model` to the averaged weights ("ema") when
  the checkpoint at `checkpoint_path` has them, else to the trained ones
  ("model"); restore it with expect_partial (checkpoints.restore_model).
  """
  averaged = has_average(checkpoint_path)
  key = CHECKPOINT_KEY if averaged else "model"
  return tf.train.Checkpoint(**{key: model}), averaged


def _pairs(model, shadow, trainable):
  live = model.trainable_variables if trainable else \
      model.non_trainable_variables
  copy = shadow.trainable_variables if trainable else \
      shadow.non_trainable_variables
  if [tuple(v.shape) for v in live] != [tuple(v.shape) for v in copy]:
    raise ValueError("the shadow model's variables do not match the "
                     "model's: build it with the same class and flags")
  return list(zip(live, copy))


def _tf_variable(variable):
  """The tf.Variable (or distributed variable) behind a Keras variable."""
  return variable.value if isinstance(variable, keras.Variable) else variable


class WeightAverage:
  """The moving average of `model`'s weights, kept in `shadow`.

  Args:
    model: the model being trained (variables created).
    shadow: a second model of the same class and flags (variables created,
      under the same strategy scope); its values are overwritten.
    decay: d in [0, 1); 0 keeps a copy of the weights.
  """

  def __init__(self, model, shadow, decay):
    check_decay(decay)
    self.decay = float(decay)
    self.model, self.shadow = model, shadow
    self._averaged = _pairs(model, shadow, trainable=True)
    self._copied = _pairs(model, shadow, trainable=False)
    self.reset()

  @classmethod
  def create(cls, decay, model, make_shadow):
    """A WeightAverage, or None when `decay` is 0 (averaging off).

    `make_shadow()` builds the shadow model; call this where the model was
    built (in the same strategy and dtype policy scopes).
    """
    check_decay(decay)
    if not decay:
      return None
    return cls(model, make_shadow(), decay)

  def reset(self):
    """The average restarts from the model's current weights."""
    for live, copy in self._averaged + self._copied:
      copy.assign(live)

  def attach(self, checkpoint, restored_path=None):
    """Adds the shadow to a training checkpoint, after the model's restore.

    The average restarts from the model's weights unless `restored_path`
    (the checkpoint training resumed from) holds one, which is then loaded.

    Returns:
      True if an average was loaded from `restored_path`.
    """
    self.reset()
    resumed = bool(restored_path) and has_average(restored_path)
    if resumed:
      with literal_paths.readable(restored_path) as readable:
        tf.train.Checkpoint(**{CHECKPOINT_KEY: self.shadow}).restore(
            readable).expect_partial().assert_existing_objects_matched()
    setattr(checkpoint, CHECKPOINT_KEY, self.shadow)
    return resumed

  def update(self, stepped=None):
    """One averaging step, in the train step after the optimizer's update.

    Runs in a replica context (or without a strategy); `stepped`: an
    optional bool tensor, False when the optimizer skipped the step.
    """
    decay = tf.constant(self.decay, tf.float32)
    if stepped is not None:
      decay = tf.where(stepped, decay, tf.ones_like(decay))

    def average(copy, live):
      return copy.assign(decay * copy + (1.0 - decay) * live)

    def mirror(copy, live):
      return copy.assign(live)

    def update_all(strategy):
      # Cross-replica context: `live` is unwrapped to each device's copy.
      for fn, pairs in ((average, self._averaged), (mirror, self._copied)):
        for live, copy in pairs:
          strategy.extended.update(_tf_variable(copy), fn,
                                   args=(_tf_variable(live),), group=False)

    tf.__internal__.distribute.interim.maybe_merge_call(
        update_all, tf.distribute.get_strategy())
