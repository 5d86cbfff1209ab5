"""predictors.py: checkpoint, SavedModel and archive predictors agree."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.prediction import inference_lib
from youtube8m.serving import export
from youtube8m.serving import model_archive
from youtube8m.serving import predictors

from support import tiny


def _collect(predictor, path):
  ids, classes, scores = zip(*predictor.batches(path, 3))
  return (np.concatenate(ids), np.concatenate(classes),
          np.concatenate(scores))


def test_scores_are_the_uncompiled_models_unless_xla_is_asked(tmp_path):
  """Default: the model's uncompiled graph, the bits earlier versions
  wrote; --xla: the fused forward, equal to float rounding."""
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=7)
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run")
  config = inference_lib.InferenceConfig(train_dir=train_dir, top_k=6)
  plain = predictors.make_predictor(config)
  batch = next(iter(readers.make_dataset(plain.reader, path, 7)))
  expected = tf.function(lambda b: model(b, training=False)["predictions"])(
      {k: v for k, v in batch.items() if k != "video_ids"}).numpy()
  [(_, classes, scores)] = list(plain.batches(path, 7))
  np.testing.assert_array_equal(
      scores, np.take_along_axis(expected, classes, axis=1))
  [(_, classes, scores)] = list(predictors.make_predictor(
      dataclasses.replace(config, xla=True)).batches(path, 7))
  np.testing.assert_allclose(
      scores, np.take_along_axis(expected, classes, axis=1), rtol=1e-5,
      atol=1e-7)


@pytest.mark.parametrize("name", ["run", "exp[lr=0.01]", "run[1]*? ü"])
@pytest.mark.slow
def test_the_three_sources_give_the_same_top_k(tmp_path, name):
  """Also where every path holds glob characters: read literally."""
  path, videos = tiny.video_file(tmp_path / "t.tfrecord", count=7)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / name)
  base = inference_lib.InferenceConfig(
      train_dir=train_dir, top_k=4, untar_model_dir=str(tmp_path / f"u{name}"))
  from_ckpt = predictors.make_predictor(base)
  assert isinstance(from_ckpt, predictors.CheckpointPredictor)
  ids, classes, scores = _collect(from_ckpt, path)
  assert [v.decode() for v in ids] == list(videos)
  assert classes.shape == (7, 4) and np.all(np.diff(scores, axis=1) <= 0)

  sm = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / f"sm{name}"), top_k=5))
  from_sm = predictors.make_predictor(dataclasses.replace(
      base, saved_model_dir=sm))
  assert isinstance(from_sm, predictors.SavedModelPredictor)
  tgz = str(tmp_path / f"m{name}.tgz")
  model_archive.make_model_tgz(train_dir, tgz)
  from_tgz = predictors.make_predictor(dataclasses.replace(
      base, input_model_tgz=tgz))
  for other in (from_sm, from_tgz):
    other_ids, other_classes, other_scores = _collect(other, path)
    np.testing.assert_array_equal(other_ids, ids)
    np.testing.assert_array_equal(other_classes, classes)
    np.testing.assert_allclose(other_scores, scores, rtol=1e-6)


def test_savedmodel_limits_are_named(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  sm = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm"), top_k=2))
  config = inference_lib.InferenceConfig(saved_model_dir=sm, top_k=3)
  with pytest.raises(utils.Yt8mError, match="exported with top 2"):
    predictors.make_predictor(config)
  with pytest.raises(utils.Yt8mError, match="needs a checkpoint"):
    predictors.make_predictor(dataclasses.replace(config, top_k=2),
                              checkpoint_only=True)


def test_top_k_must_be_one_to_num_classes(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")  # 6 classes
  config = inference_lib.InferenceConfig(train_dir=train_dir, top_k=7)
  with pytest.raises(utils.Yt8mError, match=r"--top_k=7 is invalid: "
                     r"expected 1\.\.6 \(the model's classes\)"):
    predictors.make_predictor(config)
  # Segment inference takes the model, not top-k lists: no --top_k check.
  assert predictors.make_predictor(config, checkpoint_only=True).model
  direct = predictors.CheckpointPredictor(train_dir, {}, set(), top_k=0)
  with pytest.raises(utils.Yt8mError, match="--top_k=0 is invalid"):
    next(direct.batches(str(tmp_path / "none*"), 2))
  sm = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm"), top_k=2))
  with pytest.raises(utils.Yt8mError, match="--top_k=0 is invalid"):
    predictors.SavedModelPredictor(sm, top_k=0)
