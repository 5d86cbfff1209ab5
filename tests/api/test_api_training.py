"""api.train: train.py's run from a TrainConfig and keyword model flags."""

import json
import os
import shutil

import pytest

from youtube8m import api

from support import one_line
from support.api_world import NUM_CLASSES


def test_the_trained_model_records_the_flags_given(world):
  with open(os.path.join(world.video["train_dir"], "model_flags.json")) as f:
    flags = json.load(f)
  assert (flags["model"], flags["feature_names"], flags["num_classes"]) == (
      "LogisticModel", "mean_rgb,mean_audio", NUM_CLASSES)
  assert api.load(world.video["train_dir"]).source.endswith("ckpt-6")


def _error(call):
  with pytest.raises(api.Yt8mError) as error:
    call()
  return one_line.message(error.value)


def test_mistakes_are_one_line_errors_naming_the_setting(world, tmp_path):
  train_dir = str(tmp_path / "run")
  shutil.copytree(world.video["train_dir"], train_dir)
  config = api.TrainConfig(train_data_pattern=world.pattern("video", "train"),
                           train_dir=train_dir, max_steps=8)
  assert _error(lambda: api.train(config, feature_name="rgb")) == (
      "api.train(feature_name=...): 'feature_name' is not a model flag; did "
      "you mean feature_names or feature_sizes?")
  assert _error(lambda: api.train(config, model="MoeModel")).startswith(
      "model=MoeModel (saved: LogisticModel) contradicts "
      f"{train_dir}/model_flags.json; pass config.start_new_model")
  bad = api.TrainConfig(train_data_pattern=config.train_data_pattern,
                        train_dir=train_dir, batch_size=0)
  assert _error(lambda: api.train(bad)) == (
      "config.batch_size=0 is invalid: expected a positive integer")
  assert _error(lambda: api.train(api.TrainConfig(train_dir=train_dir))) == (
      "config.train_data_pattern is required")
  assert _error(lambda: api.train({"train_dir": train_dir})) == (
      "config: expected an api.TrainConfig(...), got dict")
  assert api.load(train_dir).source.endswith("ckpt-6")  # nothing trained
