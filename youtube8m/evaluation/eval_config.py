"""eval.py's settings (EvalConfig), without TensorFlow.

eval.py defines its flags from these fields and checks them before
TensorFlow loads; eval_lib.evaluate takes the filled-in dataclass.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import plots
from youtube8m.common import settings
from youtube8m.data import data_service_config
from youtube8m.models import model_config


DEFAULT_BATCH_SIZE = 1024  # the seed's
# --memory_budget_gb of eval and inference (models/memory.py estimates).
XLA_HELP = (
    "Compile the model's whole-video forward pass with XLA, as training's "
    "step is: faster where XLA's kernels win (measure: python -m "
    "youtube8m.benchmark suite; on a 2-core CPU it was slower); scores "
    "differ from the uncompiled pass by float rounding, about 1e-7 "
    "relative, so a printed score's last digit may change. Off: the "
    "uncompiled graph earlier versions ran. --segment_labels always runs "
    "uncompiled.")
DEFAULT_MEMORY_BUDGET_GB = 2.0


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
  batch_size: int = settings.setting(
      None, f"Examples per batch (default: {DEFAULT_BATCH_SIZE}; for "
      "frame-level data the largest power of 2 up to that which fits "
      "--memory_budget_gb).", check=checks.optional(checks.positive_int))
  memory_budget_gb: float = settings.setting(
      DEFAULT_MEMORY_BUDGET_GB, "Memory that frame-level batches may take "
      "(their data and the model's activations, estimated from the model; "
      "TensorFlow adds about 1 GB): picks the default --batch_size, and a "
      "--batch_size beyond it is warned about.", check=checks.positive)
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
  xla: bool = settings.setting(False, XLA_HELP)
  data_service_address: str = settings.setting(
      "", "host:port of a tf.data service dispatcher: reading, parsing and "
      "batching run on its workers, each video once per pass, in no fixed "
      "order (youtube8m/data/data_service.py).",
      check=data_service_config.check_address)
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
