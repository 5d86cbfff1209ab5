"""settings.py: flags generated from config dataclasses, once per setting."""

import dataclasses
import subprocess
import sys

from absl import flags
import pytest

from youtube8m.common import settings
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import score_lib
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib
from youtube8m.prediction import segment_inference
from youtube8m.serving import export
from youtube8m.training import train_lib

from support import workflow_helpers as wh

CONFIGS = [train_lib.TrainConfig, eval_lib.EvalConfig,
           inference_lib.InferenceConfig,
           segment_inference.SegmentInferenceConfig, export.ExportConfig,
           score_lib.ScoreConfig]


@dataclasses.dataclass
class Toy:
  count: int = settings.setting(3, "How many.")
  rate: float = settings.setting(None, "Optional rate.")
  name: str = settings.setting("x", "A name.")
  on: bool = settings.setting(False, "A switch.")
  computed: dict = dataclasses.field(default_factory=dict)  # not a flag


def test_fields_become_typed_flags_and_back():
  values = flags.FlagValues()
  settings.define_flags(Toy, flag_values=values)
  assert set(values) == {"count", "rate", "name", "on"}
  values(["prog", "--count=7", "--rate=0.5", "--on"])
  assert values["count"].help == "How many."
  config = settings.from_flags(Toy, flag_values=values, computed={"a": 1})
  assert config == Toy(count=7, rate=0.5, name="x", on=True,
                       computed={"a": 1})
  assert settings.given("count", values)
  assert not settings.given("name", values)
  with pytest.raises(flags.IllegalFlagValueError):
    values(["prog", "--count=many"])


@pytest.mark.parametrize("config_class", CONFIGS,
                         ids=[c.__name__ for c in CONFIGS])
def test_every_setting_has_help_and_builds_the_default_config(config_class):
  values = flags.FlagValues()
  settings.define_flags(config_class, flag_values=values)
  if "model_flags" in {f.name for f in dataclasses.fields(config_class)}:
    model_config.define_flags(flag_values=values)
  values(["prog"])
  for field in settings.flag_fields(config_class):
    assert values[field.name].help, field.name
    assert values[field.name].default == field.default, field.name
  assert settings.from_flags(config_class, flag_values=values) == (
      config_class())


def test_seed_flag_names_and_defaults_are_kept():
  train = {f.name: f.default for f in settings.flag_fields(
      train_lib.TrainConfig)}
  assert train["batch_size"] == 1024 and train["num_epochs"] == 5
  assert train["base_learning_rate"] == 0.01
  assert train["learning_rate_decay_examples"] == 4000000
  assert train["optimizer"] == "AdamOptimizer"
  assert train["export_model_steps"] == 1000
  evals = {f.name: f.default for f in settings.flag_fields(eval_lib.EvalConfig)}
  # --batch_size unset: the seed's size, or for frame-level data what fits
  # --memory_budget_gb (test_memory.py).
  assert evals["top_k"] == 20 and evals["batch_size"] is None
  assert eval_lib.DEFAULT_BATCH_SIZE == 1024
  infer = {f.name: f.default for f in settings.flag_fields(
      inference_lib.InferenceConfig)}
  assert infer["top_k"] == 20 and infer["batch_size"] is None
  assert inference_lib.DEFAULT_BATCH_SIZE == 512
  assert model_config.all_defaults()["num_classes"] == 3862


def test_model_flags_given_reports_typed_flags():
  values = flags.FlagValues()
  model_config.define_flags(flag_values=values)
  values(["prog", "--model=MoeModel", "--moe_num_mixtures=4"])
  given, explicit = model_config.flags_given(values)
  assert explicit == {"model", "moe_num_mixtures"}
  assert given["moe_num_mixtures"] == 4 and given["num_classes"] == 3862


@pytest.mark.slow
@pytest.mark.parametrize("script, expected", [
    ("train.py", ["--train_data_pattern", "--batch_size", "--model",
                  "--dbof_cluster_size"]),
    ("eval.py", ["--eval_data_pattern", "--run_once", "--segment_labels"]),
    ("inference.py", ["--output_file", "--segment_max_pred",
                      "--input_model_tgz"]),
    ("export_model.py", ["--output_dir", "--checkpoint"]),
    ("-m youtube8m.make_dataset", ["--output_dir", "--num_train"]),
    ("-m youtube8m.train", ["--train_data_pattern"]),
    ("-m youtube8m.score", ["--predictions", "--labels"]),
])
def test_help_lists_the_scripts_own_flags(script, expected):
  result = subprocess.run([sys.executable] + script.split() + ["--help"],
                          cwd=wh.REPO, env=wh.script_env(),
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  for flag in expected:
    assert flag in result.stdout, (flag, result.stdout[:3000])
  assert "(default:" in result.stdout
