"""eval.py's settings (EvalConfig), without TensorFlow.

eval.py defines its flags from these fields and checks them before
TensorFlow loads; eval_lib.evaluate takes the filled-in dataclass.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import plots
from youtube8m.common import settings
from youtube8m.models import model_config


@dataclasses.dataclass
class EvalConfig:
  """Every eval.py setting."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "The training directory (checkpoints, "
      "model_flags.json).")
  eval_data_pattern: str = settings.setting(
      "", "Glob of evaluation TFRecords (local or gs://).", required=True)
  segment_labels: bool = settings.setting(
      False, "Evaluate on the rated 5-frame segments of 2019 records: "
      "segment MAP over the rated classes only.")
  batch_size: int = settings.setting(1024, "Examples per batch.",
      check=checks.positive_int)
  num_readers: int = settings.setting(8, "Files read in parallel.",
      check=checks.positive_int)
  run_once: bool = settings.setting(
      False, "Evaluate the latest checkpoint once and exit.")
  top_k: int = settings.setting(20, "Predictions per video for GAP/mAP.",
      check=checks.positive_int)
  eval_poll_secs: float = settings.setting(
      30, "Seconds between looks for a new checkpoint.",
      check=checks.positive)
  eval_timeout_secs: float = settings.setting(
      None, "Stop after this many seconds without a new checkpoint "
      "(default: wait forever).",
      check=checks.optional(checks.positive))
  eval_summary_dir: str = settings.setting(
      None, "Where TensorBoard scalars go (default: train_dir/eval, or "
      "train_dir/eval_segments with --segment_labels).")
  report_file: str = settings.setting(
      "", "Also write each checkpoint's metrics and figures to this "
      "self-contained HTML page ({step} in the name: one page per step; "
      "video level only). Needs matplotlib (pip install "
      "'youtube8m[plots]').", plots.requires_matplotlib)
  vocabulary_file: str = settings.setting(
      "", "Label names for the best/worst class tables (default: the "
      "shipped vocabulary.csv, label_names_2017.csv for 4716 classes).")
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
