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

from youtube8m.common import progress
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import data_service
from youtube8m.data import readers
from youtube8m.data import segment_readers
from youtube8m.data import tfrecords
from youtube8m.evaluation import eval_util
from youtube8m.models import builders
from youtube8m.models import checkpoint_files
from youtube8m.models import checkpoints
from youtube8m.models import ema as ema_lib
from youtube8m.models import size as model_size
from youtube8m.serving import export
from youtube8m.training import distillation
from youtube8m.training import distribution
from youtube8m.training import preemption
from youtube8m.training import train_config
from youtube8m.training import run_files
from youtube8m.training import train_lock
from youtube8m.training import trainer as trainer_lib
from youtube8m.training import warm_start

# Every train.py setting (its own module: flags, help and checks).
TrainConfig = train_config.TrainConfig


def _dataset_fn(config, flags, num_epochs):
  """Per-input-pipeline dataset: files sharded across workers."""
  reader = builders.make_reader(
      flags, segment_labels=config.segment_labels,
      skip_nonfinite=config.skip_nonfinite_examples)
  service = (data_service.service_target(config.data_service_address,
                                         distribution.tf_config())
             if config.data_service_address else None)

  def dataset_fn(context):
    # With the data service, the hosts of a multi-worker run share one job.
    job = (data_service.job_name_for(config.train_dir)
           if service and context.num_input_pipelines > 1 else None)
    return readers.make_dataset(
        reader, config.train_data_pattern, config.batch_size,
        num_epochs=num_epochs, shuffle=True,
        num_readers=config.num_readers, seed=config.seed,
        shard=(context.num_input_pipelines, context.input_pipeline_id),
        flag_name="--train_data_pattern", data_service=service,
        job_name=job)
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
  # With --segment_labels the examples are the rated segments, not videos.
  size = (segment_readers.count_rated_segments(files) if config.segment_labels
          else tfrecords.count_records(files))
  if size == 0:
    raise utils.Yt8mError(
        f"--train_data_pattern={config.train_data_pattern}: the "
        f"{len(files)} file(s) hold no "
        f"{'rated segment' if config.segment_labels else 'record'}")
  return num_epochs, size


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
  if not tf.io.gfile.exists(config.train_dir):
    # The lock below makes train_dir: a model that cannot read this data
    # (or does not exist) must fail first and leave nothing behind.
    builders.model_class(run_files.resolve_flags(
        warm_start.inherit_flags(config)))
  tf.debugging.set_log_device_placement(config.log_device_placement)
  if config.seed is not None:
    keras.utils.set_random_seed(config.seed)
  strategy = strategy or distribution.get_strategy(
      config.num_gpu, config.collective_timeout_secs)
  chief = distribution.is_chief(strategy)
  lock = train_lock.TrainDirLock(config.train_dir, config.lock_stale_secs)
  # SIGTERM/SIGINT/SIGHUP: save the current step, release the lock, stop.
  with preemption.Stopper() as stopper:
    if chief:
      lock.acquire()
    try:
      if chief:
        run_files.remove_leftovers(config.train_dir)
      return _train(config, strategy, chief, lock, stopper)
    finally:
      lock.release()


def _train(config, strategy, chief, lock, stopper):
  """train()'s body, with the train_dir lock held by the chief.

  The recipe: plan the run, build the model and optimizer (a bad --model
  fails here, before anything is written), prepare train_dir, restore or
  warm-start, loop, then save and export the final state.
  """
  plan = _plan(config, strategy)
  run = _build(config, strategy, plan.flags)
  if chief:
    run_files.prepare(config, plan.flags)
  model_size.report(run.model, config.train_dir, chief)
  saver = _Saver(run, config, strategy, lock, stopper)
  latest = _restore(run, config)
  step = _global_step(run.optimizer)
  total, reason = progress.planned_steps(plan.num_epochs, plan.epoch_size,
                                         plan.examples_per_step,
                                         config.max_steps)
  logging.info("Training from step %d to step %s (%s)%s", step,
               total or "?", reason, f"; {plan.epoch_size} examples per "
               "epoch" if plan.epoch_size else "")
  if total is not None and step > total:
    # Epochs count from the train_dir's step 0, so a video-level train_dir
    # continued on (smaller) segment data can be past them already.
    logging.warning("Nothing to train: %s is at step %d, past the %d steps "
                    "of %s; raise it (--num_epochs=0 lets --max_steps "
                    "alone decide)", config.train_dir, step, total,
                    reason.split(";")[0])
  # A known epoch size lets the data repeat and the step count decide, so
  # a restarted run ends where an uninterrupted one would.
  dataset = strategy.distribute_datasets_from_function(_dataset_fn(
      config, plan.flags, None if plan.epoch_size else plan.num_epochs))
  writer = (tf.summary.create_file_writer(config.summary_dir or
                                          config.train_dir) if chief
            else tf.summary.create_noop_writer())
  try:
    step, skipped = _loop(config, plan, run, saver, writer, dataset, step,
                          total, first_run=not latest)
  finally:
    writer.flush()
  saver.save_final(step)
  if saver.stop_requested():
    stopper.stop(step, saver.latest)
  logging.info("Done training: step %d, checkpoint %s%s", step,
               os.path.join(config.train_dir, f"ckpt-{step}"),
               f"; {skipped} videos with non-finite features skipped"
               if skipped else "")
  if config.final_export_dir:
    _export(run.serving_model, plan.flags, config.final_export_dir, strategy)
  distribution.cleanup_worker_dir(saver.out_dir, strategy)
  return step


@dataclasses.dataclass
class _Plan:
  """What a run trains: its model configuration and how many examples."""
  flags: dict
  num_epochs: object  # int or None
  epoch_size: object  # records per epoch, or None when not counted
  examples_per_step: int


def _plan(config, strategy):
  """The run's _Plan; reads model_flags.json and counts records."""
  replicas = strategy.num_replicas_in_sync
  examples_per_step = config.batch_size * replicas
  num_epochs, epoch_size = _epoch_plan(config)
  flags = run_files.resolve_flags(warm_start.inherit_flags(config))
  logging.info("%d replica(s) x batch %d = %d examples per step", replicas,
               config.batch_size, examples_per_step)
  return _Plan(flags, num_epochs, epoch_size, examples_per_step)


@dataclasses.dataclass
class _Run:
  """The objects a run trains: built once, under the strategy's scope."""
  model: object
  ema: object  # ema_lib.WeightAverage or None
  schedule: object
  optimizer: object
  checkpoint: object
  trainer: object

  @property
  def serving_model(self):
    """What exports hold: the averaged weights under --ema_decay."""
    return self.model if self.ema is None else self.ema.shadow


def _build(config, strategy, flags):
  """_Run of a run: model, weight average, optimizer, checkpoint, step."""
  with strategy.scope(), trainer_lib.precision_policy(config.mixed_precision):
    model, loss_fn = builders.build_model(flags)
    ema = ema_lib.WeightAverage.create(  # None without --ema_decay
        config.ema_decay, model, lambda: builders.build_model(flags)[0])
    schedule = trainer_lib.ExamplesStaircase(
        config.base_learning_rate, config.learning_rate_decay,
        config.learning_rate_decay_examples,
        config.batch_size * strategy.num_replicas_in_sync)
    optimizer = trainer_lib.make_optimizer(config.optimizer, schedule,
                                           config.mixed_precision)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
  trainer = trainer_lib.Trainer(model, loss_fn, optimizer, strategy,
                                config.regularization_penalty,
                                config.clip_gradient_norm, ema=ema)
  trainer = distillation.wrap(trainer, config, flags)  # with --teacher
  return _Run(model, ema, schedule, optimizer, checkpoint, trainer)


def _restore(run, config):
  """Resumes from train_dir's latest checkpoint, or warm-starts a new run.

  Returns the checkpoint resumed from, or None.
  """
  latest = None if config.start_new_model else checkpoint_files.find_latest(
      config.train_dir)
  if latest:
    checkpoints.restore_checkpoint(run.checkpoint, latest)
    logging.info("Restored %s at step %d", latest,
                 _global_step(run.optimizer))
  elif warm_start.applies(config):
    warm_start.restore_weights(run.model, config)
  if run.ema is not None:  # the average starts from (or resumes) these weights
    run.ema.attach(run.checkpoint, latest)
  return latest


class _Saver:
  """When to checkpoint and export: every --export_model_steps steps (with
  a SavedModel), every --save_checkpoint_secs, and at the end."""

  def __init__(self, run, config, strategy, lock, stopper=None):
    self.run, self.config, self.strategy, self.lock = (run, config, strategy,
                                                       lock)
    self.stopper = stopper
    self.out_dir = distribution.worker_dir(config.train_dir, strategy)
    # Literal names, unlike tf.train.CheckpointManager's globs.
    self.manager = checkpoint_files.Writer(
        run.checkpoint, self.out_dir,
        max_to_keep=config.max_checkpoints_to_keep)
    self.last_save = time.time()

  @property
  def latest(self):
    return self.manager.latest_checkpoint

  def save(self, step):
    self.manager.save(checkpoint_number=step)
    self.last_save = time.time()
    self.lock.refresh(force=True)

  def after_step(self, step, flags):
    """Saves (and exports) when one is due; else keeps the lock fresh."""
    config = self.config
    if config.export_model_steps and step % config.export_model_steps == 0:
      self.save(step)
      target = os.path.join(config.train_dir, "export", f"step_{step}")
      _export(self.run.serving_model, flags, target, self.strategy)
    elif time.time() - self.last_save >= config.save_checkpoint_secs:
      self.save(step)
    else:
      self.lock.refresh()

  def stop_requested(self):
    """Whether a signal asked training to stop (preemption.Stopper)."""
    return self.stopper is not None and self.stopper.requested(self.strategy)

  def save_final(self, step):
    """Saves `step` unless its checkpoint is the newest already."""
    if self.latest != os.path.join(self.out_dir, f"ckpt-{step}"):
      self.save(step)


def _loop(config, plan, run, saver, writer, dataset, step, total, first_run):
  """Steps until `total` (or the data's end); returns (step, videos skipped).

  Each step: train, stop on a non-finite loss before anything of it is
  saved, count skipped videos, log every --log_every_steps, save when due.
  """
  meter = progress.Progress(total, step, plan.examples_per_step)
  iterator, skipped = iter(dataset), 0
  while (total is None or step < total) and not saver.stop_requested():
    optional = iterator.get_next_as_optional()
    if not optional.has_value():
      if step == 0 and first_run:
        raise utils.Yt8mError(
            f"--train_data_pattern={config.train_data_pattern}: no "
            "training example (empty files, or every video skipped)")
      break
    batch = optional.get_value()
    with_metrics = (step + 1) % config.log_every_steps == 0
    result = run.trainer.step(batch, with_metrics)
    _check_finite(result, batch, step + 1, run.trainer.strategy,
                  saver.latest)
    step = _global_step(run.optimizer)
    meter.update(step)
    if config.skip_nonfinite_examples and "num_skipped" in batch:
      skipped += sum(int(v) for v in
                     run.trainer.strategy.experimental_local_results(
                         batch["num_skipped"]))
    if with_metrics:
      _log_step(result, plan, run, meter, writer, step, skipped)
    saver.after_step(step, plan.flags)
  return step, skipped


def _log_step(result, plan, run, meter, writer, step, skipped):
  """The step's log line (batch Hit@1, PERR, GAP) and summaries."""
  metrics = eval_util.EvaluationMetrics(plan.flags["num_classes"], 20)
  metrics.accumulate_summary(result, result["label_loss"])
  result.update(_batch_metrics(metrics.get()))
  logging.info("%s%s", _log_line(result, meter.describe()),
               f" | skipped {skipped} non-finite videos" if skipped else "")
  with writer.as_default(step=step):
    _write_train_summaries(result, run.schedule(step - 1),
                           (meter.rate or 0) * plan.examples_per_step)


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


def _export(model, flags, target, strategy):
  """SavedModel of the model's current weights in `target`."""
  out = distribution.worker_dir(target, strategy)
  export.export_saved_model(model, flags, out)
  distribution.cleanup_worker_dir(out, strategy)
  logging.info("Exported %s", target)
