"""export.py: the SavedModel's signatures and export_checkpoint."""

import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.models import model_config
from youtube8m.serving import export

from support import records
from support import tiny


def test_export_checkpoint_serves_the_same_predictions(tmp_path):
  path, videos = tiny.video_file(tmp_path / "v.tfrecord", count=5)
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", step=12)
  out = export.export_checkpoint(export.ExportConfig(train_dir=train_dir,
                                                     top_k=3))
  assert out == os.path.join(train_dir, "export", "step_12")
  assert model_config.load(out) == model_config.load(train_dir)
  assert not [n for n in os.listdir(os.path.dirname(out)) if "tmp" in n]
  serve, _ = export.load_serving_fn(out)
  serialized = [r.numpy() for r in tf.data.TFRecordDataset(path)]
  result = serve(serialized=tf.constant(serialized))
  assert [v.decode() for v in result["video_id"].numpy()] == list(videos)
  features = np.stack([f for _, f in videos.values()])
  features /= np.linalg.norm(features, axis=1, keepdims=True)
  want = model({"video_matrix": tf.constant(features),
                "num_frames": tf.ones([5], tf.int32)})["predictions"].numpy()
  top = np.argsort(-want, axis=1, kind="stable")[:, :3]
  np.testing.assert_array_equal(result["class_indexes"].numpy(), top)
  np.testing.assert_allclose(result["predictions"].numpy(),
                             np.take_along_axis(want, top, 1), rtol=1e-6)


def test_predict_features_signature(tmp_path):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run")
  out = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm")))
  loaded = tf.saved_model.load(out)
  x = tf.constant(np.random.default_rng(0).normal(
      size=(2, tiny.FEATURES)).astype(np.float32))
  got = loaded.signatures["predict_features"](
      video_matrix=x, num_frames=tf.ones([2], tf.int32))["predictions"]
  want = model({"video_matrix": x, "num_frames": tf.ones([2], tf.int32)})
  np.testing.assert_allclose(got, want["predictions"], rtol=1e-6)


def test_not_a_saved_model_is_named(tmp_path):
  with pytest.raises(utils.Yt8mError, match="is not a SavedModel"):
    export.load_serving_fn(str(tmp_path))
  assert not export.is_saved_model(str(tmp_path))
  assert not export.is_saved_model("")


def _saved_dtypes(export_dir):
  """The dtypes of the variables a SavedModel stores."""
  reader = tf.train.load_checkpoint(os.path.join(export_dir, "variables",
                                                 "variables"))
  return {dtype for name, dtype in reader.get_variable_to_dtype_map().items()
          if "VARIABLE_VALUE" in name}


def _directory_bytes(path):
  return sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(path) for name in names)


def test_float16_export_is_half_the_size_and_serves_the_same_top_k(
    tmp_path):
  flags = tiny.video_flags(feature_sizes="512", num_classes=1000)
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", flags, scale=4.0)
  rng = np.random.default_rng(1)
  features = rng.normal(size=(16, 512)).astype(np.float32)
  serialized = [records.video_record(f"v{n}", [1], {"mean_rgb": f})
                for n, f in enumerate(features)]
  outputs = {}
  for float16 in (False, True):
    out = export.export_checkpoint(export.ExportConfig(
        train_dir=train_dir, output_dir=str(tmp_path / f"sm{float16}"),
        top_k=5, export_float16=float16))
    loaded = tf.saved_model.load(out)
    assert _saved_dtypes(out) == ({tf.float16} if float16 else {tf.float32})
    served = loaded.signatures["serving_default"](
        serialized=tf.constant(serialized))
    predicted = loaded.signatures["predict_features"](
        video_matrix=tf.constant(features),
        num_frames=tf.ones([16], tf.int32))["predictions"]
    assert served["predictions"].dtype == predicted.dtype == tf.float32
    outputs[float16] = (out, served, predicted.numpy())
  (full, full_served, full_all), (half, half_served, half_all) = (
      outputs[False], outputs[True])
  ratio = (_directory_bytes(os.path.join(half, "variables")) /
           _directory_bytes(os.path.join(full, "variables")))
  assert 0.45 < ratio < 0.55, ratio
  assert _directory_bytes(half) < 0.6 * _directory_bytes(full)
  np.testing.assert_array_equal(half_served["class_indexes"],
                                full_served["class_indexes"])
  np.testing.assert_allclose(half_served["predictions"],
                             full_served["predictions"], atol=1e-2)
  np.testing.assert_allclose(half_all, full_all, atol=1e-2)
  assert not np.array_equal(half_all, full_all)  # really float16 weights
