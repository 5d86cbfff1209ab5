r"""A local Kaggle scorer: a predictions CSV against the ground truth.

Video level (2017/2018), the CSV inference.py writes:

  python -m youtube8m.score --predictions=predictions.csv \
      --labels=validate_labels.csv [--top_k=20] [--report_file=score.html]

prints GAP@top_k, Hit@1, PERR and MAP (over the classes with positives) in
one line, then one JSON line. The metrics are eval_util's, so they equal
eval.py's on the same videos: each video's top_k pairs are pooled, and
recall counts all of its positives, also those it did not predict; equal
scores are averaged over their orders (eval_util's rules), the row's order
only deciding which tied pairs make a top_k cut. Hit@1 and PERR use every
pair of the row. A labelled video without a row scores as a video with no
prediction (it is counted and reported); a row for an unknown video is an
error unless --ignore_unknown_ids.

Files: predictions `VideoId,LabelConfidencePairs`, then `id,cls score ...`;
labels `VIDEO_ID,LABEL1 LABEL2 ...` per line (synthetic.write_labels_csv),
optionally under a Kaggle-style `VideoId,Labels` header.

Segment level (2019): the `Class,Segments` file against rated records, MAP@N
by segment_eval_lib's scorer:

  python -m youtube8m.score --segment_labels --predictions=segments.csv \
      --labels='/data/segment/validate*.tfrecord' [--top_n=100000]
"""

import json

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.evaluation import score_lib


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(score_lib.ScoreConfig))
  if not config.predictions or not config.labels:
    raise cli.UsageError("--predictions and --labels are required")
  if config.segment_labels:
    result = score_lib.score_segments(config)
  else:
    result = score_lib.score_videos(config)
  print(score_lib.summary_line(result, config.segment_labels))
  print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
  settings.define_flags(score_lib.ScoreConfig)
  cli.run(main)
