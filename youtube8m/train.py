r"""Trains a YouTube-8M model: `python train.py --train_data_pattern=...`.

  python train.py --train_data_pattern='/data/video/train*.tfrecord' \
      --model=LogisticModel --train_dir=/tmp/yt8m_model/video_level_logistic

Same flags as the original starter code (defined by train_lib.TrainConfig
and the model flags); the loop lives in train_lib.
"""

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import model_config
from youtube8m.training import train_lib
from youtube8m.vertex import job_env

FLAGS = flags.FLAGS
settings.define_flags(train_lib.TrainConfig)
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  if not FLAGS.train_data_pattern:
    raise cli.UsageError("--train_data_pattern is required")
  values, explicit = model_config.flags_given()
  dirs = job_env.resolve(FLAGS.train_dir, settings.given("train_dir"))
  train_lib.train(settings.from_flags(
      train_lib.TrainConfig, train_dir=dirs.train_dir,
      summary_dir=dirs.summary_dir, final_export_dir=dirs.model_dir,
      model_flags=values, explicit_flags=frozenset(explicit)))


if __name__ == "__main__":
  cli.run(main)
