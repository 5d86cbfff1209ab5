r"""Averages a train_dir's newest checkpoints into a new model directory.

  python -m youtube8m.average_checkpoints --train_dir=/tmp/yt8m_model/run \
      --num_checkpoints=5 --output_dir=/tmp/yt8m_model/run_avg5
  python eval.py --train_dir=/tmp/yt8m_model/run_avg5 --run_once ...

The output directory holds the averaged checkpoint, model_flags.json and
model_size.json; eval.py, inference.py and export_model.py read it as a
train_dir (youtube8m/models/checkpoint_averaging.py).
"""

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import checkpoint_averaging


def main(argv):
  cli.check_no_positional_args(argv)
  print(checkpoint_averaging.average_checkpoints(
      settings.from_flags(checkpoint_averaging.AverageConfig)))


if __name__ == "__main__":
  settings.define_flags(checkpoint_averaging.AverageConfig)
  cli.run(main)
