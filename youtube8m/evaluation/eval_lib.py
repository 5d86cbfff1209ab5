"""The evaluator, and eval.py's loop over new checkpoints.

`Evaluator` is the one object that computes validation metrics: eval.py
runs it on every new checkpoint, and so can anything else holding a model.
Evaluation is deterministic: files are read in a fixed order and models
never sample frames at random outside training.
"""

import dataclasses
import os
import time

from absl import logging
import tensorflow as tf

from youtube8m.common import progress
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.data import data_service
from youtube8m.data import readers
from youtube8m.data import tfrecords
from youtube8m.evaluation import eval_config
from youtube8m.evaluation import eval_report
from youtube8m.evaluation import eval_util
from youtube8m.models import builders
from youtube8m.models import checkpoint_files
from youtube8m.models import checkpoints
from youtube8m.models import forward
from youtube8m.models import memory
from youtube8m.models import model_config

DEFAULT_BATCH_SIZE = eval_config.DEFAULT_BATCH_SIZE  # the seed's 1024
PROGRESS_SECS = 15  # at least one progress line this often between batches
HEARTBEAT_SECS = 30  # a line while one batch runs longer than this


class Evaluator:
  """Runs a model over a dataset and returns YouTube-8M metrics.

  The evaluators (this one, segment_eval.SegmentEvaluator) share one
  interface: `from_config(config, flags)` builds one for eval.py,
  `run(global_step)` returns a metrics dict, `summarize(metrics, step,
  writer, checkpoint)` logs it and writes TensorBoard scalars, and
  `SUMMARY_SUBDIR` names train_dir's subdirectory for those scalars.

  Args:
    model: a youtube8m BaseModel (variables created).
    loss_fn: a youtube8m.models.losses loss.
    dataset_fn: () -> tf.data.Dataset of reader batches (a new pass each call).
    num_classes, top_k: metric settings (top_k 20 is the Kaggle GAP@20).
    log_every: batches between progress lines.
    vocabulary_file, report_file: label names and the HTML page for
      eval_report (figures; "" for the shipped vocabulary / no page).
    num_examples: videos in one pass, if known, for the progress lines.
    report_info: an eval_report.ReportInfo (model, train_dir, data) for the
      report's page; summarize adds the checkpoint.
    xla: compile the model and loss with XLA (--xla; unless the model opts
      out).
  """

  def __init__(self, model, loss_fn, dataset_fn, num_classes, top_k=20,
               log_every=10, vocabulary_file="", report_file="",
               num_examples=None, report_info=None, xla=False):
    self.model, self.loss_fn, self.dataset_fn = model, loss_fn, dataset_fn
    self.metrics = eval_util.EvaluationMetrics(num_classes, top_k)
    self.top_k, self.log_every = top_k, log_every
    self.vocabulary_file, self.report_file = vocabulary_file, report_file
    self.num_examples = num_examples  # for progress lines; None: unknown
    self.report_info = report_info or eval_report.ReportInfo()
    # The model and loss (compiled with XLA on request); the top-k summary
    # has a batch-dependent depth, so it runs outside XLA.
    self._forward = forward.compile_forward(model, self._predict_and_loss,
                                            xla)
    # One batch -> its top-k summary and loss (public for the benchmarks).
    self.step = tf.function(self._eval_step)

  SUMMARY_SUBDIR = "eval"

  @classmethod
  def from_config(cls, config, flags):
    """(evaluator, checkpoint of its model) for an EvalConfig."""
    if config.top_k > flags["num_classes"]:
      raise utils.Yt8mError(
          f"--top_k={config.top_k} is more than the model's "
          f"{flags['num_classes']} classes")
    model, loss_fn, dataset_fn = model_and_data(config, flags)
    return (cls(model, loss_fn, dataset_fn, flags["num_classes"],
                config.top_k, vocabulary_file=config.vocabulary_file,
                report_file=config.report_file,
                num_examples=tfrecords.count_records(tfrecords.list_files(
                    config.eval_data_pattern, "--eval_data_pattern")),
                report_info=eval_report.ReportInfo(
                    model=flags["model"], train_dir=config.train_dir,
                    data=config.eval_data_pattern), xla=config.xla),
            tf.train.Checkpoint(model=model))

  def summarize(self, metrics, global_step, writer=None, checkpoint=""):
    """Logs, TensorBoard and the report; checkpoint: the path evaluated."""
    log_and_summarize(metrics, global_step, writer)
    # Figures from the pooled top-k entries of the run that gave `metrics`.
    eval_report.summarize(
        self.metrics, metrics, global_step, writer, self.vocabulary_file,
        self.report_file,
        dataclasses.replace(self.report_info, checkpoint=checkpoint))

  def _predict_and_loss(self, batch):
    """(predictions float32 [B, C], the batch's mean loss)."""
    predictions = tf.cast(self.model(batch, training=False)["predictions"],
                          tf.float32)
    loss = self.loss_fn.calculate_loss(
        predictions, batch["labels"], label_weights=batch.get("label_weights"))
    return predictions, loss

  def _eval_step(self, batch):
    predictions, loss = self._forward(forward.numeric(batch))
    # Only [batch, top_k] arrays go to the host.
    summary = eval_util.top_k_summary(predictions, batch["labels"], self.top_k)
    summary["loss"] = loss
    return summary

  def run(self, global_step=0):
    """One pass over the data; returns the metrics dict of EvaluationMetrics.

    A progress line follows the first batch, every `log_every` batches and
    any batch ending PROGRESS_SECS after the last line; while a batch runs
    longer than HEARTBEAT_SECS, a line says so.
    """
    self.metrics.clear()
    state = {"examples": 0, "batch": 0, "logged": time.monotonic(),
             "logged_batch": 0}
    start = time.time()
    meter = progress.Progress(self.num_examples)
    meter.update(0)
    batch_metrics = None
    total = f"/{self.num_examples}" if self.num_examples else ""

    def log_batch():
      rate = state["examples"] / max(time.time() - start, 1e-9)
      eta = meter.eta_seconds()
      logging.info(
          "examples_processed: %d%s | global_step %d | Batch Hit@1: %.3f | "
          "Batch PERR: %.3f | Batch Loss: %.3f | Examples_per_sec: %.3f%s",
          state["examples"], total, global_step, batch_metrics["hit_at_one"],
          batch_metrics["perr"], batch_metrics["loss"], rate,
          f" | ETA {progress.format_duration(eta)}" if eta else "")
      state["logged"], state["logged_batch"] = time.monotonic(), state["batch"]
      heartbeat.touch()

    def still_running(seconds):
      logging.info("examples_processed: %d%s | global_step %d | batch %d "
                   "still running after %.0f s%s", state["examples"], total,
                   global_step, state["batch"] + 1, seconds,
                   " (the first batch also compiles the model)"
                   if not state["batch"] else "")

    with progress.Heartbeat(HEARTBEAT_SECS, still_running) as heartbeat:
      for n, batch in enumerate(self.dataset_fn(), 1):
        summary = {k: v.numpy() for k, v in self.step(batch).items()}
        loss = float(summary.pop("loss"))
        batch_metrics = self.metrics.accumulate_summary(summary, loss)
        state["examples"] += len(summary["hit_at_one"])
        state["batch"] = n
        meter.update(state["examples"])
        if (n == 1 or n % self.log_every == 0 or
            time.monotonic() - state["logged"] >= PROGRESS_SECS):
          log_batch()
        else:
          heartbeat.touch()
      if state["examples"] and state["logged_batch"] != state["batch"]:
        log_batch()  # the last batch, so the count ends at the total
    if state["examples"] == 0:
      raise utils.Yt8mError("the evaluation data holds no example")
    return self.metrics.get()


def log_and_summarize(metrics, global_step, writer=None, prefix=""):
  """The seed's per-pass log line, and the TensorBoard scalars."""
  logging.info(
      "epoch/eval number %d | Avg_Hit@1: %.3f | Avg_PERR: %.3f | MAP: %.3f | "
      "GAP: %.3f | Avg_Loss: %f | num_classes: %d", global_step,
      metrics["avg_hit_at_one"], metrics["avg_perr"], metrics["map"],
      metrics["gap"], metrics["avg_loss"],
      metrics["num_classes_with_positives"])
  if writer is not None:
    with writer.as_default(step=global_step):
      for name, key in [("Avg_Hit@1", "avg_hit_at_one"),
                        ("Avg_PERR", "avg_perr"), ("MAP", "map"),
                        ("GAP", "gap"), ("Avg_Loss", "avg_loss")]:
        tf.summary.scalar(prefix + name, metrics[key])
    writer.flush()


# eval.py's settings, in eval_config.py (no TensorFlow there: the command
# checks them before TensorFlow loads).
EvalConfig = eval_config.EvalConfig


def model_and_data(config, flags, segment_labels=False):
  """(model, loss_fn, dataset_fn) for evaluating a model configuration."""
  model, loss_fn = builders.build_model(flags)
  reader = builders.make_reader(flags, segment_labels=segment_labels)
  tfrecords.list_files(config.eval_data_pattern, "--eval_data_pattern")
  # Segments are 5 frames each: only whole frame-level videos are sized.
  batch_size, message = memory.choose_batch_size(
      config.batch_size, DEFAULT_BATCH_SIZE,
      None if segment_labels else model, flags, config.memory_budget_gb)
  if message:
    (logging.warning if config.batch_size else logging.info)("%s", message)

  service = (data_service.service_target(config.data_service_address)
             if config.data_service_address else None)

  def dataset_fn():
    return readers.make_dataset(reader, config.eval_data_pattern,
                                batch_size, num_epochs=1, shuffle=False,
                                num_readers=config.num_readers,
                                flag_name="--eval_data_pattern",
                                data_service=service)
  return model, loss_fn, dataset_fn


def _wait_for_training(config):
  """Waits (up to --eval_timeout_secs) for train.py to write model_flags.json:
  eval.py may start before training does."""
  path = model_config.path_in(config.train_dir)
  start = time.time()
  logged = False
  while not tf.io.gfile.exists(path):
    if (config.eval_timeout_secs is not None and
        time.time() - start > config.eval_timeout_secs):
      raise utils.Yt8mError(
          f"no training started in --train_dir={config.train_dir} within "
          f"--eval_timeout_secs={config.eval_timeout_secs:g} ({path} not "
          "found)")
    if not logged:
      logging.info("Waiting for training to start in %s", config.train_dir)
      logged = True
    time.sleep(config.eval_poll_secs)


def evaluate(config, evaluator_class=Evaluator):
  """Evaluates each new checkpoint of train_dir once; returns last metrics.

  Args:
    config: an EvalConfig.
    evaluator_class: Evaluator, or segment_eval.SegmentEvaluator for the
      2019 segment task (eval.py --segment_labels chooses).
  """
  settings.validate(config)
  if not config.run_once:
    _wait_for_training(config)
  flags, _ = model_config.resolve(config.train_dir, config.model_flags,
                                  set(config.explicit_flags))
  if config.vocabulary_file:  # read now, not after the first pass
    try:
      eval_report.label_names(config.vocabulary_file, flags["num_classes"])
    except utils.Yt8mError as e:
      raise utils.Yt8mError(f"--vocabulary_file: {e}") from e
  evaluator, checkpoint = evaluator_class.from_config(config, flags)
  if config.report_file and not hasattr(evaluator, "report_file"):
    logging.warning("--report_file: %s writes no report (video level only)",
                    evaluator_class.__name__)
  # Each evaluator has its own summaries, so video- and segment-level eval
  # can run side by side.
  summary_dir = (config.eval_summary_dir or
                 os.path.join(config.train_dir, evaluator_class.SUMMARY_SUBDIR))
  try:
    writer = tf.summary.create_file_writer(summary_dir)
  except (OSError, tf.errors.OpError) as e:
    raise utils.Yt8mError(
        f"cannot write the TensorBoard summaries to {summary_dir} "
        f"({utils.os_reason(e)}); give a writable --eval_summary_dir (a "
        "read-only --train_dir is fine then)") from e
  if config.run_once:
    paths = [checkpoints.latest_checkpoint(config.train_dir)]
  else:
    # Sleeps between polls (the original busy-polled); yields each new
    # checkpoint once and stops after eval_timeout_secs without one.
    paths = checkpoint_files.iterate(
        config.train_dir, min_interval_secs=config.eval_poll_secs,
        timeout=config.eval_timeout_secs)
  metrics = None
  for path in paths:
    step = checkpoints.checkpoint_step(path)
    if not tf.io.gfile.exists(path + ".index"):
      logging.warning("%s disappeared before it was read (a newer one "
                      "replaced it); waiting for the next", path)
      continue
    # The averaged weights when training kept them (--ema_decay).
    checkpoints.restore_model(checkpoint.model, path)
    logging.info("Evaluating %s (global step %d)", path, step)
    metrics = evaluator.run(step)
    evaluator.summarize(metrics, step, writer, checkpoint=path)
  if metrics is None:
    logging.info("No new checkpoint within %s s; stopping",
                 config.eval_timeout_secs)
  return metrics
