r"""Exports a trained model as a SavedModel; see youtube8m/export_model.py.

  python export_model.py --train_dir=/tmp/yt8m/video_level_logistic_model
"""

from absl import flags

from youtube8m import export_model
from youtube8m.common import cli

# --help lists the flags of youtube8m/export_model.py, not only --helpfull.
flags.adopt_module_key_flags(export_model)

if __name__ == "__main__":
  cli.run(export_model.main)
