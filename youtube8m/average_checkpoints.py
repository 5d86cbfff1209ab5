r"""Averages a train_dir's newest checkpoints into a new model directory.

  python -m youtube8m.average_checkpoints --train_dir=/tmp/yt8m_model/run \
      --num_checkpoints=5 --output_dir=/tmp/yt8m_model/run_avg5
  python eval.py --train_dir=/tmp/yt8m_model/run_avg5 --run_once ...

The output directory holds the averaged checkpoint, model_flags.json and
model_size.json; eval.py, inference.py and export_model.py read it as a
train_dir (youtube8m/models/checkpoint_averaging.py). Prints the
checkpoint written.
"""

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import averaging_config


def define_flags():
  settings.define_flags(averaging_config.AverageConfig)


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(
      averaging_config.AverageConfig))
  # TensorFlow loads here, once the command line has passed every check.
  from youtube8m.models import checkpoint_averaging  # pylint: disable=g-import-not-at-top
  print(checkpoint_averaging.average_checkpoints(config))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
