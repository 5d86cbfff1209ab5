"""One replicated training step, and the optimizers and schedule it uses.

`Trainer.step` runs forward, loss, gradients, the all-reduce, clipping and
the optimizer update for one distributed batch. It keeps the seed's
semantics: each replica gets a full --batch_size, the replicas' gradients
are summed, then each gradient tensor is clipped (`losses.clip_by_norm`),
and the learning rate decays in a staircase counted in examples. The loop
around it is train_lib's; the step benchmark times it alone.
"""

import keras
import numpy as np
import tensorflow as tf

from youtube8m import eval_util
from youtube8m import losses
from youtube8m import utils


class _SummedGradients:
  """Mixin: gradients reach the optimizer already summed over replicas.

  Keras sums replicas' gradients inside `apply` and clips before that sum;
  the seed clipped the summed gradients. The train step sums and clips
  itself, so the optimizer must not sum again.
  """

  def _all_reduce_sum_gradients(self, grads_and_vars):
    return grads_and_vars


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
    "RMSPropOptimizer": lambda lr: (keras.optimizers.RMSprop, dict(
        learning_rate=lr, rho=0.9, momentum=0.0, epsilon=1e-10)),
}


def make_optimizer(name, learning_rate):
  if name not in OPTIMIZERS:
    raise utils.Yt8mError(f"--optimizer={name} is unknown; choose one of "
                          f"{', '.join(sorted(OPTIMIZERS))}")
  cls, kwargs = OPTIMIZERS[name](learning_rate)
  if not hasattr(cls, "_all_reduce_sum_gradients"):
    raise RuntimeError(f"this Keras version's {cls.__name__} has no "
                       "_all_reduce_sum_gradients; gradient summing changed")
  return type(cls.__name__, (_SummedGradients, cls), {})(**kwargs)


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
  """

  def __init__(self, model, loss_fn, optimizer, strategy,
               regularization_penalty=1.0, clip_gradient_norm=1.0, top_k=20,
               jit_compile=None):
    self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
    self.strategy = strategy
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
    """(label_loss, reg_loss) after one optimizer step."""
    return self._update_and_predict(batch)[:2]

  def _update_and_predict(self, batch):
    """(label_loss, reg_loss, predictions [B, C]) after one optimizer step."""
    with tf.GradientTape() as tape:
      predictions = self.model(batch, training=True)["predictions"]
      label_loss = self.loss_fn.calculate_loss(
          predictions, batch["labels"], label_weights=batch.get("label_weights"))
      reg_loss = losses.regularization_loss(self.model)
      loss = label_loss + self.regularization_penalty * reg_loss
    variables = self.model.trainable_variables
    grads = tape.gradient(loss, variables)
    context = tf.distribute.get_replica_context()
    if context is not None and self.strategy.num_replicas_in_sync > 1:
      grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    if self.clip_gradient_norm > 0:
      grads = [losses.clip_by_norm(g, self.clip_gradient_norm)
               for g in grads]
    self.optimizer.apply(grads, variables)
    return label_loss, reg_loss, predictions

  def _replica_step(self, batch, with_metrics):
    # XLA takes no string tensors (video ids); the model needs none.
    numeric = {k: v for k, v in batch.items()
               if isinstance(v, tuple) or v.dtype != tf.string}
    outputs = self._update_fn[with_metrics](numeric)
    out = {"label_loss": outputs[0], "reg_loss": outputs[1]}
    if with_metrics:
      predictions = outputs[2]
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
