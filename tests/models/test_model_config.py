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


@pytest.mark.parametrize("edit, message", [
    (dict(num_classes="6"), "'num_classes' is '6', expected an integer"),
    (dict(moe_num_mixtures="two"), "'moe_num_mixtures' is 'two', expected "
     "an integer"),
    (dict(l2_penalty=None), "'l2_penalty' is None, expected a number"),
    (dict(feature_sizes=1024), "'feature_sizes' is 1024, expected a string"),
    (dict(dbof_add_batch_norm=1), "'dbof_add_batch_norm' is 1, expected "
     "true or false"),
    (dict(num_classes=0), "--num_classes=0 is invalid"),
    (dict(num_classes=10 ** 11), "--num_classes=100000000000 is invalid"),
])
def test_wrong_typed_or_unbounded_values_are_named(tmp_path, edit, message):
  config = dict(model_config.all_defaults(), **edit)
  (tmp_path / "model_flags.json").write_text(json.dumps(config))
  with pytest.raises(utils.Yt8mError, match=message) as info:
    model_config.resolve(str(tmp_path), model_config.all_defaults(), set())
  assert str(info.value).startswith(str(tmp_path / "model_flags.json"))


def test_unknown_entries_are_left_out(tmp_path, caplog):
  config = dict(model_config.all_defaults(), retired_flag=3)
  (tmp_path / "model_flags.json").write_text(json.dumps(config))
  resolved, _ = model_config.resolve(str(tmp_path),
                                     model_config.all_defaults(), set())
  assert "retired_flag" not in resolved
  assert "retired_flag" in caplog.text


USER_MODULE = '''
import pathlib
import tensorflow as tf
from youtube8m import models

pathlib.Path(__file__).with_suffix(".ran").touch()


class TwoLayerModel(models.BaseModel):
  def __init__(self, num_classes, **model_flags):
    super().__init__(num_classes, **model_flags)
    self.hidden = tf.keras.layers.Dense(4, activation="relu")
    self.out = tf.keras.layers.Dense(num_classes, activation="sigmoid")

  def classify(self, model_input, num_frames, training=False):
    return self.out(self.hidden(model_input))
'''


@pytest.mark.parametrize("flag", ["model", "video_level_classifier_model"])
def test_a_dotted_path_from_a_file_is_imported_only_when_typed(
    tmp_path, monkeypatch, flag):
  module = f"yt8m_trust_{flag}"
  (tmp_path / f"{module}.py").write_text(USER_MODULE)
  monkeypatch.syspath_prepend(str(tmp_path))
  path = f"{module}.TwoLayerModel"
  config = dict(model_config.all_defaults(), **{flag: path})
  if flag != "model":
    config.update(model="DbofModel", frame_features=True,
                  feature_names="rgb")
  run = tmp_path / "run"
  run.mkdir()
  (run / "model_flags.json").write_text(json.dumps(config))
  given = model_config.all_defaults()
  with pytest.raises(utils.Yt8mError, match=(
      f"names {flag} '{path}', which is not a registered model; its module "
      f"is imported .* only when you type --{flag}={path}")):
    model_config.resolve(str(run), given, set())
  # Typed with another value: still refused (and a contradiction).
  with pytest.raises(utils.Yt8mError):
    model_config.resolve(str(run), dict(given, **{flag: "x.Y"}), {flag})
  assert not (tmp_path / f"{module}.ran").exists()
  assert module not in __import__("sys").modules
  # The README's extension point: the user types the same path again.
  resolved, _ = model_config.resolve(str(run), dict(given, **{flag: path}),
                                     {flag})
  assert resolved[flag] == path
  assert (tmp_path / f"{module}.ran").exists()
  assert models.get_model_class(path).__name__ == "TwoLayerModel"


def test_typed_dotted_paths_are_imported_for_a_new_run(tmp_path, monkeypatch):
  (tmp_path / "yt8m_trust_new.py").write_text(USER_MODULE)
  monkeypatch.syspath_prepend(str(tmp_path))
  given = dict(model_config.all_defaults(),
               model="yt8m_trust_new.TwoLayerModel")
  config, from_file = model_config.resolve(str(tmp_path / "new"), given,
                                           {"model"}, for_training=True)
  assert not from_file and (tmp_path / "yt8m_trust_new.ran").exists()
  assert models.get_model_class(config["model"]).__name__ == "TwoLayerModel"
