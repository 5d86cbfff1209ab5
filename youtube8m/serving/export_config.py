"""export_model.py's settings (ExportConfig), without TensorFlow.

export_model.py defines its flags from these fields and checks them before
TensorFlow loads; export.export_checkpoint takes the filled-in dataclass.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.models import model_config


@dataclasses.dataclass
class ExportConfig:
  """Every export_model.py setting."""
  train_dir: str = settings.setting(
      "/tmp/yt8m_model/", "Training directory holding checkpoints.")
  checkpoint: str = settings.setting(
      "", "Checkpoint prefix to export (default: the latest).")
  output_dir: str = settings.setting(
      "", "Where to write the SavedModel (default: "
      "train_dir/export/step_<global step>).")
  top_k: int = settings.setting(20, "Classes the serving signature returns.",
                                check=checks.positive_int)
  export_float16: bool = settings.setting(
      False, "Store the weights in float16: half the size on disk (the 2018 "
      "challenge's 1 GB limit); the model still computes and answers in "
      "float32.")
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
