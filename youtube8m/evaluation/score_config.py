"""Settings of the local scorer (`python -m youtube8m.score`) and of its
segment alias (`python -m youtube8m.segment_eval`), without TensorFlow: the
commands check them before TensorFlow loads.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import plots
from youtube8m.common import settings


@dataclasses.dataclass
class ScoreConfig:
  """Every setting of `python -m youtube8m.score`."""
  predictions: str = settings.setting(
      "", "The predictions CSV (VideoId,LabelConfidencePairs; with "
      "--segment_labels: Class,Segments). Local or gs://.", required=True)
  labels: str = settings.setting(
      "", "Ground truth: a VIDEO_ID,LABEL1 LABEL2 ... CSV (with "
      "--segment_labels: a glob of rated segment TFRecords).",
      required=True)
  segment_labels: bool = settings.setting(
      False, "Score a 2019 Class,Segments file: segment MAP@top_n.")
  top_k: int = settings.setting(
      20, "Pairs per video that count for GAP and MAP (Kaggle: GAP@20).",
      check=checks.positive_int)
  top_n: int = settings.setting(
      100000, "Segments per class that count (--segment_labels; Kaggle: "
      "100,000).", check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Class ids must be below this (4716 for 2017 data).",
      check=checks.positive_int)
  ignore_unknown_ids: bool = settings.setting(
      False, "Skip (and count) rows for videos absent from --labels "
      "instead of failing.")
  only_predicted_videos: bool = settings.setting(
      False, "Score only the labelled videos the predictions have a row "
      "for (e.g. a few validate shards against the whole labels file), "
      "instead of scoring the others as empty rows.")
  report_file: str = settings.setting(
      "", "Also write an HTML page with the PR curve and per-class APs "
      "(needs matplotlib: pip install 'youtube8m[plots]').",
      plots.requires_matplotlib)
  vocabulary_file: str = settings.setting(
      "", "Label names for --report_file (default: the shipped one).")


@dataclasses.dataclass
class SegmentEvalConfig:
  """The flags of `python -m youtube8m.segment_eval`, kept for scripts: an
  alias of `score --segment_labels` (same metric, same JSON line)."""
  eval_data_pattern: str = settings.setting(
      "", "Glob of segment-rated frame-level TFRecords (score's --labels).",
      required=True)
  submission_file: str = settings.setting(
      "", "The Class,Segments CSV to score, local or gs:// (score's "
      "--predictions).", required=True)
  top_n: int = settings.setting(
      100000, "Segments per class that count (Kaggle: 100,000).",
      check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Rated class ids must be below this.", check=checks.positive_int)

  def score_config(self):
    """The same request as `score --segment_labels` settings."""
    return ScoreConfig(predictions=self.submission_file,
                       labels=self.eval_data_pattern, segment_labels=True,
                       top_n=self.top_n, num_classes=self.num_classes)
