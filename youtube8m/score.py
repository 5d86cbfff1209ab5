r"""A local Kaggle scorer: a predictions CSV against the ground truth.

Video level (2017/2018), the CSV inference.py writes:

  python -m youtube8m.score --predictions=predictions.csv \
      --labels=validate_labels.csv [--top_k=20] [--report_file=score.html]

prints GAP@top_k, Hit@1, PERR and MAP (over the classes with positives) in
one line, then one JSON line. The metrics are eval_util's, so they equal
eval.py's on the same videos (score_lib.py has the rules).

Segment level (2019): the `Class,Segments` file against rated records, MAP@N
by segment_eval_lib's scorer (the one way to score a segment submission;
`python -m youtube8m.segment_eval` is its alias with the old flag names):

  python -m youtube8m.score --segment_labels --predictions=segments.csv \
      --labels='/data/segment/validate*.tfrecord' [--top_n=100000]
"""

import json

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.evaluation import score_config


def define_flags():
  settings.define_flags(score_config.ScoreConfig)


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(score_config.ScoreConfig))
  # TensorFlow loads here, once the command line has passed every check.
  from youtube8m.evaluation import score_lib  # pylint: disable=g-import-not-at-top
  result = score_lib.score(config)
  print(score_lib.summary_line(result, config.segment_labels))
  print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
