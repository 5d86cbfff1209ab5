r"""Scores a 2019 `Class,Segments` submission: segment MAP@N.

  python -m youtube8m.segment_eval \
      --eval_data_pattern='/data/segment/validate*.tfrecord' \
      --submission_file=/tmp/segments.csv --top_n=100000

prints one JSON line last: {"map": ..., "num_classes": ..., ...}. The metric
is described in youtube8m/evaluation/segment_eval_lib.py.
"""

import json

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.data import submissions
from youtube8m.evaluation import segment_eval_lib


def main(argv):
  cli.check_no_positional_args(argv)
  f = flags.FLAGS
  if not f.eval_data_pattern or not f.submission_file:
    raise cli.UsageError("--eval_data_pattern and --submission_file are "
                         "required")
  if f.top_n <= 0:
    raise cli.UsageError(f"--top_n={f.top_n}: expected a positive integer")
  ratings = segment_eval_lib.read_ratings(f.eval_data_pattern, f.num_classes)
  result = segment_eval_lib.score_submission(submissions.read_submission(f.submission_file), ratings,
                            f.top_n)
  del result["aps"]
  result["top_n"] = f.top_n
  print(json.dumps(result, sort_keys=True))


def _define_flags():
  flags.DEFINE_string("eval_data_pattern", "",
                      "Glob of segment-rated frame-level TFRecords.")
  flags.DEFINE_string("submission_file", "",
                      "The Class,Segments CSV to score (local or gs://).")
  flags.DEFINE_integer("top_n", 100000,
                       "Segments per class that count (Kaggle: 100,000).")
  flags.DEFINE_integer("num_classes", 3862,
                       "Rated class ids must be below this.")


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
