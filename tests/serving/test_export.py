"""export.py: the SavedModel's signatures and export_checkpoint."""

import json
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


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _variables_named(export_dir):
  reader = tf.train.load_checkpoint(os.path.join(export_dir, "variables",
                                                 "variables"))
  return {name: reader.get_tensor(name) for name in
          reader.get_variable_to_dtype_map() if "VARIABLE_VALUE" in name}


@pytest.mark.parametrize("per_channel", [True, False])
def test_int8_export_is_a_quarter_and_computes_with_dequantized_weights(
    tmp_path, per_channel):
  flags = tiny.video_flags(feature_sizes="512", num_classes=1000)
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", flags, scale=4.0)
  kernel, bias = [v.numpy() for v in model.trainable_variables]
  assert kernel.shape == (512, 1000)
  full = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "f32")))
  small = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "i8"), quantize="int8",
      quantize_per_channel=per_channel))
  assert _saved_dtypes(small) == {tf.int8, tf.float32}
  assert _directory_bytes(small) <= 0.35 * _directory_bytes(full)
  # What the export stores: the kernel's int8 values and scales, as numpy
  # quantizes them; the bias stays float32.
  stored = _variables_named(small)
  q = next(v for v in stored.values() if v.dtype == np.int8)
  scales = next(v for v in stored.values() if v.dtype == np.float32 and
                v.size in (1, 1000) and not np.array_equal(v, bias))
  peak = np.abs(kernel).max(axis=0 if per_channel else None)
  np.testing.assert_allclose(scales, peak / 127, rtol=1e-6)
  dequantized = q.astype(np.float64) * scales
  assert np.abs(dequantized - kernel).max() <= scales.max() / 2 * 1.000001

  # Its predictions are the model's on the dequantized weights (numpy).
  x = np.random.default_rng(2).normal(size=(6, 512)).astype(np.float32)
  loaded = tf.saved_model.load(small)
  got = loaded.signatures["predict_features"](
      video_matrix=tf.constant(x),
      num_frames=tf.ones([6], tf.int32))["predictions"].numpy()
  unit = x / np.linalg.norm(x, axis=1, keepdims=True)
  np.testing.assert_allclose(got, _sigmoid(unit @ dequantized + bias),
                             atol=1e-5)
  sizes = json.load(open(os.path.join(small, "model_size.json")))
  assert sizes["parameters"] == 512 * 1000 + 1000
  assert sizes["bytes_stored"] == 512 * 1000 + 4 * (
      1000 + (1000 if per_channel else 1))


def test_int8_with_float16_stores_the_rest_in_float16(tmp_path):
  flags = tiny.video_flags(feature_sizes="512", num_classes=100)
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", flags)
  out = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm"), quantize="int8",
      export_float16=True))
  # int8 kernel, float32 scales, float16 bias.
  assert _saved_dtypes(out) == {tf.int8, tf.float32, tf.float16}


def test_a_bad_quantize_value_is_named(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  with pytest.raises(utils.Yt8mError, match="--quantize='int4'"):
    export.export_checkpoint(export.ExportConfig(
        train_dir=train_dir, output_dir=str(tmp_path / "sm"),
        quantize="int4"))
  assert not os.path.exists(tmp_path / "sm")
