r"""Weighted ensembles of prediction files, with weights fitted on held-out
labels.

  python -m youtube8m.ensemble --predictions=a_val.csv,b_val.csv \
      --fit_labels=validate_labels.csv
  python -m youtube8m.ensemble --predictions=a_test.csv,b_test.csv \
      --weights=0.35,0.65 --output_file=submission.csv

Video-level prediction CSVs or Class,Segments submissions
(youtube8m/prediction/ensemble_lib.py). Prints each member's score and the
ensemble's, then a JSON line whose `weights` are the weights used.
"""

import json

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.prediction import ensemble_config


def define_flags():
  settings.define_flags(ensemble_config.EnsembleConfig)


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(
      ensemble_config.EnsembleConfig))
  # TensorFlow loads here, once the command line has passed every check.
  from youtube8m.prediction import ensemble_lib  # pylint: disable=g-import-not-at-top
  result = ensemble_lib.run(config)
  for line in ensemble_lib.summary_lines(result):
    print(line)
  print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
