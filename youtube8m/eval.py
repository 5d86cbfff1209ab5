r"""Evaluates checkpoints: `python eval.py --eval_data_pattern=... --train_dir=...`.

  python eval.py --eval_data_pattern='/data/video/validate*.tfrecord' \
      --train_dir=/tmp/yt8m_model/video_level_logistic --run_once

The model is rebuilt from train_dir/model_flags.json; model flags repeated
here (the 2017 command lines) must match it. Without --run_once it waits for
each new checkpoint and evaluates it once.
"""

import os

from absl import flags

from youtube8m import cli
from youtube8m import eval_lib

FLAGS = flags.FLAGS
_D = eval_lib.EvalConfig()

flags.DEFINE_string("train_dir", _D.train_dir,
                    "The training directory (checkpoints, model_flags.json).")
flags.DEFINE_string("eval_data_pattern", "",
                    "Glob of evaluation TFRecords (local or gs://).")
flags.DEFINE_integer("batch_size", _D.batch_size, "Examples per batch.")
flags.DEFINE_integer("num_readers", _D.num_readers, "Files read in parallel.")
flags.DEFINE_bool("run_once", _D.run_once,
                  "Evaluate the latest checkpoint once and exit.")
flags.DEFINE_integer("top_k", _D.top_k, "Predictions per video for GAP/mAP.")
flags.DEFINE_float("eval_poll_secs", _D.poll_secs,
                   "Seconds between looks for a new checkpoint.")
flags.DEFINE_float("eval_timeout_secs", None,
                   "Stop after this many seconds without a new checkpoint "
                   "(default: wait forever).")
flags.DEFINE_string("eval_summary_dir", None,
                    "Where TensorBoard scalars go (default: train_dir/eval, "
                    "or train_dir/eval_segments with --segment_labels).")
flags.DEFINE_bool("segment_labels", _D.segment_labels,
                  "Evaluate on the rated 5-frame segments of 2019 records: "
                  "segment MAP over the rated classes only.")
cli.define_model_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  if not FLAGS.eval_data_pattern:
    raise cli.UsageError("--eval_data_pattern is required")
  values, explicit = cli.model_flags_given()
  eval_lib.evaluate(eval_lib.EvalConfig(
      train_dir=FLAGS.train_dir, eval_data_pattern=FLAGS.eval_data_pattern,
      model_flags=values, explicit_flags=frozenset(explicit),
      batch_size=FLAGS.batch_size, num_readers=FLAGS.num_readers,
      run_once=FLAGS.run_once, top_k=FLAGS.top_k,
      poll_secs=FLAGS.eval_poll_secs, timeout_secs=FLAGS.eval_timeout_secs,
      summary_dir=FLAGS.eval_summary_dir or _vertex_summary_dir(),
      segment_labels=FLAGS.segment_labels))


def _vertex_summary_dir():
  """Vertex AI's TensorBoard directory (AIP_TENSORBOARD_LOG_DIR)/eval."""
  logs = os.environ.get("AIP_TENSORBOARD_LOG_DIR", "")
  subdir = (eval_lib.SEGMENT_SUMMARY_SUBDIR if FLAGS.segment_labels
            else "eval")
  return os.path.join(logs, subdir) if logs else None


if __name__ == "__main__":
  cli.run(main)
