"""model_config.py: model_flags.json, merged with the flags of a run."""

import json

import pytest

from youtube8m import models
from youtube8m.common import utils
from youtube8m.models import model_config


def test_every_recorded_flag_has_a_default_and_help():
  flags = model_config.all_flags()
  assert set(model_config.DATA_FLAGS) <= set(flags)
  assert set(models.MODEL_FLAGS) <= set(flags)
  assert all(flag.help for flag in flags.values())
  assert model_config.all_defaults()["model"] == "LogisticModel"


def test_save_load_and_normalize(tmp_path):
  config = dict(model_config.all_defaults(),
                feature_names=" mean_rgb , mean_audio", feature_sizes="1024,128")
  model_config.save(str(tmp_path), model_config.normalize(config))
  assert [p.name for p in tmp_path.iterdir()] == ["model_flags.json"]
  loaded = model_config.load(str(tmp_path))
  assert loaded["feature_names"] == "mean_rgb,mean_audio"
  assert model_config.load(str(tmp_path / "none")) is None


def test_a_starter_code_file_gets_the_other_defaults(tmp_path):
  # The original wrote only the data flags.
  (tmp_path / "model_flags.json").write_text(json.dumps({
      "model": "MoeModel", "feature_sizes": "1024", "feature_names":
      "mean_rgb", "frame_features": False, "label_loss": "CrossEntropyLoss"}))
  loaded = model_config.load(str(tmp_path))
  assert loaded["moe_num_mixtures"] == 2 and loaded["num_classes"] == 3862


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"), ("[1, 2]", "has no 'model' entry")])
def test_bad_files_are_named(tmp_path, text, message):
  (tmp_path / "model_flags.json").write_text(text)
  with pytest.raises(utils.Yt8mError, match=message) as info:
    model_config.load(str(tmp_path))
  assert "model_flags.json" in str(info.value)


def test_resolve_typed_flags_against_the_file(tmp_path):
  given = model_config.all_defaults()
  with pytest.raises(utils.Yt8mError, match="train a model in --train_dir"):
    model_config.resolve(str(tmp_path), given, set())
  saved, from_file = model_config.resolve(str(tmp_path), given, set(),
                                          for_training=True)
  assert not from_file
  model_config.save(str(tmp_path), dict(saved, model="MoeModel"))
  resolved, from_file = model_config.resolve(
      str(tmp_path), dict(given, model="MoeModel"), {"model"})
  assert from_file and resolved["model"] == "MoeModel"
  with pytest.raises(utils.Yt8mError) as info:
    model_config.resolve(str(tmp_path), dict(given, moe_num_mixtures=5),
                         {"moe_num_mixtures"})
  assert "--moe_num_mixtures=5 (saved: 2) contradicts" in str(info.value)
  assert "drop these flags" in str(info.value)
