"""End to end in one process: train, eval, inference, export, inference again."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.evaluation import eval_lib
from youtube8m.evaluation import eval_util
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib
from youtube8m.serving import export
from youtube8m.training import train_lib

from support import workflow_helpers as wh

VIDEO_FLAGS = dict(feature_names="mean_rgb,mean_audio",
                   feature_sizes="1024,128")


@pytest.fixture(name="data", scope="module")
def _data(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("yt8m_data"))
  make_dataset.generate(out, num_train=600, num_validate=300, num_test=100,
                        shards=2, min_frames=3, max_frames=8, seed=3,
                        frame_level=False)
  return out


def _model_flags(**overrides):
  flags = model_config.all_defaults()
  flags.update(VIDEO_FLAGS)
  flags.update(overrides)
  return flags


def _train(data, train_dir, max_steps, level="video", batch_size=64,
           **overrides):
  config = train_lib.TrainConfig(
      train_dir=train_dir, train_data_pattern=f"{data}/{level}/train*",
      model_flags=_model_flags(**overrides),
      explicit_flags=frozenset(overrides) | {"model"}, batch_size=batch_size,
      num_epochs=None, max_steps=max_steps, export_model_steps=0,
      base_learning_rate=0.01, seed=1)
  return train_lib.train(config)


def _evaluate(data, train_dir, level="video", batch_size=128):
  return eval_lib.evaluate(eval_lib.EvalConfig(
      train_dir=train_dir, eval_data_pattern=f"{data}/{level}/validate*",
      batch_size=batch_size, run_once=True))


def _random_gap(labels):
  """GAP of uniformly random scores on the videos of `labels`."""
  truth = np.zeros((len(labels), 3862), np.float32)
  for row, classes in enumerate(labels.values()):
    truth[row, list(classes)] = 1
  return eval_util.calculate_gap(
      np.random.default_rng(0).random(truth.shape), truth)


@pytest.mark.slow
def test_train_eval_infer_export_agree(data, tmp_path):
  train_dir = str(tmp_path / "logistic")
  assert _train(data, train_dir, 30) == 30
  saved = json.load(open(os.path.join(train_dir, "model_flags.json")))
  assert saved["model"] == "LogisticModel"
  assert saved["feature_sizes"] == "1024,128" and "moe_num_mixtures" in saved

  metrics = _evaluate(data, train_dir)
  events = tf.io.gfile.glob(os.path.join(train_dir, "eval", "events.*"))
  assert events, "eval wrote no TensorBoard scalars under train_dir/eval"

  # Inference over the labelled validate split: its GAP, computed from the
  # CSV alone, must match eval's.
  csv_path = str(tmp_path / "validate_predictions.csv")
  count = inference_lib.infer(inference_lib.InferenceConfig(
      train_dir=train_dir, input_data_pattern=f"{data}/video/validate*",
      output_file=csv_path, batch_size=100))
  assert count == 300
  predictions = wh.read_predictions(csv_path)
  labels = wh.read_labels(f"{data}/validate_labels.csv")
  assert set(predictions) == set(labels)
  assert all(len(pairs) == 20 for pairs in predictions.values())
  for pairs in predictions.values():
    scores = [s for _, s in pairs]
    assert scores == sorted(scores, reverse=True)
  assert abs(wh.gap_from_csv(predictions, labels) - metrics["gap"]) < 1e-3

  # Export, then inference from the SavedModel gives the same top-20.
  export_dir = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm")))
  sm_csv = str(tmp_path / "sm_predictions.csv")
  inference_lib.infer(inference_lib.InferenceConfig(
      saved_model_dir=export_dir, input_data_pattern=f"{data}/video/validate*",
      output_file=sm_csv))
  from_export = wh.read_predictions(sm_csv)
  assert from_export.keys() == predictions.keys()
  for video_id, pairs in predictions.items():
    assert [c for c, _ in from_export[video_id]] == [c for c, _ in pairs]
    np.testing.assert_allclose([s for _, s in from_export[video_id]],
                               [s for _, s in pairs], rtol=1e-5)

  # The packed model predicts the same too.
  tgz = str(tmp_path / "model.tgz")
  inference_lib.infer(inference_lib.InferenceConfig(
      train_dir=train_dir, output_model_tgz=tgz))
  tgz_csv = str(tmp_path / "tgz_predictions.csv")
  inference_lib.infer(inference_lib.InferenceConfig(
      input_model_tgz=tgz, untar_model_dir=str(tmp_path / "untar"),
      input_data_pattern=f"{data}/video/validate*", output_file=tgz_csv,
      batch_size=100))
  # Same weights and the same batch size give the same bytes. (Another
  # batch size may move a sixth digit: a CPU matmul may block its rows
  # differently by batch shape.)
  assert open(tgz_csv).read() == open(csv_path).read()


@pytest.mark.slow
def test_models_learn_well_above_random(data, tmp_path):
  random_gap = _random_gap(wh.read_labels(f"{data}/validate_labels.csv"))
  # Audio features only (128 values) keep MoE's 3862 x 5 x D weights small.
  for model in ("LogisticModel", "MoeModel"):
    train_dir = str(tmp_path / model)
    _train(data, train_dir, 80, model=model, feature_names="mean_audio",
           feature_sizes="128")
    gap = _evaluate(data, train_dir)["gap"]
    assert gap > 0.2 and gap > 1000 * random_gap, (model, gap, random_gap)


@pytest.mark.slow
def test_restart_reuses_saved_flags_and_rejects_conflicts(data, tmp_path):
  train_dir = str(tmp_path / "moe")
  _train(data, train_dir, 3, model="MoeModel", moe_num_mixtures=3)
  # Flags not typed again come from model_flags.json; training continues.
  config = train_lib.TrainConfig(
      train_dir=train_dir, train_data_pattern=f"{data}/video/train*",
      model_flags=_model_flags(), explicit_flags=frozenset(), batch_size=64,
      max_steps=5, export_model_steps=0)
  assert train_lib.train(config) == 5
  config.explicit_flags = frozenset({"moe_num_mixtures"})
  config.model_flags = _model_flags(moe_num_mixtures=4)
  with pytest.raises(utils.Yt8mError) as info:
    train_lib.train(config)
  assert "--moe_num_mixtures=4 (saved: 3)" in str(info.value)
  assert "--start_new_model" in str(info.value)
  config.start_new_model = True
  config.max_steps = 2
  assert train_lib.train(config) == 2
  assert json.load(open(f"{train_dir}/model_flags.json"))[
      "moe_num_mixtures"] == 4


@pytest.fixture(name="frame_data", scope="module")
def _frame_data(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("yt8m_frames"))
  make_dataset.generate(out, num_train=200, num_validate=120, num_test=0,
                        shards=2, min_frames=3, max_frames=12, seed=5,
                        video_level=False)
  return out


@pytest.mark.slow
def test_frame_level_two_features_end_to_end(frame_data, tmp_path):
  """rgb+audio frames: the raw reader hands the model one uint8 matrix per
  feature, in row chunks for these batch sizes (train 48, eval 50,
  inference 40); training, eval, the CSV and the export must all agree."""
  reader = readers.YT8MFrameFeatureReader(3862, "rgb,audio", "1024,128",
                                          raw=True)
  assert reader.chunk_rows < 40
  train_dir = str(tmp_path / "frames")
  assert _train(frame_data, train_dir, 40, level="frame", batch_size=48,
                model="FrameLevelLogisticModel", frame_features=True,
                feature_names="rgb,audio", feature_sizes="1024,128") == 40
  metrics = _evaluate(frame_data, train_dir, level="frame", batch_size=50)
  labels = wh.read_labels(f"{frame_data}/validate_labels.csv")
  random_gap = _random_gap(labels)
  assert metrics["gap"] > 100 * random_gap, (metrics["gap"], random_gap)

  csv_path = str(tmp_path / "predictions.csv")
  assert inference_lib.infer(inference_lib.InferenceConfig(
      train_dir=train_dir, input_data_pattern=f"{frame_data}/frame/validate*",
      output_file=csv_path, batch_size=40)) == 120
  predictions = wh.read_predictions(csv_path)
  assert abs(wh.gap_from_csv(predictions, labels) - metrics["gap"]) < 1e-3

  export_dir = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm")))
  sm_csv = str(tmp_path / "sm_predictions.csv")
  inference_lib.infer(inference_lib.InferenceConfig(
      saved_model_dir=export_dir,
      input_data_pattern=f"{frame_data}/frame/validate*", output_file=sm_csv))
  from_export = wh.read_predictions(sm_csv)
  for video_id, pairs in predictions.items():
    assert [c for c, _ in from_export[video_id]] == [c for c, _ in pairs]
