r"""Scores a 2019 `Class,Segments` submission: an alias of `score`.

  python -m youtube8m.segment_eval \
      --eval_data_pattern='/data/segment/validate*.tfrecord' \
      --submission_file=/tmp/segments.csv --top_n=100000

is `python -m youtube8m.score --segment_labels
--labels='/data/segment/validate*.tfrecord' --predictions=/tmp/segments.csv
--top_n=100000`, kept for scripts written against its flags. It prints only
score's JSON line: {"map": ..., "num_classes": ..., "top_n": ..., ...}. The
metric is described in youtube8m/evaluation/segment_eval_lib.py.
"""

import json

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.evaluation import score_config


def define_flags():
  settings.define_flags(score_config.SegmentEvalConfig)


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(
      score_config.SegmentEvalConfig)).score_config()
  # TensorFlow loads here, once the command line has passed every check.
  from youtube8m.evaluation import score_lib  # pylint: disable=g-import-not-at-top
  print(json.dumps(score_lib.score(config), sort_keys=True))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
