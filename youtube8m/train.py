r"""Trains a YouTube-8M model: `python train.py --train_data_pattern=...`.

  python train.py --train_data_pattern='/data/video/train*.tfrecord' \
      --model=LogisticModel --train_dir=/tmp/yt8m_model/video_level_logistic

Same flags as the original starter code (train_config.TrainConfig and the
model flags, models/catalog.py); the loop lives in train_lib. Every flag is
checked before TensorFlow is imported, so --help and a bad flag answer at
once and leave nothing behind.
"""

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import model_config
from youtube8m.training import train_config
from youtube8m.vertex import job_env

settings.define_flags(train_config.TrainConfig)
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  config = model_config.from_flags(train_config.TrainConfig)
  dirs = job_env.resolve(config.train_dir, settings.given("train_dir"))
  config.train_dir, config.summary_dir, config.final_export_dir = (
      dirs.train_dir, dirs.summary_dir, dirs.model_dir)
  # TensorFlow loads here, once the command line has passed every check.
  from youtube8m.training import train_lib  # pylint: disable=g-import-not-at-top
  train_lib.train(config)


if __name__ == "__main__":
  cli.run(main)
