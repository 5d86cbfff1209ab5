r"""Exports a checkpoint as a SavedModel for serving and batch prediction.

  python export_model.py --train_dir=/tmp/yt8m_model/video_level_logistic \
      --output_dir=/tmp/yt8m_model/video_level_logistic/export/final

The model is rebuilt from train_dir/model_flags.json. The SavedModel's
`serving_default` signature takes serialized Example/SequenceExample strings
and returns video ids, the top-k class indexes and their scores (export.py).
"""

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import model_config
from youtube8m.serving import export

FLAGS = flags.FLAGS
settings.define_flags(export.ExportConfig)
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  values, explicit = model_config.flags_given()
  print(export.export_checkpoint(settings.from_flags(
      export.ExportConfig, model_flags=values,
      explicit_flags=frozenset(explicit))))


if __name__ == "__main__":
  cli.run(main)
