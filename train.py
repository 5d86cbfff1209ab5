"""Trains a YouTube-8M model; see youtube8m/train.py for the flags.

  python train.py --train_data_pattern='/path/to/features/train*.tfrecord' \
      --model=LogisticModel --train_dir=/tmp/yt8m/video_level_logistic_model
"""

from youtube8m import cli
from youtube8m import train

if __name__ == "__main__":
  cli.run(train.main)
