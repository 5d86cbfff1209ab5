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

from youtube8m import eval_util
from youtube8m import model_config
from youtube8m import readers
from youtube8m import tfrecords
from youtube8m import train_lib
from youtube8m import utils

SEGMENT_SUMMARY_SUBDIR = "eval_segments"  # eval.py --segment_labels


class Evaluator:
  """Runs a model over a dataset and returns YouTube-8M metrics.

  Args:
    model: a youtube8m BaseModel (variables created).
    loss_fn: a youtube8m.losses loss.
    dataset_fn: () -> tf.data.Dataset of reader batches (a new pass each call).
    num_classes, top_k: metric settings (top_k 20 is the Kaggle GAP@20).
    log_every: batches between progress lines.
  """

  def __init__(self, model, loss_fn, dataset_fn, num_classes, top_k=20,
               log_every=10):
    self.model, self.loss_fn, self.dataset_fn = model, loss_fn, dataset_fn
    self.metrics = eval_util.EvaluationMetrics(num_classes, top_k)
    self.top_k, self.log_every = top_k, log_every
    self._step = tf.function(self._eval_step)

  def _eval_step(self, batch):
    predictions = self.model(batch, training=False)["predictions"]
    loss = self.loss_fn.calculate_loss(
        predictions, batch["labels"], label_weights=batch.get("label_weights"))
    # Only [batch, top_k] arrays go to the host.
    summary = eval_util.top_k_summary(predictions, batch["labels"], self.top_k)
    summary["loss"] = loss
    return summary

  def run(self, global_step=0):
    """One pass over the data; returns the metrics dict of EvaluationMetrics."""
    self.metrics.clear()
    examples, start = 0, time.time()
    for n, batch in enumerate(self.dataset_fn(), 1):
      summary = {k: v.numpy() for k, v in self._step(batch).items()}
      loss = float(summary.pop("loss"))
      batch_metrics = self.metrics.accumulate_summary(summary, loss)
      examples += len(summary["hit_at_one"])
      if n % self.log_every == 0:
        logging.info(
            "examples_processed: %d | global_step %d | Batch Hit@1: %.3f | "
            "Batch PERR: %.3f | Batch Loss: %.3f | Examples_per_sec: %.3f",
            examples, global_step, batch_metrics["hit_at_one"],
            batch_metrics["perr"], batch_metrics["loss"],
            examples / max(time.time() - start, 1e-9))
    if examples == 0:
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


@dataclasses.dataclass
class EvalConfig:
  train_dir: str = "/tmp/yt8m_model/"
  eval_data_pattern: str = ""
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
  batch_size: int = 1024
  num_readers: int = 8
  run_once: bool = False
  top_k: int = 20
  poll_secs: float = 30
  timeout_secs: float = None  # None: wait for checkpoints forever
  summary_dir: str = None  # default train_dir/eval (eval_segments)
  segment_labels: bool = False  # score rated 5-frame segments (segment_eval)


def model_and_data(config, flags, segment_labels=False):
  """(model, loss_fn, dataset_fn) for evaluating a model configuration."""
  model, loss_fn = train_lib.build(flags)
  model.create_variables(train_lib.feature_size(flags))
  reader = readers.get_reader(flags["frame_features"], flags["num_classes"],
                              flags["feature_names"], flags["feature_sizes"],
                              raw=True, segment_labels=segment_labels)
  tfrecords.list_files(config.eval_data_pattern, "--eval_data_pattern")

  def dataset_fn():
    return readers.make_dataset(reader, config.eval_data_pattern,
                                config.batch_size, num_epochs=1, shuffle=False,
                                num_readers=config.num_readers,
                                flag_name="--eval_data_pattern")
  return model, loss_fn, dataset_fn


def build_evaluator(config, flags):
  """(model, checkpoint, evaluator) for a resolved model configuration."""
  model, loss_fn, dataset_fn = model_and_data(config, flags)
  evaluator = Evaluator(model, loss_fn, dataset_fn, flags["num_classes"],
                        config.top_k)
  return model, tf.train.Checkpoint(model=model), evaluator


def checkpoint_step(path):
  """The global step in a checkpoint prefix such as .../ckpt-1000."""
  try:
    return int(os.path.basename(path).rsplit("-", 1)[1])
  except (IndexError, ValueError):
    return 0


def evaluate(config):
  """Evaluates each new checkpoint of train_dir once; returns last metrics."""
  flags, _ = model_config.resolve(config.train_dir, config.model_flags,
                                  set(config.explicit_flags))
  build, summarize, subdir = build_evaluator, log_and_summarize, "eval"
  if config.segment_labels:
    # Its own summaries, so video- and segment-level eval run side by side.
    from youtube8m import segment_eval  # pylint: disable=g-import-not-at-top
    build = segment_eval.build_evaluator
    summarize = segment_eval.log_and_summarize
    subdir = SEGMENT_SUMMARY_SUBDIR
  _, checkpoint, evaluator = build(config, flags)
  writer = tf.summary.create_file_writer(
      config.summary_dir or os.path.join(config.train_dir, subdir))
  if config.run_once:
    latest = tf.train.latest_checkpoint(config.train_dir)
    if not latest:
      raise utils.Yt8mError(f"no checkpoint in --train_dir={config.train_dir}")
    paths = [latest]
  else:
    # Sleeps between polls (the original busy-polled); yields each new
    # checkpoint once and stops after timeout_secs without one.
    paths = tf.train.checkpoints_iterator(
        config.train_dir, min_interval_secs=config.poll_secs,
        timeout=config.timeout_secs)
  metrics = None
  for path in paths:
    step = checkpoint_step(path)
    try:
      checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except tf.errors.NotFoundError:
      logging.warning("%s disappeared before it was read (a newer one "
                      "replaced it); waiting for the next", path)
      continue
    logging.info("Evaluating %s (global step %d)", path, step)
    metrics = evaluator.run(step)
    summarize(metrics, step, writer)
  if metrics is None:
    logging.info("No new checkpoint within %s s; stopping",
                 config.timeout_secs)
  return metrics

