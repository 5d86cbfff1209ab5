r"""Writes Kaggle predictions; see youtube8m/inference.py for the flags.

  python inference.py --output_file=/tmp/yt8m/predictions.csv \
      --input_data_pattern='/path/to/features/test*.tfrecord' \
      --train_dir=/tmp/yt8m/video_level_logistic_model
"""

from absl import flags

from youtube8m import inference
from youtube8m.common import cli

# --help lists the flags of youtube8m/inference.py, not only --helpfull.
flags.adopt_module_key_flags(inference)

if __name__ == "__main__":
  cli.run(inference.main)
