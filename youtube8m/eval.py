r"""Evaluates checkpoints: `python eval.py --eval_data_pattern=... --train_dir=...`.

  python eval.py --eval_data_pattern='/data/video/validate*.tfrecord' \
      --train_dir=/tmp/yt8m_model/video_level_logistic --run_once

The model is rebuilt from train_dir/model_flags.json; model flags repeated
here (the 2017 command lines) must match it. Without --run_once it waits for
each new checkpoint and evaluates it once. With --segment_labels it scores
the rated 5-frame segments of 2019 records (segment_eval_lib.SegmentEvaluator).
"""

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import segment_eval_lib
from youtube8m.models import model_config
from youtube8m.vertex import job_env

FLAGS = flags.FLAGS
settings.define_flags(eval_lib.EvalConfig)
flags.DEFINE_bool("segment_labels", False,
                  "Evaluate on the rated 5-frame segments of 2019 records: "
                  "segment MAP over the rated classes only.")
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  if not FLAGS.eval_data_pattern:
    raise cli.UsageError("--eval_data_pattern is required")
  evaluator = (segment_eval_lib.SegmentEvaluator if FLAGS.segment_labels
               else eval_lib.Evaluator)
  values, explicit = model_config.flags_given()
  eval_lib.evaluate(settings.from_flags(
      eval_lib.EvalConfig, model_flags=values,
      explicit_flags=frozenset(explicit),
      eval_summary_dir=(FLAGS.eval_summary_dir or
                        job_env.tensorboard_dir(evaluator.SUMMARY_SUBDIR))),
      evaluator)


if __name__ == "__main__":
  cli.run(main)
