r"""Evaluates checkpoints: `python eval.py --eval_data_pattern=... --train_dir=...`.

  python eval.py --eval_data_pattern='/data/video/validate*.tfrecord' \
      --train_dir=/tmp/yt8m_model/video_level_logistic --run_once

The model is rebuilt from train_dir/model_flags.json; model flags repeated
here (the 2017 command lines) must match it. Without --run_once it waits for
each new checkpoint and evaluates it once. With --segment_labels it scores
the rated 5-frame segments of 2019 records (segment_eval_lib.SegmentEvaluator).
Flags are checked before TensorFlow is imported.
"""

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.evaluation import eval_config
from youtube8m.models import model_config
from youtube8m.vertex import job_env

settings.define_flags(eval_config.EvalConfig)
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  config = model_config.from_flags(eval_config.EvalConfig)
  # TensorFlow loads here, once the command line has passed every check.
  # pylint: disable=g-import-not-at-top
  from youtube8m.evaluation import eval_lib
  from youtube8m.evaluation import segment_eval_lib
  evaluator = (segment_eval_lib.SegmentEvaluator if config.segment_labels
               else eval_lib.Evaluator)
  if not config.eval_summary_dir:
    config.eval_summary_dir = job_env.tensorboard_dir(evaluator.SUMMARY_SUBDIR)
  eval_lib.evaluate(config, evaluator)


if __name__ == "__main__":
  cli.run(main)
