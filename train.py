r"""Trains a YouTube-8M model; see youtube8m/train.py for the flags.

  python train.py --train_data_pattern='/path/to/features/train*.tfrecord' \
      --model=LogisticModel --train_dir=/tmp/yt8m/video_level_logistic_model
"""

from absl import flags

from youtube8m import train
from youtube8m.common import cli

# --help lists the flags of youtube8m/train.py, not only --helpfull.
flags.adopt_module_key_flags(train)

if __name__ == "__main__":
  cli.run(train.main)
