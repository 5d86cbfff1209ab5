"""Tests of the models, their registry and the frame helpers (tiny shapes)."""

import inspect
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.common import utils
from youtube8m.models import losses
from youtube8m.models import model_utils

NUM_CLASSES = 10
FEATURES = 8
FRAMES = 6
SMALL_FLAGS = dict(models.model_flag_defaults(), dbof_cluster_size=16,
                   dbof_hidden_size=8, lstm_cells=8, iterations=4)
# (model, flag overrides): every model, and the other DbofModel branches.
CASES = [
    ("LogisticModel", {}),
    ("MoeModel", {}),
    ("FrameLevelLogisticModel", {}),
    ("DbofModel", {}),
    ("DbofModel", {"dbof_add_batch_norm": False, "sample_random_frames": False,
                   "dbof_pooling_method": "average",
                   "dbof_activation": "relu6",
                   "video_level_classifier_model": "LogisticModel"}),
    ("LstmModel", {}),
]
FRAME_CASES = [c for c in CASES if models.get_model_class(c[0]).frame_level]


def _ids(cases):
  return [f"{name}-{i}" for i, (name, _) in enumerate(cases)]


def _build(name, overrides):
  return models.build_model(name, NUM_CLASSES, **{**SMALL_FLAGS, **overrides})


def _quantized_frames(rng, num_frames, total_frames=FRAMES):
  """uint8 [B, T, D] with zero bytes at frames >= num_frames (raw form)."""
  frames = rng.integers(1, 256, size=(len(num_frames), total_frames, FEATURES),
                        dtype=np.uint8)
  padding = np.arange(total_frames)[None, :] >= np.asarray(num_frames)[:, None]
  frames[padding] = 0
  return frames


def _float_frames(quantized, num_frames):
  """The float32 form the reader yields: dequantized, exact zero padding."""
  frames = utils.dequantize_np(quantized)
  valid = (np.arange(quantized.shape[1])[None, :] <
           np.asarray(num_frames)[:, None])
  return np.where(valid[:, :, None], frames, 0.0).astype(np.float32)


def _inputs(model, frames, num_frames):
  """Batch dict for `model`; video-level models get the first frame."""
  if model.frame_level:
    return {"video_matrix": frames,
            "num_frames": np.asarray(num_frames, np.int32)}
  return {"video_matrix": frames[:, 0],
          "num_frames": np.ones(len(frames), np.int32)}


def _predict(model, inputs, training=False):
  return model(inputs, training=training)["predictions"].numpy()


@pytest.mark.parametrize("name,overrides", CASES, ids=_ids(CASES))
def test_predictions_shape_range_and_raw_input(name, overrides):
  model = _build(name, overrides)
  rng = np.random.default_rng(0)
  num_frames = [FRAMES, 3, 1, 5]
  quantized = _quantized_frames(rng, num_frames)
  floats = _float_frames(quantized, num_frames)
  from_float = _predict(model, _inputs(model, floats, num_frames))
  from_raw = _predict(model, _inputs(model, quantized, num_frames))
  assert from_float.shape == (4, NUM_CLASSES)
  assert from_float.dtype == np.float32
  assert np.all(from_float > 0) and np.all(from_float < 1)
  np.testing.assert_allclose(from_raw, from_float, rtol=0, atol=1e-6)
  if model.frame_level:
    # The raw reader's form for several features: a tuple of uint8 parts.
    split = FEATURES // 3
    parts = (quantized[..., :split], quantized[..., split:])
    from_parts = _predict(model, _inputs(model, parts, num_frames))
    np.testing.assert_allclose(from_parts, from_float, rtol=0, atol=1e-6)
    # Big raw batches: each feature in batch row chunks, one maybe empty.
    chunks = ((parts[0][:1], parts[0][1:]),
              (parts[1][:3], parts[1][3:], parts[1][4:]))
    from_chunks = _predict(model, _inputs(model, chunks, num_frames))
    np.testing.assert_allclose(from_chunks, from_float, rtol=0, atol=1e-6)


def test_prepare_input_normalizes_and_keeps_padding_zero():
  rng = np.random.default_rng(7)
  num_frames = [FRAMES, 2]
  quantized = _quantized_frames(rng, num_frames)
  floats = _float_frames(quantized, num_frames)
  unit = floats / np.maximum(np.linalg.norm(floats, axis=-1, keepdims=True),
                             1e-6)
  for frames in (quantized, floats):
    prepared = model_utils.prepare_input(frames, num_frames).numpy()
    np.testing.assert_allclose(prepared, unit, rtol=0, atol=1e-6)
    assert np.all(prepared[1, 2:] == 0.0)  # padding bytes are not -1.99
  # Video-level vectors [B, D] may be quantized too.
  np.testing.assert_allclose(
      model_utils.prepare_input(quantized[:, 0], [1, 1]).numpy(), unit[:, 0],
      rtol=0, atol=1e-6)


def _learnable_batch(rng, model, batch=32):
  """Inputs whose labels are a linear function of the features."""
  directions = rng.normal(size=(batch, FEATURES)).astype(np.float32)
  true_weights = rng.normal(size=(FEATURES, NUM_CLASSES))
  labels = (directions @ true_weights > 0).astype(np.float32)
  num_frames = rng.integers(2, FRAMES + 1, size=batch)
  frames = directions[:, None, :] + 0.3 * rng.normal(
      size=(batch, FRAMES, FEATURES))
  frames[np.arange(FRAMES)[None, :] >= num_frames[:, None]] = 0.0
  return _inputs(model, frames.astype(np.float32), num_frames), labels


@pytest.mark.parametrize("name,overrides", CASES, ids=_ids(CASES))
def test_training_reduces_loss(name, overrides):
  model = _build(name, overrides)
  inputs, labels = _learnable_batch(np.random.default_rng(1), model)
  label_loss = losses.get_loss("CrossEntropyLoss")
  optimizer = keras.optimizers.Adam(learning_rate=0.1)

  def total_loss():
    predictions = model(inputs, training=True)["predictions"]
    return (label_loss.calculate_loss(predictions, labels) +
            losses.regularization_loss(model))

  tf.random.set_seed(7)
  first = float(total_loss())
  # Eager steps: for tiny models tracing a tf.function costs more than this.
  for _ in range(12):
    with tf.GradientTape() as tape:
      loss = total_loss()
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
  tf.random.set_seed(7)
  last = float(total_loss())
  assert last < 0.85 * first, (first, last)


@pytest.mark.parametrize("name,overrides", FRAME_CASES, ids=_ids(FRAME_CASES))
def test_extra_zero_padding_changes_nothing(name, overrides):
  model = _build(name, overrides)
  rng = np.random.default_rng(2)
  num_frames = [FRAMES, 2, 1, 4]
  short = _quantized_frames(rng, num_frames)
  padded = np.concatenate(
      [short, np.zeros((4, 5, FEATURES), np.uint8)], axis=1)
  for frames_short, frames_padded in [
      (short, padded),
      (_float_frames(short, num_frames), _float_frames(padded, num_frames))]:
    expected = _predict(model, _inputs(model, frames_short, num_frames))
    np.testing.assert_allclose(
        _predict(model, _inputs(model, frames_padded, num_frames)), expected,
        rtol=0, atol=1e-6)
  # Training-time sampling draws [B, K] numbers whatever T is.
  tf.random.set_seed(3)
  expected = _predict(model, _inputs(model, short, num_frames), training=True)
  tf.random.set_seed(3)
  np.testing.assert_allclose(
      _predict(model, _inputs(model, padded, num_frames), training=True),
      expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name,overrides", FRAME_CASES, ids=_ids(FRAME_CASES))
def test_inference_is_deterministic(name, overrides):
  model = _build(name, overrides)
  rng = np.random.default_rng(3)
  num_frames = [FRAMES, 5, 3]
  inputs = _inputs(model, _float_frames(_quantized_frames(rng, num_frames),
                                        num_frames), num_frames)
  first = _predict(model, inputs)
  np.testing.assert_array_equal(_predict(model, inputs), first)
  if name == "DbofModel":
    # ... while training samples frames at random.
    draws = [_predict(model, inputs, training=True) for _ in range(3)]
    assert any(not np.allclose(draws[0], d) for d in draws[1:])


@pytest.mark.parametrize("name", ["DbofModel", "LstmModel"])
def test_traced_with_unknown_frame_count(name):
  model = _build(name, {})
  serve = tf.function(
      lambda frames, num_frames: model(
          {"video_matrix": frames, "num_frames": num_frames})["predictions"],
      input_signature=[tf.TensorSpec([None, None, FEATURES], tf.uint8),
                       tf.TensorSpec([None], tf.int32)])
  rng = np.random.default_rng(6)
  for total_frames in (FRAMES, 2 * FRAMES):
    num_frames = np.array([total_frames, 2], np.int32)
    frames = _quantized_frames(rng, num_frames, total_frames)
    np.testing.assert_allclose(
        serve(frames, num_frames).numpy(),
        _predict(model, _inputs(model, frames, num_frames)), rtol=0,
        atol=1e-6)


def test_frame_samplers_pick_valid_frames():
  # Frame t of video b holds the value t + 1; padding holds 0.
  num_frames = np.array([10, 3, 1, 7], np.int32)
  values = np.arange(1, 11, dtype=np.float32)[None, :] * (
      np.arange(10)[None, :] < num_frames[:, None])
  frames = tf.constant(values[:, :, None])
  k = 5

  def sampled(fn, *args):
    return fn(frames, num_frames, k, *args).numpy()[:, :, 0]

  np.testing.assert_array_equal(
      sampled(model_utils.sample_evenly),
      [[2, 4, 6, 8, 10], [1, 1, 2, 3, 3], [1] * 5, [1, 3, 4, 5, 7]])
  np.testing.assert_array_equal(
      sampled(model_utils.sample_centered_sequence),
      [[3, 4, 5, 6, 7], [1, 2, 3, 3, 3], [1] * 5, [2, 3, 4, 5, 6]])
  tf.random.set_seed(5)
  for _ in range(20):
    picks = sampled(model_utils.sample_random_frames)
    assert np.all(picks >= 1) and np.all(picks <= num_frames[:, None])
    runs = sampled(model_utils.sample_random_sequence)
    assert np.all(runs >= 1) and np.all(runs <= num_frames[:, None])
    # Consecutive frames, except that short videos repeat their last one.
    steps = np.diff(runs, axis=1)
    assert np.all((steps == 1) | ((steps == 0) &
                                  (runs[:, 1:] == num_frames[:, None])))


def test_frame_pooling_skips_padding():
  frames = np.array([[[1., -2.], [3., -4.], [0., 0.]],
                     [[-5., 6.], [0., 0.], [0., 0.]]], np.float32)
  num_frames = np.array([2, 1], np.int32)
  np.testing.assert_allclose(
      model_utils.frame_pooling(frames, "max", num_frames),
      [[3., -2.], [-5., 6.]])
  np.testing.assert_allclose(
      model_utils.frame_pooling(frames, "average", num_frames),
      [[2., -3.], [-5., 6.]])
  np.testing.assert_allclose(model_utils.frame_pooling(frames, "max"),
                             [[3., 0.], [0., 6.]])
  with pytest.raises(utils.Yt8mError, match="median"):
    model_utils.frame_pooling(frames, "median")


def test_moe_matches_formula():
  classes, mixtures, batch = 3, 2, 4
  model = models.build_model("MoeModel", classes, moe_num_mixtures=mixtures)
  model.create_variables(FEATURES)
  rng = np.random.default_rng(4)
  gate_kernel = rng.normal(size=(FEATURES, classes * (mixtures + 1)))
  expert_kernel = rng.normal(size=(FEATURES, classes * mixtures))
  expert_bias = rng.normal(size=classes * mixtures)
  model.gates.set_weights([gate_kernel])
  model.experts.set_weights([expert_kernel, expert_bias])
  x = rng.normal(size=(batch, FEATURES))
  predictions = _predict(model, {"video_matrix": x.astype(np.float32),
                                 "num_frames": np.ones(batch, np.int32)})

  unit = x / np.linalg.norm(x, axis=1, keepdims=True)
  # Class-major: class c owns gate columns c*(M+1) ... c*(M+1)+M.
  gate_logits = (unit @ gate_kernel).reshape(batch, classes, mixtures + 1)
  gates = np.exp(gate_logits) / np.exp(gate_logits).sum(-1, keepdims=True)
  experts = 1 / (1 + np.exp(-(unit @ expert_kernel + expert_bias)))
  experts = experts.reshape(batch, classes, mixtures)
  expected = (gates[:, :, :mixtures] * experts).sum(-1)
  np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)

  # A dominant dummy gate drives every prediction to 0.
  dummy_heavy = np.zeros_like(gate_kernel)
  dummy_heavy[:, mixtures::mixtures + 1] = 50.0  # logit >= 50 for x >= 0
  model.gates.set_weights([dummy_heavy])
  near_zero = _predict(model, {"video_matrix": np.abs(x).astype(np.float32),
                               "num_frames": np.ones(batch, np.int32)})
  assert np.all(near_zero < 1e-6)


@pytest.mark.parametrize("name", ["LogisticModel", "MoeModel",
                                  "FrameLevelLogisticModel"])
def test_l2_regularization_is_half_penalty_times_squares(name):
  model = models.build_model(name, NUM_CLASSES, l2_penalty=0.1)
  model.create_variables(FEATURES)
  kernels = [v.numpy() for v in model.trainable_variables
             if v.path.endswith("kernel")]
  assert len(kernels) == (2 if name == "MoeModel" else 1)
  expected = 0.1 * sum(np.sum(k ** 2) for k in kernels) / 2
  np.testing.assert_allclose(float(tf.add_n(model.losses)), expected,
                             rtol=1e-5)


@pytest.mark.parametrize("name,overrides", CASES, ids=_ids(CASES))
def test_checkpoint_restores_every_variable(name, overrides, tmp_path):
  model = _build(name, overrides)
  inputs, _ = _learnable_batch(np.random.default_rng(5), model, batch=4)
  _predict(model, inputs, training=True)  # moves batch-norm statistics
  path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
  restored = _build(name, overrides)
  # Restored before the first call: variables get their values on creation.
  status = tf.train.Checkpoint(model=restored).restore(path)
  np.testing.assert_array_equal(_predict(restored, inputs),
                                _predict(model, inputs))
  status.assert_existing_objects_matched()


def test_unknown_model_lists_registered_names():
  with pytest.raises(utils.Yt8mError) as error:
    models.get_model_class("BigModel")
  message = str(error.value)
  assert "BigModel" in message and "\n" not in message
  for name in ("LogisticModel", "MoeModel", "FrameLevelLogisticModel",
               "DbofModel", "LstmModel"):
    assert name in message


def test_frame_level_attribute_and_input_rank():
  # The package's models (other tests register models of their own).
  frame = {n for n in models.registered_names()
           if models.get_model_class(n).frame_level and
           models.get_model_class(n).__module__.startswith("youtube8m.")}
  assert {"DbofModel", "FrameLevelLogisticModel", "LstmModel", "NetVLADModel",
          "NeXtVLADModel", "MixNeXtVLADModel", "NetFVModel",
          "SoftDbofModel", "TransformerModel", "GruModel",
          "AttentionLstmModel"} == frame
  assert not frame & {"LogisticModel", "MoeModel"}
  with pytest.raises(utils.Yt8mError, match="frame_features"):
    _build("DbofModel", {})({"video_matrix": np.zeros((2, FEATURES),
                                                       np.float32),
                             "num_frames": np.ones(2, np.int32)})
  with pytest.raises(utils.Yt8mError, match="video-level"):
    _build("MoeModel", {})({"video_matrix": np.zeros((2, 3, FEATURES),
                                                      np.float32),
                            "num_frames": np.ones(2, np.int32)})


USER_MODULE = """
import tensorflow as tf
from youtube8m import models

class SumSigmoidModel(models.BaseModel):
  def __init__(self, num_classes, **model_flags):
    super().__init__(num_classes, **model_flags)
    self.shift = self.add_weight(shape=(num_classes,), initializer="zeros")

  def classify(self, model_input, num_frames, training=False):
    return tf.sigmoid(tf.reduce_sum(model_input, 1, keepdims=True) +
                      self.shift)

class NotAModel:
  pass
"""


def test_user_model_by_dotted_path(tmp_path, monkeypatch):
  (tmp_path / "yt8m_user_models_test.py").write_text(
      textwrap.dedent(USER_MODULE))
  monkeypatch.syspath_prepend(str(tmp_path))
  path = "yt8m_user_models_test.SumSigmoidModel"
  # A path is only looked up until it is imported, which the command line
  # does for the paths the user typed (model_config.resolve).
  with pytest.raises(utils.Yt8mError, match="was not imported"):
    models.build_model(path, 3, **SMALL_FLAGS)
  assert "yt8m_user_models_test" not in sys.modules
  models.import_model_class(path)
  model = models.build_model(path, 3, **SMALL_FLAGS)
  x = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)
  predictions = _predict(model, {"video_matrix": x,
                                 "num_frames": np.ones(2, np.int32)})
  # The base class l2-normalized the input before classify().
  expected = 1 / (1 + np.exp(-np.array([1.4, 1.0])))
  np.testing.assert_allclose(predictions, np.repeat(expected[:, None], 3, 1),
                             rtol=1e-6)
  assert models.get_model_class("SumSigmoidModel") is type(model)

  with pytest.raises(utils.Yt8mError, match="no class 'Missing'"):
    models.import_model_class("yt8m_user_models_test.Missing")
  with pytest.raises(utils.Yt8mError, match="not a subclass"):
    models.import_model_class("yt8m_user_models_test.NotAModel")
  with pytest.raises(utils.Yt8mError, match="cannot import module"):
    models.import_model_class("no_such_yt8m_package.models.MyModel")


@pytest.mark.parametrize("flag,value", [
    ("dbof_pooling_method", "median"), ("dbof_activation", "tanh"),
    ("iterations", 0), ("dbof_cluster_size", -1), ("moe_num_mixtures", 0),
    ("video_level_classifier_model", "LstmModel"),
    ("video_level_classifier_model", "NoSuchModel"), ("l2_penalty", -1.0),
    ("sample_random_frames", "yes")])
def test_bad_model_flags_are_named(flag, value):
  name = "MoeModel" if flag == "moe_num_mixtures" else (
      "LogisticModel" if flag == "l2_penalty" else "DbofModel")
  with pytest.raises(utils.Yt8mError, match=flag):
    models.build_model(name, NUM_CLASSES, **dict(SMALL_FLAGS, **{flag: value}))


def test_model_signatures_use_the_flag_defaults():
  defaults = models.model_flag_defaults()
  used = set()
  for name in models.registered_names():
    signature = inspect.signature(models.get_model_class(name))
    for param in signature.parameters.values():
      if param.name in defaults:
        used.add(param.name)
        assert param.default == defaults[param.name], (name, param.name)
  assert used == set(defaults)
  assert all(flag.help for flag in models.MODEL_FLAGS.values())


def test_a_flag_defined_twice_with_another_default_is_refused():
  same = models.MODEL_FLAGS["l2_penalty"]
  assert models.define_flag(same.name, same.default, same.help,
                            same.check) == same
  with pytest.raises(utils.Yt8mError, match="l2_penalty"):
    models.define_flag("l2_penalty", 0.5, "another default")
