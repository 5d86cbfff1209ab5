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
import tensorflow as tf

from youtube8m import builders
from youtube8m import distribution
from youtube8m import eval_util
from youtube8m import export
from youtube8m import model_config
from youtube8m import outputs
from youtube8m import readers
from youtube8m import settings
from youtube8m import trainer as trainer_lib
from youtube8m import warm_start

LOG_METRICS_EVERY = 10  # steps; the seed logged Hit@1/PERR/GAP every 10


@dataclasses.dataclass
class TrainConfig:
  """Every train.py setting, with the seed's flag names and defaults."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "Checkpoints, summaries, model_flags.json and "
      "exports.")
  train_data_pattern: str = settings.setting(
      "", "Glob of training TFRecords (local or gs://).")
  start_new_model: bool = settings.setting(
      False, "Remove this train_dir's checkpoints and start afresh.")
  num_gpu: int = settings.setting(
      None, "Most GPUs to use (default: every visible GPU).")
  batch_size: int = settings.setting(
      1024, "Examples per replica (each GPU gets a full batch).")
  regularization_penalty: float = settings.setting(
      1.0, "Weight of the regularization loss.")
  base_learning_rate: float = settings.setting(
      0.01, "Learning rate before decay.")
  learning_rate_decay: float = settings.setting(
      0.95, "Decay factor per --learning_rate_decay_examples.")
  learning_rate_decay_examples: int = settings.setting(
      4000000, "Examples between learning rate decays (staircase).")
  num_epochs: int = settings.setting(
      5, "Passes over the data (0 or less: no limit).")
  max_steps: int = settings.setting(None, "Stop after this many steps.")
  export_model_steps: int = settings.setting(
      1000, "Checkpoint and export every this many steps.")
  save_checkpoint_secs: float = settings.setting(
      600, "Also checkpoint after this many seconds.")
  num_readers: int = settings.setting(8, "Files read in parallel.")
  optimizer: str = settings.setting(
      "AdamOptimizer", "AdamOptimizer, AdagradOptimizer, MomentumOptimizer, "
      "GradientDescentOptimizer or RMSPropOptimizer.")
  clip_gradient_norm: float = settings.setting(
      1.0, "Clip each gradient tensor to this norm (<= 0: off).")
  log_device_placement: bool = settings.setting(
      False, "Log the device of every op.")
  seed: int = settings.setting(
      None, "Seed for shuffling and initialization.")
  collective_timeout_secs: float = settings.setting(
      distribution.DEFAULT_COLLECTIVE_TIMEOUT_SECS,
      "Multi-worker (TF_CONFIG) only: fail with an error when an all-reduce "
      "has waited this long for the other workers (<= 0: wait forever). A "
      "dead peer is detected sooner, by missed heartbeats; this catches a "
      "stuck one. Keep it above the longest checkpoint/export time.")
  segment_labels: bool = settings.setting(
      False, "Train on the rated 5-frame segments of 2019 frame-level "
      "records (segment_labels/segment_start_times/segment_scores); the "
      "loss counts only rated classes.")
  init_from_checkpoint: str = settings.setting(
      "", "Start this (new) train_dir from the model weights and "
      "model_flags.json of another train_dir or checkpoint prefix, e.g. to "
      "fine-tune a video-level model on segments (see warm_start.py). "
      "Ignored once train_dir has its own checkpoint.")
  max_checkpoints_to_keep: int = 5
  # model_flags.json content given on the command line, and the typed flags.
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
  summary_dir: str = ""  # TensorBoard scalars; default train_dir
  final_export_dir: str = ""  # a SavedModel written at the end (AIP_MODEL_DIR)


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


def _dataset_fn(config, flags):
  """Per-input-pipeline dataset: files sharded across workers."""
  reader = builders.make_reader(flags, segment_labels=config.segment_labels)

  def dataset_fn(context):
    return readers.make_dataset(
        reader, config.train_data_pattern, config.batch_size,
        num_epochs=(config.num_epochs if config.num_epochs and
                    config.num_epochs > 0 else None), shuffle=True,
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
  tf.debugging.set_log_device_placement(config.log_device_placement)
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  strategy = strategy or distribution.get_strategy(
      config.num_gpu, config.collective_timeout_secs)
  chief = distribution.is_chief(strategy)
  if chief:
    outputs.remove_stale(config.train_dir)
  flags = _prepare_train_dir(warm_start.inherit_flags(config), chief)
  replicas = strategy.num_replicas_in_sync
  examples_per_step = config.batch_size * replicas
  logging.info("%d replica(s) x batch %d = %d examples per step", replicas,
               config.batch_size, examples_per_step)

  dataset = strategy.distribute_datasets_from_function(
      _dataset_fn(config, flags))
  with strategy.scope():
    model, loss_fn = builders.build_model(flags)
    schedule = trainer_lib.ExamplesStaircase(config.base_learning_rate,
                                 config.learning_rate_decay,
                                 config.learning_rate_decay_examples,
                                 examples_per_step)
    optimizer = trainer_lib.make_optimizer(config.optimizer, schedule)
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
  trainer = trainer_lib.Trainer(model, loss_fn, optimizer, strategy,
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
