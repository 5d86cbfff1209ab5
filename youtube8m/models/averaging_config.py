"""Settings of `python -m youtube8m.average_checkpoints` (AverageConfig),
without TensorFlow: the command checks them before TensorFlow loads, and
checkpoint_averaging.average_checkpoints takes the filled-in dataclass.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import settings


@dataclasses.dataclass
class AverageConfig:
  """Every setting of `python -m youtube8m.average_checkpoints`."""
  train_dir: str = settings.setting(
      "", "The training directory whose newest checkpoints are averaged.",
      required=True)
  num_checkpoints: int = settings.setting(
      5, "How many of the newest checkpoints to average (train_dir must "
      "keep that many: train.py --max_checkpoints_to_keep).",
      check=checks.positive_int)
  output_dir: str = settings.setting(
      "", "A new (absent or empty) directory for the averaged model; use it "
      "as --train_dir of eval.py, inference.py and export_model.py.",
      required=True)
