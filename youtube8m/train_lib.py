"""The training loop: a custom TF2 loop under a tf.distribute strategy.

Read `train()` top to bottom: strategy, configuration, data, model and
optimizer, restore, then the loop (step, log, summaries, checkpoint, export).
The seed's semantics are kept: each replica gets a full --batch_size, the
replicas' gradients are summed, then each gradient tensor is clipped, and the
learning rate decays in a staircase counted in examples.
"""

import os
import time

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from youtube8m import builders
from youtube8m import distribution
from youtube8m import ema as ema_lib
from youtube8m import eval_util
from youtube8m import export
from youtube8m import model_config
from youtube8m import model_size
from youtube8m import outputs
from youtube8m import readers
from youtube8m import progress
from youtube8m import settings
from youtube8m import tfrecords
from youtube8m import train_config
from youtube8m import trainer as trainer_lib
from youtube8m import train_lock
from youtube8m import utils
from youtube8m import warm_start



# Every train.py setting (its own module: flags, help and checks).
TrainConfig = train_config.TrainConfig


def _resolve_flags(config):
  """The model configuration of this run: typed flags against train_dir's
  model_flags.json (writes nothing)."""
  if config.start_new_model:
    return model_config.normalize(config.model_flags)
  flags, from_file = model_config.resolve(
      config.train_dir, config.model_flags, set(config.explicit_flags),
      for_training=True)
  if from_file:
    logging.info("Model flags from %s: %s",
                 model_config.path_in(config.train_dir), flags)
  return flags


def _prepare_train_dir(config, flags):
  """Chief only, once the run is validated: starts afresh if asked, then
  saves model_flags.json."""
  train_dir = config.train_dir
  if config.start_new_model and tf.io.gfile.exists(train_dir):
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
  model_config.save(train_dir, flags)


def _dataset_fn(config, flags, num_epochs):
  """Per-input-pipeline dataset: files sharded across workers."""
  reader = builders.make_reader(
      flags, segment_labels=config.segment_labels,
      skip_nonfinite=config.skip_nonfinite_examples)

  def dataset_fn(context):
    return readers.make_dataset(
        reader, config.train_data_pattern, config.batch_size,
        num_epochs=num_epochs, shuffle=True,
        num_readers=config.num_readers, seed=config.seed,
        shard=(context.num_input_pipelines, context.input_pipeline_id),
        flag_name="--train_data_pattern")
  return dataset_fn


def _log_line(result, where):
  line = f"training {where} | Loss: {result['label_loss']:.4f}"
  if "gap" in result:
    line += (f" | Hit@1: {result['hit_at_one']:.4f} PERR: "
             f"{result['perr']:.4f} GAP: {result['gap']:.4f}")
  return line


def _check_finite(result, batch, step, strategy, latest):
  """Stops training on a NaN/inf loss, naming the batch's videos.

  Called before any checkpoint of the step's state is written, so the
  latest checkpoint on disk stays the last good state.
  """
  if np.isfinite(result["label_loss"]) and np.isfinite(result["reg_loss"]):
    return
  ids = [v.decode("utf-8", "replace") for part in
         strategy.experimental_local_results(batch["video_ids"])
         for v in part.numpy()]
  shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8
                                else "")
  raise utils.Yt8mError(
      f"step {step}: the loss is not finite (NaN or inf) on the batch of "
      f"videos {shown}; training stopped without saving this state (the "
      f"latest checkpoint is {latest or 'none'}). Lower "
      "--base_learning_rate or --clip_gradient_norm, or check those "
      "records")


def _global_step(optimizer):
  """The optimizer's step count as a Python int.

  `int(optimizer.iterations)` fails under MirroredStrategy and
  MultiWorkerMirroredStrategy (Keras 3 cannot int() a MirroredVariable);
  `.numpy()` reads this worker's copy, without a collective.
  """
  return int(optimizer.iterations.numpy())


def _epoch_plan(config):
  """(epochs for the dataset, epoch size or None) of a run.

  With --num_epochs and a known epoch size (records counted in local files,
  or learned by an earlier pass and kept in the checkpoint), the data
  repeats forever and the run stops at ceil(epochs * size / batch) steps:
  that step is the same after any number of restarts. Without a count
  (gs://) the dataset itself stops after the epochs, so a run restarted
  on gs:// data trains its epochs again from the restart.
  """
  num_epochs = config.num_epochs if config.num_epochs and (
      config.num_epochs > 0) else None
  files = tfrecords.list_files(config.train_data_pattern,
                               "--train_data_pattern")
  if num_epochs is None:
    return None, None
  size = tfrecords.count_records(files)
  if size == 0:
    raise utils.Yt8mError(
        f"--train_data_pattern={config.train_data_pattern}: the "
        f"{len(files)} file(s) hold no record")
  return num_epochs, size


def _remove_leftovers(train_dir):
  """Temporary outputs and half-written checkpoints of a killed run.

  Called with the train_dir lock held, so no other trainer is writing.
  """
  outputs.remove_stale(train_dir)
  if tf.io.gfile.isdir(train_dir):
    for name in tf.io.gfile.listdir(train_dir):
      name = name.rstrip("/")
      if name.startswith("ckpt-") and name.endswith("_temp"):
        logging.info("Removing %s, a checkpoint an interrupted run did not "
                     "finish", name)
        tf.io.gfile.rmtree(os.path.join(train_dir, name))


def train(config, strategy=None):
  """Trains until --max_steps, --num_epochs or the data run out.

  Returns:
    The final global step.
  """
  settings.validate(config)
  if (tf.io.gfile.exists(config.train_dir) and
      not tf.io.gfile.isdir(config.train_dir)):
    raise utils.Yt8mError(f"--train_dir={config.train_dir} is a file, not a "
                          "directory")
  tf.debugging.set_log_device_placement(config.log_device_placement)
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  strategy = strategy or distribution.get_strategy(
      config.num_gpu, config.collective_timeout_secs)
  chief = distribution.is_chief(strategy)
  lock = train_lock.TrainDirLock(config.train_dir, config.lock_stale_secs)
  if chief:
    lock.acquire()
  try:
    if chief:
      _remove_leftovers(config.train_dir)
    return _train(config, strategy, chief, lock)
  finally:
    lock.release()


def _train(config, strategy, chief, lock):
  """train()'s body, with the train_dir lock held by the chief."""
  replicas = strategy.num_replicas_in_sync
  examples_per_step = config.batch_size * replicas
  num_epochs, epoch_size = _epoch_plan(config)
  flags = _resolve_flags(warm_start.inherit_flags(config))
  logging.info("%d replica(s) x batch %d = %d examples per step", replicas,
               config.batch_size, examples_per_step)
  with strategy.scope(), trainer_lib.precision_policy(config.mixed_precision):
    # Built before anything is written: a bad --model or flag fails first.
    model, loss_fn = builders.build_model(flags)
    ema = ema_lib.WeightAverage.create(  # None without --ema_decay
        config.ema_decay, model, lambda: builders.build_model(flags)[0])
    schedule = trainer_lib.ExamplesStaircase(config.base_learning_rate,
                                 config.learning_rate_decay,
                                 config.learning_rate_decay_examples,
                                 examples_per_step)
    optimizer = trainer_lib.make_optimizer(config.optimizer, schedule,
                                           config.mixed_precision)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
  if chief:
    _prepare_train_dir(config, flags)
  model_size.report(model, config.train_dir, chief)
  out_dir = distribution.worker_dir(config.train_dir, strategy)
  manager = tf.train.CheckpointManager(
      checkpoint, out_dir, max_to_keep=config.max_checkpoints_to_keep)
  latest = tf.train.latest_checkpoint(config.train_dir)
  if latest and not config.start_new_model:
    builders.restore_checkpoint(checkpoint, latest)
    logging.info("Restored %s at step %d", latest, _global_step(optimizer))
  elif warm_start.applies(config):
    warm_start.restore_weights(model, config)
  if ema is not None:  # the average starts from (or resumes) these weights
    ema.attach(checkpoint, None if config.start_new_model else latest)
  serving_model = model if ema is None else ema.shadow  # what exports hold
  trainer = trainer_lib.Trainer(model, loss_fn, optimizer, strategy,
                    config.regularization_penalty, config.clip_gradient_norm,
                    ema=ema)
  writer = (tf.summary.create_file_writer(config.summary_dir or
                                          config.train_dir) if chief
            else tf.summary.create_noop_writer())

  step = _global_step(optimizer)
  total, reason = progress.planned_steps(num_epochs, epoch_size,
                                         examples_per_step, config.max_steps)
  logging.info("Training from step %d to step %s (%s)%s", step,
               total or "?", reason,
               f"; {epoch_size} examples per epoch" if epoch_size else "")
  # A known epoch size lets the data repeat and the step count decide, so
  # a restarted run ends where an uninterrupted one would.
  dataset = strategy.distribute_datasets_from_function(_dataset_fn(
      config, flags, None if epoch_size else num_epochs))
  meter = progress.Progress(total, step, examples_per_step)
  last_save, skipped = time.time(), 0
  iterator = iter(dataset)
  try:
    while total is None or step < total:
      optional = iterator.get_next_as_optional()
      if not optional.has_value():
        if step == 0 and not latest:
          raise utils.Yt8mError(
              f"--train_data_pattern={config.train_data_pattern}: no "
              "training example (empty files, or every video skipped)")
        break
      batch = optional.get_value()
      with_metrics = (step + 1) % config.log_every_steps == 0
      result = trainer.step(batch, with_metrics)
      _check_finite(result, batch, step + 1, strategy,
                    manager.latest_checkpoint)
      step = _global_step(optimizer)
      meter.update(step)
      if config.skip_nonfinite_examples and "num_skipped" in batch:
        skipped += sum(int(v) for v in strategy.experimental_local_results(
            batch["num_skipped"]))
      if with_metrics:
        metrics = eval_util.EvaluationMetrics(flags["num_classes"], 20)
        metrics.accumulate_summary(result, result["label_loss"])
        result.update(_batch_metrics(metrics.get()))
        logging.info("%s%s", _log_line(result, meter.describe()),
                     f" | skipped {skipped} non-finite videos" if skipped
                     else "")
        with writer.as_default(step=step):
          _write_train_summaries(result, schedule(step - 1),
                                 (meter.rate or 0) * examples_per_step)

      if config.export_model_steps and step % config.export_model_steps == 0:
        manager.save(checkpoint_number=step)
        last_save = time.time()
        lock.refresh(force=True)
        _export(serving_model, flags, config.train_dir, step, strategy)
      elif time.time() - last_save >= config.save_checkpoint_secs:
        manager.save(checkpoint_number=step)
        last_save = time.time()
        lock.refresh(force=True)
      else:
        lock.refresh()
  finally:
    writer.flush()
  if manager.latest_checkpoint != os.path.join(out_dir, f"ckpt-{step}"):
    manager.save(checkpoint_number=step)
  logging.info("Done training: step %d, checkpoint %s%s", step,
               os.path.join(config.train_dir, f"ckpt-{step}"),
               f"; {skipped} videos with non-finite features skipped"
               if skipped else "")
  if config.final_export_dir:
    out = distribution.worker_dir(config.final_export_dir, strategy)
    export.export_saved_model(serving_model, flags, out)
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
