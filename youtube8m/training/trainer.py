"""One replicated training step, and the optimizers and schedule it uses.

`Trainer.step` runs forward, loss, gradients, the all-reduce, clipping and
the optimizer update for one distributed batch. It keeps the seed's
semantics: each replica gets a full --batch_size, the replicas' gradients
are summed, then each gradient tensor is clipped (`losses.clip_by_norm`),
and the learning rate decays in a staircase counted in examples. The loop
around it is train_lib's; the step benchmark times it alone.

The loss is the --label_loss of the predictions, plus that of each student
when the model returns `student_predictions` [N, B, C] in training
(MixNeXtVLADModel), unscaled, plus --regularization_penalty times the
model's losses (L2 terms, MixNeXtVLAD's distillation term).

Mixed precision (--mixed_precision, `precision_policy`): the model is built
under a Keras mixed dtype policy, so its layers compute in float16 or
bfloat16 while its variables, gradients, optimizer state, losses and
predictions stay float32. For float16 the optimizer is a Keras
LossScaleOptimizer (`make_optimizer`): the loss is multiplied by its
dynamic scale before the gradients, and the step divides the summed
gradients by the scale before clipping them (so --clip_gradient_norm acts
on the true gradients); the LossScaleOptimizer skips a step whose gradients
are not finite (the global step then does not advance) and halves the
scale, and doubles it after 2000 finite steps. bfloat16 has float32's
range and needs no scaling.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.evaluation import eval_util
from youtube8m.models import losses
from youtube8m.training import train_config


class _SummedGradients:
  """Mixin: gradients reach the optimizer already summed over replicas.

  Keras sums replicas' gradients inside `apply` and clips before that sum;
  the seed clipped the summed gradients. The train step sums and clips
  itself, so the optimizer must not sum again.
  """

  def _all_reduce_sum_gradients(self, grads_and_vars):
    return grads_and_vars


class _SeedRMSprop(keras.optimizers.RMSprop):
  """RMSprop whose mean square starts at 1, as the starter code's did.

  tf.compat.v1.train.RMSPropOptimizer initialized its "rms" slot to ones;
  Keras starts it at zeros, which makes the first updates up to
  1/sqrt(1 - rho) (about 3x) larger. A fresh run starts from ones; a
  restored checkpoint overwrites them.
  """

  def build(self, var_list):
    if self.built:
      return
    super().build(var_list)
    if not hasattr(self, "_velocities"):
      raise RuntimeError("this Keras version's RMSprop keeps no "
                         "_velocities; the seed's initial value is lost")
    for velocity in self._velocities:
      velocity.assign(tf.ones_like(velocity))


OPTIMIZERS = {
    # The seed named tf.compat.v1.train optimizers; Adam keeps epsilon 1e-8.
    "AdamOptimizer": lambda lr: (keras.optimizers.Adam, dict(
        learning_rate=lr, epsilon=1e-8)),
    "AdagradOptimizer": lambda lr: (keras.optimizers.Adagrad, dict(
        learning_rate=lr, initial_accumulator_value=0.1, epsilon=1e-7)),
    "GradientDescentOptimizer": lambda lr: (keras.optimizers.SGD, dict(
        learning_rate=lr)),
    "MomentumOptimizer": lambda lr: (keras.optimizers.SGD, dict(
        learning_rate=lr, momentum=0.9)),
    "RMSPropOptimizer": lambda lr: (_SeedRMSprop, dict(
        learning_rate=lr, rho=0.9, momentum=0.0, epsilon=1e-10)),
}


# The --mixed_precision names and their check (TensorFlow-free, for train.py).
MIXED_PRECISION = train_config.MIXED_PRECISION
check_mixed_precision = train_config.check_mixed_precision


@contextlib.contextmanager
def precision_policy(name):
  """Builds models under Keras dtype policy `name` ("" leaves float32).

  Layers take the global policy when they are constructed and built, so
  build the model (create_variables) inside; the policy is restored after.
  """
  check_mixed_precision("mixed_precision", name)
  previous = keras.config.dtype_policy()
  if name:
    keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def make_optimizer(name, learning_rate, mixed_precision=""):
  """The optimizer --optimizer names; loss-scaled for mixed_float16."""
  if name not in OPTIMIZERS:
    raise utils.Yt8mError(f"--optimizer={name} is unknown; choose one of "
                          f"{', '.join(sorted(OPTIMIZERS))}")
  check_mixed_precision("mixed_precision", mixed_precision)
  cls, kwargs = OPTIMIZERS[name](learning_rate)
  if not hasattr(cls, "_all_reduce_sum_gradients"):
    raise RuntimeError(f"this Keras version's {cls.__name__} has no "
                       "_all_reduce_sum_gradients; gradient summing changed")
  optimizer = type(cls.__name__, (_SummedGradients, cls), {})(**kwargs)
  if mixed_precision == "mixed_float16":
    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def _scaled(gradient, factor):
  if isinstance(gradient, tf.IndexedSlices):
    return tf.IndexedSlices(gradient.values * factor, gradient.indices,
                            gradient.dense_shape)
  return gradient * factor


class ExamplesStaircase(keras.optimizers.schedules.LearningRateSchedule):
  """base * decay ** floor(step * examples_per_step / decay_examples)."""

  def __init__(self, base, decay, decay_examples, examples_per_step):
    self.base, self.decay = float(base), float(decay)
    self.decay_examples = int(decay_examples)
    self.examples_per_step = int(examples_per_step)

  def __call__(self, step):
    seen = tf.cast(step, tf.int64) * self.examples_per_step
    stairs = seen // max(self.decay_examples, 1)
    return self.base * tf.pow(self.decay, tf.cast(stairs, tf.float32))

  def get_config(self):
    return dict(base=self.base, decay=self.decay,
                decay_examples=self.decay_examples,
                examples_per_step=self.examples_per_step)


class Trainer:
  """One replicated training step: forward, loss, summed gradients, update.

  On one replica the whole update (forward, backward, clipping, optimizer)
  is compiled with XLA, which fuses the element-wise work around the
  matmuls: about 1.1-1.6x the steps/sec on CPU (`python -m
  youtube8m.benchmark train_step`). Under MirroredStrategy the gradient
  all-reduce must stay outside XLA, so several replicas run uncompiled, and
  so do models with `jit_compile = False` (LstmModel).

  `ema`: an ema.WeightAverage of the model, updated after each step.
  """

  def __init__(self, model, loss_fn, optimizer, strategy,
               regularization_penalty=1.0, clip_gradient_norm=1.0, top_k=20,
               jit_compile=None, ema=None):
    self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
    self.strategy, self.ema = strategy, ema
    self._loss_scaled = isinstance(optimizer,
                                   keras.optimizers.LossScaleOptimizer)
    if not optimizer.built:  # its variables (the loss scale) must exist
      with strategy.scope():
        optimizer.build(model.trainable_variables)
    self.regularization_penalty = regularization_penalty
    self.clip_gradient_norm = clip_gradient_norm
    self.top_k = top_k
    if jit_compile is None:
      jit_compile = (strategy.num_replicas_in_sync == 1 and
                     getattr(model, "jit_compile", True))
    # Keyed by with_metrics: predictions leave XLA only when metrics need
    # them (returning them forces XLA to write [B, C] out every step).
    self._update_fn = {False: self._update, True: self._update_and_predict}
    if jit_compile:
      self._update_fn = {k: tf.function(f, jit_compile=True)
                         for k, f in self._update_fn.items()}
    self._steps = {}

  def _update(self, batch):
    """(label_loss, student_loss, reg_loss) after one optimizer step."""
    return self._update_and_predict(batch)[:3]

  def _student_loss(self, outputs, labels, label_weights):
    """Sum of the label losses of `student_predictions` [N, B, C], or 0."""
    students = outputs.get("student_predictions")
    if students is None:
      return tf.constant(0.0)
    return tf.add_n([self.loss_fn.calculate_loss(
        tf.cast(p, tf.float32), labels, label_weights=label_weights)
                     for p in tf.unstack(students)])

  def _update_and_predict(self, batch):
    """(label_loss, student_loss, reg_loss, predictions [B, C]) after one
    optimizer step."""
    label_weights = batch.get("label_weights")
    # The loss targets: the labels, or soft targets (distillation.py).
    labels = batch.get("targets", batch["labels"])
    with tf.GradientTape() as tape:
      outputs = self.model(batch, training=True)
      # float32 whatever the layers compute in (--mixed_precision).
      predictions = tf.cast(outputs["predictions"], tf.float32)
      label_loss = self.loss_fn.calculate_loss(
          predictions, labels, label_weights=label_weights)
      student_loss = self._student_loss(outputs, labels, label_weights)
      reg_loss = losses.regularization_loss(self.model)
      loss = (label_loss + student_loss +
              self.regularization_penalty * reg_loss)
      if self._loss_scaled:
        loss = self.optimizer.scale_loss(loss)
    variables = self.model.trainable_variables
    grads = tape.gradient(loss, variables)
    context = tf.distribute.get_replica_context()
    if context is not None and self.strategy.num_replicas_in_sync > 1:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    if self.clip_gradient_norm > 0:
      if self._loss_scaled:  # clip the true gradients
        scale = tf.convert_to_tensor(self.optimizer.dynamic_scale)
        grads = [_scaled(g, 1.0 / scale) for g in grads]
      grads = [losses.clip_by_norm(g, self.clip_gradient_norm)
               for g in grads]
      if self._loss_scaled:
        # The LossScaleOptimizer divides by the scale (a power of 2, so
        # exactly) and checks that the gradients are finite.
        grads = [_scaled(g, scale) for g in grads]
    stepped = None
    if self.ema is not None and self._loss_scaled:
      before = tf.identity(self.optimizer.iterations)
    self.optimizer.apply(grads, variables)
    if self.ema is not None:
      if self._loss_scaled:  # the optimizer may have skipped the step
        stepped = tf.greater(tf.identity(self.optimizer.iterations), before)
      self.ema.update(stepped)
    return label_loss, student_loss, reg_loss, predictions

  def _replica_step(self, batch, with_metrics):
    # XLA takes no string tensors (video ids); the model needs none.
    numeric = {k: v for k, v in batch.items()
               if isinstance(v, tuple) or v.dtype != tf.string}
    outputs = self._update_fn[with_metrics](numeric)
    out = {"label_loss": outputs[0], "student_loss": outputs[1],
           "reg_loss": outputs[2]}
    if with_metrics:
      predictions = outputs[3]
      # Outside XLA: the top-k depth for PERR depends on the batch.
      out.update(eval_util.top_k_summary(predictions, batch["labels"],
                                         self.top_k))
    return out

  def step(self, batch, with_metrics=False):
    """Runs one step on a distributed batch; returns host numpy values.

    Losses are averaged over replicas; metric summaries are concatenated
    over this worker's replicas.
    """
    if with_metrics not in self._steps:
      self._steps[with_metrics] = tf.function(
          lambda b: self.strategy.run(self._replica_step,
                                      args=(b, with_metrics)))
    outputs = self._steps[with_metrics](batch)
    result = {}
    for key, value in outputs.items():
      parts = [np.asarray(v) for v in
               self.strategy.experimental_local_results(value)]
      result[key] = (float(np.mean(parts)) if key.endswith("loss")
                     else np.concatenate(parts))
    return result
