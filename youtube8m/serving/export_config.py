"""export_model.py's settings (ExportConfig), without TensorFlow.

export_model.py defines its flags from these fields and checks them before
TensorFlow loads; export.export_checkpoint takes the filled-in dataclass.
"""

import dataclasses

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.models import model_config

INT8 = "int8"  # the --quantize value (serving/members.py)


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
  quantize: str = settings.setting(
      "", "'int8': store the large weight tensors as int8 with float32 "
      "scales (weight-only uniform quantization, about a quarter of their "
      "float32 size); the graph dequantizes them and computes in float32. "
      "Other weights follow --export_float16.",
      check=checks.choice(("", INT8)))
  quantize_per_channel: bool = settings.setting(
      True, "With --quantize: one scale per output channel (else one per "
      "tensor).")
  ensemble: str = settings.setting(
      "", "Comma-separated train_dirs and/or exported SavedModels: write ONE "
      "SavedModel whose scores are the weighted mean of theirs (needs "
      "--output_dir; --train_dir and --checkpoint do not apply). The members "
      "must read the same features and predict the same classes.")
  ensemble_weights: str = settings.setting(
      "", "Comma-separated weights of the --ensemble members, in order (e.g. "
      "the `weights` that `python -m youtube8m.ensemble` fitted); scaled to "
      "sum to 1. Default: equal weights.")
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()
