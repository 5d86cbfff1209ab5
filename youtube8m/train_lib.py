"""The training loop: a custom TF2 loop under a tf.distribute strategy.

Read `train()` top to bottom: strategy, configuration, data, model and
optimizer, restore, then the loop (step, log, summaries, checkpoint, export).
The seed's semantics are kept: each replica gets a full --batch_size, the
replicas' gradients are summed, then each gradient tensor is clipped, and the
learning rate decays in a staircase counted in examples.
"""

import dataclasses
import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from youtube8m import distribution
from youtube8m import eval_util
from youtube8m import export
from youtube8m import losses
from youtube8m import model_config
from youtube8m import models
from youtube8m import readers
from youtube8m import utils
from youtube8m import warm_start

LOG_METRICS_EVERY = 10  # steps; the seed logged Hit@1/PERR/GAP every 10


@dataclasses.dataclass
class TrainConfig:
  """Every train.py flag, with the seed's defaults."""
  train_dir: str = "/tmp/yt8m_model/"
  train_data_pattern: str = ""
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)  # model_flags.json content
  explicit_flags: frozenset = frozenset()  # model flags the user typed
  start_new_model: bool = False
  num_gpu: int = None
  batch_size: int = 1024
  regularization_penalty: float = 1.0
  base_learning_rate: float = 0.01
  learning_rate_decay: float = 0.95
  learning_rate_decay_examples: int = 4000000
  num_epochs: int = 5
  max_steps: int = None
  export_model_steps: int = 1000
  save_checkpoint_secs: float = 600
  num_readers: int = 8
  optimizer: str = "AdamOptimizer"
  clip_gradient_norm: float = 1.0
  max_checkpoints_to_keep: int = 5
  seed: int = None
  summary_dir: str = ""  # TensorBoard scalars; default train_dir
  final_export_dir: str = ""  # a SavedModel written at the end (AIP_MODEL_DIR)
  # Multi-worker: bound on each all-reduce (see youtube8m/distribution.py).
  collective_timeout_secs: float = distribution.DEFAULT_COLLECTIVE_TIMEOUT_SECS
  # 2019 segment fine-tuning (see youtube8m/warm_start.py, docs/segments.md).
  segment_labels: bool = False  # train on rated 5-frame segments
  init_from_checkpoint: str = ""  # start a fresh train_dir from these weights


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


def _prepare_train_dir(config, chief):
  """Resolves model flags against train_dir; starts afresh if asked."""
  train_dir = config.train_dir
  if config.start_new_model and chief and tf.io.gfile.exists(train_dir):
    logging.info("--start_new_model: removing the previous run's outputs "
                 "from %s", train_dir)
    for name in tf.io.gfile.listdir(train_dir):
      name = name.rstrip("/")
      if (name == "checkpoint" or name.startswith("ckpt-") or
          name.startswith("events.out.tfevents") or
          name in (model_config.FILENAME, "export", "eval", "eval_segments")):
        path = os.path.join(train_dir, name)
        if tf.io.gfile.isdir(path):
          tf.io.gfile.rmtree(path)
        else:
          tf.io.gfile.remove(path)
  if config.start_new_model:
    flags = model_config.normalize(config.model_flags)
  else:
    flags, from_file = model_config.resolve(
        train_dir, config.model_flags, set(config.explicit_flags),
        for_training=True)
    if from_file:
      logging.info("Model flags from %s: %s",
                   model_config.path_in(train_dir), flags)
  if chief:
    model_config.save(train_dir, flags)
  return flags


def build(flags):
  """(model, loss_fn) for a resolved model configuration."""
  cls = models.get_model_class(flags["model"])
  if cls.frame_level != bool(flags["frame_features"]):
    raise utils.Yt8mError(
        f"--model={flags['model']} reads "
        f"{'frame' if cls.frame_level else 'video'}-level features: "
        f"{'add' if cls.frame_level else 'drop'} --frame_features and set "
        "--feature_names/--feature_sizes to match")
  model_flags = {k: v for k, v in flags.items()
                 if k in models.MODEL_FLAGS}
  model = models.build_model(flags["model"], flags["num_classes"],
                             **model_flags)
  return model, losses.get_loss(flags["label_loss"])


def feature_size(flags):
  return sum(utils.parse_feature_flags(flags["feature_names"],
                                       flags["feature_sizes"])[1])


def _dataset_fn(config, flags):
  """Per-input-pipeline dataset: files sharded across workers."""
  reader = readers.get_reader(flags["frame_features"], flags["num_classes"],
                              flags["feature_names"], flags["feature_sizes"],
                              raw=True, segment_labels=config.segment_labels)

  def dataset_fn(context):
    return readers.make_dataset(
        reader, config.train_data_pattern, config.batch_size,
        num_epochs=config.num_epochs, shuffle=True,
        num_readers=config.num_readers, seed=config.seed,
        shard=(context.num_input_pipelines, context.input_pipeline_id),
        flag_name="--train_data_pattern")
  return dataset_fn


def _log_line(step, result, examples_per_sec, eta):
  line = (f"training step {step} | Loss: {result['label_loss']:.4f} "
          f"Examples/sec: {examples_per_sec:.1f}")
  if "gap" in result:
    line += (f" | Hit@1: {result['hit_at_one']:.4f} PERR: "
             f"{result['perr']:.4f} GAP: {result['gap']:.4f}")
  return line + (f" | ETA: {eta}" if eta else "")


def _eta(step, max_steps, steps_per_sec):
  if not max_steps or steps_per_sec <= 0:
    return ""
  seconds = int((max_steps - step) / steps_per_sec)
  return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s"


def _global_step(optimizer):
  """The optimizer's step count as a Python int.

  `int(optimizer.iterations)` fails under MirroredStrategy and
  MultiWorkerMirroredStrategy (Keras 3 cannot int() a MirroredVariable);
  `.numpy()` reads this worker's copy, without a collective.
  """
  return int(optimizer.iterations.numpy())


def train(config, strategy=None):
  """Trains until the data, --max_steps or --num_epochs run out.

  Returns:
    The final global step.
  """
  strategy = strategy or distribution.get_strategy(
      config.num_gpu, config.collective_timeout_secs)
  chief = distribution.is_chief(strategy)
  flags = _prepare_train_dir(warm_start.inherit_flags(config), chief)
  replicas = strategy.num_replicas_in_sync
  examples_per_step = config.batch_size * replicas
  logging.info("%d replica(s) x batch %d = %d examples per step", replicas,
               config.batch_size, examples_per_step)

  dataset = strategy.distribute_datasets_from_function(
      _dataset_fn(config, flags))
  with strategy.scope():
    model, loss_fn = build(flags)
    model.create_variables(feature_size(flags))
    schedule = ExamplesStaircase(config.base_learning_rate,
                                 config.learning_rate_decay,
                                 config.learning_rate_decay_examples,
                                 examples_per_step)
    optimizer = make_optimizer(config.optimizer, schedule)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
  out_dir = distribution.worker_dir(config.train_dir, strategy)
  manager = tf.train.CheckpointManager(
      checkpoint, out_dir, max_to_keep=config.max_checkpoints_to_keep)
  latest = tf.train.latest_checkpoint(config.train_dir)
  if latest and not config.start_new_model:
    checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("Restored %s at step %d", latest, _global_step(optimizer))
  elif warm_start.applies(config):
    warm_start.restore_weights(model, config)
  trainer = Trainer(model, loss_fn, optimizer, strategy,
                    config.regularization_penalty, config.clip_gradient_norm)
  writer = (tf.summary.create_file_writer(config.summary_dir or
                                          config.train_dir) if chief
            else tf.summary.create_noop_writer())

  step = _global_step(optimizer)
  last_save, last_time, last_step = time.time(), time.time(), step
  iterator = iter(dataset)
  try:
    while config.max_steps is None or step < config.max_steps:
      optional = iterator.get_next_as_optional()
      if not optional.has_value():
        break
      with_metrics = (step + 1) % LOG_METRICS_EVERY == 0
      result = trainer.step(optional.get_value(), with_metrics)
      step = _global_step(optimizer)

      now = time.time()
      steps_per_sec = (step - last_step) / max(now - last_time, 1e-9)
      last_time, last_step = now, step
      if with_metrics:
        metrics = eval_util.EvaluationMetrics(flags["num_classes"], 20)
        metrics.accumulate_summary(result, result["label_loss"])
        result.update(_batch_metrics(metrics.get()))
      logging.info(_log_line(step, result, steps_per_sec * examples_per_step,
                             _eta(step, config.max_steps, steps_per_sec)))
      if with_metrics:
        with writer.as_default(step=step):
          _write_train_summaries(result, schedule(step - 1),
                                 steps_per_sec * examples_per_step)

      if config.export_model_steps and step % config.export_model_steps == 0:
        manager.save(checkpoint_number=step)
        last_save = time.time()
        _export(model, flags, config.train_dir, step, strategy)
      elif time.time() - last_save >= config.save_checkpoint_secs:
        manager.save(checkpoint_number=step)
        last_save = time.time()
  finally:
    writer.flush()
  if manager.latest_checkpoint != os.path.join(out_dir, f"ckpt-{step}"):
    manager.save(checkpoint_number=step)
  logging.info("Done training: step %d, checkpoint %s", step,
               os.path.join(config.train_dir, f"ckpt-{step}"))
  if config.final_export_dir:
    out = distribution.worker_dir(config.final_export_dir, strategy)
    export.export_saved_model(model, flags, out)
    distribution.cleanup_worker_dir(out, strategy)
  distribution.cleanup_worker_dir(out_dir, strategy)
  return step


def _batch_metrics(values):
  return {"hit_at_one": values["avg_hit_at_one"], "perr": values["avg_perr"],
          "gap": values["gap"]}


def _write_train_summaries(result, learning_rate, examples_per_sec):
  tf.summary.scalar("learning_rate", learning_rate)
  tf.summary.scalar("label_loss", result["label_loss"])
  tf.summary.scalar("reg_loss", result["reg_loss"])
  tf.summary.scalar("model/Training_hit@1", result["hit_at_one"])
  tf.summary.scalar("model/Training_perr", result["perr"])
  tf.summary.scalar("model/Training_GAP", result["gap"])
  tf.summary.scalar("global_step/Examples/Second", examples_per_sec)


def _export(model, flags, train_dir, step, strategy):
  """SavedModel of the current weights in train_dir/export/step_N."""
  target = os.path.join(train_dir, "export", f"step_{step}")
  out = distribution.worker_dir(target, strategy)
  export.export_saved_model(model, flags, out)
  distribution.cleanup_worker_dir(out, strategy)
  logging.info("Exported %s", target)
