"""Settings of `python -m youtube8m.ensemble` (EnsembleConfig), without
TensorFlow: the command checks them before TensorFlow loads, and
ensemble_lib.run takes the filled-in dataclass.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import settings


@dataclasses.dataclass
class EnsembleConfig:
  """Every setting of `python -m youtube8m.ensemble`."""
  predictions: str = settings.setting(
      "", "Comma-separated member files, all video-level prediction CSVs "
      "(VideoId,LabelConfidencePairs) or all Class,Segments submissions. A "
      "class missing from a member's row counts as its score 0.",
      required=True)
  weights: str = settings.setting(
      "", "Comma-separated member weights (scaled to sum to 1). Default: "
      "searched on --fit_labels, else equal.")
  fit_labels: str = settings.setting(
      "", "Held-out ground truth: a VIDEO_ID,LABELS CSV (video level) or a "
      "glob of rated segment TFRecords (Class,Segments). Scores the members "
      "and the ensemble, and fits the weights unless --weights is given.")
  output_file: str = settings.setting(
      "", "Where to write the ensemble's file (same format as the members).")
  top_k: int = settings.setting(
      20, "Video level: pairs per video written, and GAP@top_k scored.",
      check=checks.positive_int)
  top_n: int = settings.setting(
      100000, "Class,Segments: segments per class written, and MAP@top_n "
      "scored.", check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Class ids must be below this (4716 for 2017 data).",
      check=checks.positive_int)
  weight_step: float = settings.setting(
      0.05, "Grid step of the weight search.", check=checks.unit_interval)
