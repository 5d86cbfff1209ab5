r"""Exports a checkpoint as a SavedModel for serving and batch prediction.

  python export_model.py --train_dir=/tmp/yt8m_model/video_level_logistic \
      --output_dir=/tmp/yt8m_model/video_level_logistic/export/final

The model is rebuilt from train_dir/model_flags.json, so only the data flags
(--model, --feature_names, ...) are accepted besides export's own, and they
must match that file. The SavedModel's `serving_default` signature takes
serialized Example/SequenceExample strings and returns video ids, the top-k
class indexes and their scores (export.py). Prints the directory written.
"""

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import model_config
from youtube8m.serving import export_config

settings.define_flags(export_config.ExportConfig)
model_config.define_flags(data_only=True)


def main(argv):
  cli.check_no_positional_args(argv)
  config = model_config.from_flags(export_config.ExportConfig)
  # TensorFlow loads here, once the command line has passed every check.
  from youtube8m.serving import export  # pylint: disable=g-import-not-at-top
  print(export.export_checkpoint(config))


if __name__ == "__main__":
  cli.run(main)
