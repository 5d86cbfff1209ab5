"""export_model.py --ensemble: one SavedModel, the weighted mean of members."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.prediction import inference_lib
from youtube8m.serving import ensemble
from youtube8m.serving import export

from support import records
from support import tiny
from support import workflow_helpers as wh


def _predict(model, x):
  return model({"video_matrix": tf.constant(x),
                "num_frames": tf.ones([len(x)], tf.int32)})[
                    "predictions"].numpy()


@pytest.fixture(name="members")
def _members(tmp_path):
  """Two train_dirs of one architecture with different weights, and an
  export of a third: (dirs, models)."""
  a, model_a = tiny.checkpoint_dir(tmp_path / "a", scale=1.0)
  b, model_b = tiny.checkpoint_dir(tmp_path / "b", scale=-3.0)
  c, model_c = tiny.checkpoint_dir(tmp_path / "c", scale=2.0)
  c_export = export.export_checkpoint(export.ExportConfig(
      train_dir=c, output_dir=str(tmp_path / "c_export")))
  return [a, b, c_export], [model_a, model_b, model_c]


@pytest.mark.slow
def test_predictions_are_the_weighted_mean_of_the_members(members, tmp_path):
  dirs, models = members
  out = export.export_checkpoint(export.ExportConfig(
      ensemble=",".join(dirs), ensemble_weights="1,2,1",
      output_dir=str(tmp_path / "ens"), top_k=4))
  x = np.random.default_rng(0).normal(size=(7, tiny.FEATURES)).astype(
      np.float32)
  want = sum(w * _predict(m, x) for w, m in zip([0.25, 0.5, 0.25], models))
  loaded = tf.saved_model.load(out)
  got = loaded.signatures["predict_features"](
      video_matrix=tf.constant(x), num_frames=tf.ones([7], tf.int32))
  np.testing.assert_allclose(got["predictions"].numpy(), want, atol=1e-6)
  # serving_default: the top 4 of that mean, from serialized records.
  serialized = [records.video_record(f"v{n}", [1], {"mean_rgb": row})
                for n, row in enumerate(x)]
  served = loaded.signatures["serving_default"](
      serialized=tf.constant(serialized))
  top = np.argsort(-want, axis=1, kind="stable")[:, :4]
  np.testing.assert_array_equal(served["class_indexes"].numpy(), top)
  np.testing.assert_allclose(served["predictions"].numpy(),
                             np.take_along_axis(want, top, 1), atol=1e-6)
  # model_size.json: the whole, and each member with its weight.
  sizes = json.load(open(os.path.join(out, "model_size.json")))
  each = tiny.FEATURES * tiny.NUM_CLASSES + tiny.NUM_CLASSES
  assert sizes["parameters"] == 3 * each
  assert sizes["bytes_float32"] == 3 * 4 * each
  assert [m["weight"] for m in sizes["members"]] == [0.25, 0.5, 0.25]
  assert [m["source"] for m in sizes["members"]] == dirs
  assert [m["parameters"] for m in sizes["members"]] == [each] * 3


def test_inference_reads_the_ensemble_like_any_export(members, tmp_path):
  dirs, models = members
  out = export.export_checkpoint(export.ExportConfig(
      ensemble=",".join(dirs[:2]), output_dir=str(tmp_path / "ens")))
  path, videos = tiny.video_file(tmp_path / "v.tfrecord", count=6)
  csv_path = str(tmp_path / "p.csv")
  inference_lib.infer(inference_lib.InferenceConfig(
      saved_model_dir=out, input_data_pattern=path, output_file=csv_path,
      top_k=3))
  rows = wh.read_predictions(csv_path)
  x = np.stack([f for _, f in videos.values()])
  want = 0.5 * _predict(models[0], x) + 0.5 * _predict(models[1], x)
  for n, video in enumerate(videos):
    classes = [c for c, _ in rows[video]]
    assert classes == list(np.argsort(-want[n], kind="stable")[:3])
    np.testing.assert_allclose([s for _, s in rows[video]],
                               want[n, classes], rtol=1e-5)


def test_int8_ensemble_is_smaller(members, tmp_path):
  dirs, _ = members
  full = export.export_checkpoint(export.ExportConfig(
      ensemble=",".join(dirs[:2]), output_dir=str(tmp_path / "f")))
  small = export.export_checkpoint(export.ExportConfig(
      ensemble=",".join(dirs[:2]), output_dir=str(tmp_path / "q"),
      quantize="int8", export_float16=True))
  sizes = [json.load(open(os.path.join(d, "model_size.json")))
           for d in (full, small)]
  assert sizes[0]["parameters"] == sizes[1]["parameters"]
  # 8 x 6 kernels are too small to quantize: float16 halves them.
  assert sizes[1]["bytes_stored"] * 2 == sizes[0]["bytes_stored"]


@pytest.mark.parametrize("weights, message", [
    ("1", "1 weights for 3 members"),
    ("1,-1,1", "'-1' is not a finite number >= 0"),
    ("1,x,1", "'x' is not a finite number"),
    ("0,0,0", "the weights sum to 0"),
])
def test_bad_weights_are_named(members, tmp_path, weights, message):
  dirs, _ = members
  with pytest.raises(utils.Yt8mError, match=message):
    export.export_checkpoint(export.ExportConfig(
        ensemble=",".join(dirs), ensemble_weights=weights,
        output_dir=str(tmp_path / "ens")))
  assert not os.path.exists(tmp_path / "ens")


def test_members_must_agree_and_be_two(members, tmp_path):
  dirs, _ = members
  other, _ = tiny.checkpoint_dir(tmp_path / "other",
                                 tiny.video_flags(num_classes=9))
  with pytest.raises(utils.Yt8mError, match=r"has --num_classes=9 but .* "
                     "has --num_classes=6"):
    export.export_checkpoint(export.ExportConfig(
        ensemble=f"{dirs[0]},{other}", output_dir=str(tmp_path / "e")))
  with pytest.raises(utils.Yt8mError, match="at least two"):
    ensemble.member_dirs(dirs[0])
  with pytest.raises(utils.Yt8mError, match="is given twice"):
    ensemble.member_dirs(f"{dirs[0]},{dirs[0]}")
  with pytest.raises(utils.Yt8mError, match="needs --output_dir"):
    export.export_checkpoint(export.ExportConfig(ensemble=",".join(dirs)))
  with pytest.raises(utils.Yt8mError, match="needs --ensemble"):
    export.export_checkpoint(export.ExportConfig(
        train_dir=dirs[0], ensemble_weights="1,2"))
