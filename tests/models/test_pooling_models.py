"""Tests of the learnable pooling models and layers (tiny shapes, real TF)."""

import json
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m import models
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.evaluation import eval_util
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import losses
from youtube8m.models import model_config
from youtube8m.models import pooling_layers
from youtube8m.training import train_lib

C, D, T = 5, 8, 6  # classes, features, frames
SMALL = dict(models.model_flag_defaults(), netvlad_cluster_size=4,
             netvlad_hidden_size=8, fv_cluster_size=4, fv_hidden_size=8,
             dbof_cluster_size=8, dbof_hidden_size=8, groups=2,
             nextvlad_cluster_size=4, nextvlad_hidden_size=8,
             gating_reduction=2, mix_number=2, iterations=4)
LOGISTIC = {"video_level_classifier_model": "LogisticModel"}
GATED = {"gating": True, "gating_remove_diag": True, "moe_prob_gating": True}
CASES = [
    ("NetVLADModel", {}),
    ("NetVLADModel", dict(GATED, lightvlad=True, netvlad_add_batch_norm=False,
                          sample_random_frames=False)),
    ("NetFVModel", dict(GATED, fv_couple_weights=False)),
    ("SoftDbofModel", {"softdbof_maxpool": True, "gating": True}),
    ("NeXtVLADModel", {}),
    ("MixNeXtVLADModel", LOGISTIC),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
# One case per model for the slower tests (XLA compiles).
FIRST = [CASES[i] for i in (0, 2, 3, 4, 5)]


def _build(name, seed=0, **overrides):
  keras.utils.set_random_seed(seed)  # the same initial weights every time
  return models.build_model(name, C, **{**SMALL, **overrides})


def _frames(rng, num_frames, total=T, features=D):
  """float32 [B, total, features]: unit frames, exact zero padding."""
  x = rng.normal(size=(len(num_frames), total, features)).astype(np.float32)
  x /= np.linalg.norm(x, axis=-1, keepdims=True)
  x[np.arange(total)[None, :] >= np.asarray(num_frames)[:, None]] = 0.0
  return x


def _batch(frames, num_frames, **extra):
  return dict(video_matrix=frames,
              num_frames=np.asarray(num_frames, np.int32), **extra)


def _predict(model, batch, training=False):
  return model(batch, training=training)["predictions"].numpy()


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_shape_range_raw_and_tuple_input(name, overrides):
  model = _build(name, **overrides)
  rng = np.random.default_rng(0)
  num_frames = [T, 3, 1, 5]
  raw = rng.integers(1, 256, size=(4, T, D), dtype=np.uint8)
  raw[np.arange(T)[None, :] >= np.array(num_frames)[:, None]] = 0
  floats = utils.dequantize_np(raw)
  floats[raw.max(-1) == 0] = 0.0
  expected = _predict(model, _batch(floats, num_frames))
  assert expected.shape == (4, C) and expected.dtype == np.float32
  assert np.all(expected > 0) and np.all(expected < 1)
  for form in (raw, (raw[..., :3], raw[..., 3:])):
    np.testing.assert_allclose(_predict(model, _batch(form, num_frames)),
                               expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_padding_changes_nothing(name, overrides):
  # drop_rate 0: dropout's draws would differ between the two calls.
  model = _build(name, **dict(overrides, drop_rate=0.0))
  num_frames = [T, 2, 1]
  short = _frames(np.random.default_rng(1), num_frames)
  padded = np.concatenate([short, np.zeros((3, 4, D), np.float32)], axis=1)
  for training in (False, True):
    # Frame samplers draw [B, K] numbers whatever T is; batch norm in
    # training uses only the valid frames' statistics.
    tf.random.set_seed(3)
    expected = _predict(model, _batch(short, num_frames), training)
    tf.random.set_seed(3)
    np.testing.assert_allclose(
        _predict(model, _batch(padded, num_frames), training), expected,
        rtol=0, atol=1e-5)


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_eval_is_deterministic_and_training_is_not(name, overrides):
  model = _build(name, **overrides)
  batch = _batch(_frames(np.random.default_rng(2), [T, 5, 3]), [T, 5, 3])
  first = _predict(model, batch)
  np.testing.assert_array_equal(_predict(model, batch), first)
  # Random frames (Willow models) or dropout (NeXtVLAD) while training.
  if overrides.get("sample_random_frames", True):
    draws = [_predict(model, batch, training=True) for _ in range(3)]
    assert any(not np.allclose(draws[0], d) for d in draws[1:])


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_checkpoint_round_trip(name, overrides, tmp_path):
  model = _build(name, **overrides)
  batch = _batch(_frames(np.random.default_rng(3), [T, 4]), [T, 4])
  _predict(model, batch, training=True)  # moves batch-norm statistics
  path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
  restored = _build(name, seed=1, **overrides)
  # Restored before the first call: variables get their values on creation.
  status = tf.train.Checkpoint(model=restored).restore(path)
  np.testing.assert_array_equal(_predict(restored, batch),
                                _predict(model, batch))
  status.assert_existing_objects_matched()


@pytest.mark.parametrize("name,overrides", FIRST, ids=[c[0] for c in FIRST])
@pytest.mark.slow
def test_compiled_gradient_step_reduces_loss(name, overrides):
  model = _build(name, **overrides)
  rng = np.random.default_rng(4)
  num_frames = rng.integers(2, T + 1, size=32)
  direction = rng.normal(size=(32, D)).astype(np.float32)
  labels = (direction @ rng.normal(size=(D, C)) > 0).astype(np.float32)
  frames = direction[:, None, :] + 0.3 * rng.normal(size=(32, T, D))
  frames[np.arange(T)[None, :] >= num_frames[:, None]] = 0.0
  batch = _batch(frames.astype(np.float32), num_frames, labels=labels)
  model.create_variables(D)
  optimizer = keras.optimizers.Adam(learning_rate=0.05)
  optimizer.build(model.trainable_variables)
  label_loss = losses.get_loss("CrossEntropyLoss")

  def step(batch, update):  # as the trainer's: label + regularization loss
    with tf.GradientTape() as tape:
      predictions = model(batch, training=True)["predictions"]
      loss = (label_loss.calculate_loss(predictions, batch["labels"]) +
              losses.regularization_loss(model))
    if update:
      variables = model.trainable_variables
      optimizer.apply(tape.gradient(loss, variables), variables)
    return loss

  assert model.jit_compile
  compiled = tf.function(step, jit_compile=True)
  first = np.mean([float(step(batch, False)) for _ in range(3)])
  for _ in range(15):
    compiled(batch, True)
  last = np.mean([float(step(batch, False)) for _ in range(3)])
  assert last < 0.85 * first, (first, last)


def _weight_count(model, trainable=False):
  model.create_variables(D)
  weights = model.trainable_weights if trainable else model.weights
  return int(sum(np.prod(w.shape) for w in weights))


@pytest.mark.parametrize("overrides", [
    {}, {"lightvlad": True}, {"netvlad_add_batch_norm": False},
    GATED, dict(GATED, netvlad_add_batch_norm=False, lightvlad=True)])
def test_netvlad_parameter_count(overrides):
  flags = {**SMALL, **overrides}
  k, h, m = 4, 8, flags["moe_num_mixtures"]
  bn = flags["netvlad_add_batch_norm"]
  # BatchNormalization holds 4 numbers per unit (2 trainable) and its
  # update count (--debias_batch_norm); else a bias.
  norm = (lambda n: 4 * n + 1) if bn else (lambda n: n)
  expected = ((norm(D) if bn else 0) + D * k + norm(k)  # input bn, assign
              + (0 if flags["lightvlad"] else k * D)  # centres
              + k * D * h + h  # hidden layer
              + h * C * (m + 1) + h * C * m + C * m)  # MoeModel
  if flags["gating"]:
    expected += h * h + norm(h)
  if flags["moe_prob_gating"]:
    expected += C * C + 4 * C + 1
  assert _weight_count(_build("NetVLADModel", **overrides)) == expected


def test_nextvlad_parameter_count_and_the_papers_formula():
  lam, g, k, h, r = 2, 2, 4, 8, 2
  f = lam * D // g
  vlad = (D * lam * D + lam * D  # expansion
          + lam * D * g + g  # group attention
          + lam * D * g * k + 4 * g * k + 1  # assignment + batch norm
          + k * f + 4 * k * f + 1)  # centres, vlad batch norm (+ counts)
  top = (k * f * h + 4 * h + 1 + h * (h // r) + 4 * (h // r) + 1 +
         (h // r) * h)
  model = _build("NeXtVLADModel", **LOGISTIC)
  assert _weight_count(model) == vlad + top + h * C + C
  # Eq. 9 of Lin et al. counts the weight matrices up to the hidden layer.
  paper = lam * D * (D + g + k * (g + (h + 1) / g))
  matrices = [w for w in model.trainable_weights
              if "kernel" in w.path or "centers" in w.path]
  total = sum(np.prod(w.shape) for w in matrices)
  gating_and_logistic = h * (h // r) * 2 + h * C
  assert total - gating_and_logistic == paper


@pytest.mark.parametrize("name,overrides,flag,value,delta", [
    ("NetFVModel", {}, "fv_couple_weights", False, 4 * D),  # own means
    ("SoftDbofModel", {}, "softdbof_maxpool", True, 8 * 8),  # 2K hidden rows
    ("MixNeXtVLADModel", {}, "mix_number", 3, None),
])
def test_flags_change_the_parameters(name, overrides, flag, value, delta):
  base = _weight_count(_build(name, **overrides), trainable=True)
  changed = _build(name, **{**overrides, flag: value})
  grown = _weight_count(changed, trainable=True)
  if delta is None:
    # Two students, the mixture's batch norm (2 D) and gate (D * 2 + 2);
    # a third student adds one student and a gate column.
    assert hasattr(changed, "branch_2") and not hasattr(changed, "branch_3")
    delta = (base - 2 * D - (D * 2 + 2)) // 2 + D + 1
  assert grown - base == delta


@pytest.mark.parametrize("name,flag,value", [
    ("NetVLADModel", "iterations", 2),
    ("NetVLADModel", "sample_random_frames", False),
    ("NetFVModel", "fv_coupling_factor", 0.5),
    ("NetVLADModel", "gating_remove_diag", True),
    ("NeXtVLADModel", "expansion", 4),
    ("MixNeXtVLADModel", "cl_temperature", 1.0),  # training loss only
])
def test_flags_change_the_outputs(name, flag, value):
  overrides = {"gating": True} if flag == "gating_remove_diag" else {}
  batch = _batch(_frames(np.random.default_rng(5), [T, 5]), [T, 5])

  def outputs(**flags):
    model = _build(name, **overrides, **flags)
    if flag == "cl_temperature":
      model(batch, training=True)
      return float(model.losses[0])  # the distillation term
    return _predict(model, batch)

  assert not np.allclose(outputs(), outputs(**{flag: value}))


@pytest.mark.parametrize("name,flag,value", [
    ("NetVLADModel", "netvlad_cluster_size", 0),
    ("NetVLADModel", "lightvlad", "yes"), ("NetVLADModel", "gating", 1),
    ("NetVLADModel", "moe_prob_gating", None),
    ("NetFVModel", "fv_coupling_factor", 0.0),
    ("NetFVModel", "fv_hidden_size", 1.5),
    ("SoftDbofModel", "softdbof_maxpool", "no"),
    ("NeXtVLADModel", "drop_rate", 1.0), ("NeXtVLADModel", "groups", 0),
    ("NeXtVLADModel", "expansion", -2),
    ("MixNeXtVLADModel", "mix_number", 0),
    ("MixNeXtVLADModel", "cl_temperature", 0.0),
    ("MixNeXtVLADModel", "cl_lambda", -1.0),
    ("NetVLADModel", "pooling_bn_momentum", 1.0),
    ("MixNeXtVLADModel", "pooling_bn_momentum", -0.1),
    ("MixNeXtVLADModel", "video_level_classifier_model", "NetVLADModel")])
def test_bad_flags_are_named(name, flag, value):
  with pytest.raises(utils.Yt8mError, match=flag):
    _build(name, **{flag: value})


def test_batch_norm_momentum_reaches_every_batch_norm():
  def momenta(model):
    model.create_variables(D)
    found, stack = [], [model]
    while stack:  # the layer tree, through the tracked attributes
      layer = stack.pop()
      if isinstance(layer, keras.layers.BatchNormalization):
        found.append(layer.momentum)
      stack.extend(v for v in vars(layer).values()
                   if isinstance(v, keras.layers.Layer) and v is not layer)
    return found

  for name, overrides in CASES:
    default = momenta(_build(name, **overrides))
    assert default and set(default) == {0.999}, name
    assert set(momenta(_build(name, pooling_bn_momentum=0.9,
                              **overrides))) == {0.9}, name


@pytest.mark.parametrize("flag,value", [("groups", 3),
                                        ("gating_reduction", 16)])
def test_impossible_shapes_name_the_flag(flag, value):
  with pytest.raises(utils.Yt8mError, match=flag):
    _build("NeXtVLADModel", **{flag: value}).create_variables(D)


def test_rgb_and_audio_are_pooled_separately():
  # 1152 = rgb 1024 + audio 128; audio: half the clusters (Soft-DBoF: 1/8)
  # and, in NeXtVLAD, half the groups.
  rows = {"NetVLADModel": 4 * 1024 + 2 * 128, "SoftDbofModel": 8 + 1,
          "NeXtVLADModel": 4 * (2 * 1024 // 2) + 2 * (2 * 128 // 1)}
  for name, expected in rows.items():
    model = _build(name)
    model.create_variables(1152)
    hidden = model.branch.hidden if name == "NeXtVLADModel" else model.hidden
    assert hidden.kernel.shape[0] == expected, name


def _softmax(x, axis=-1):
  e = np.exp(x - x.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def _unit(x, axis=-1):
  return x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


@pytest.mark.parametrize("residuals", [True, False])
def test_netvlad_layer_matches_numpy(residuals):
  rng = np.random.default_rng(6)
  b, t, d, k = 2, 4, 3, 2
  x = rng.normal(size=(b, t, d)).astype(np.float32)  # padding: nonzero junk
  valid = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], np.float32)
  layer = pooling_layers.NetVLAD(k, add_batch_norm=False, residuals=residuals)
  layer(x, valid)
  w, bias, c = rng.normal(size=(d, k)), rng.normal(size=k), rng.normal(
      size=(k, d))
  layer.assign.kernel.assign(w)
  layer.assign.bias.assign(bias)
  if residuals:
    layer.centers.assign(c)
  a = _softmax(x @ w + bias) * valid[:, :, None]  # [B, T, K]
  vlad = np.einsum("btk,btd->bkd", a, x)
  if residuals:
    vlad -= a.sum(1)[:, :, None] * c[None]
  expected = _unit(_unit(vlad).reshape(b, k * d))
  np.testing.assert_allclose(layer(x, valid).numpy(), expected, atol=1e-5)


def test_nextvlad_layer_matches_numpy():
  rng = np.random.default_rng(7)
  b, t, d, g, k, lam = 2, 3, 4, 2, 3, 2
  f = lam * d // g
  x = rng.normal(size=(b, t, d)).astype(np.float32)
  valid = np.array([[1, 1, 1], [1, 0, 0]], np.float32)
  layer = pooling_layers.NeXtVLAD(k, g, lam)
  layer(x, valid)
  for v in layer.weights:
    if v.trainable:
      v.assign(rng.normal(size=v.shape))
  w = {v.path.split("/")[-2] + "/" + v.name: v.numpy() for v in layer.weights}
  bn = 1 / np.sqrt(1 + 1e-3)  # inference batch norm at its initial state
  wide = x @ w["expand/kernel"] + w["expand/bias"]
  attention = 1 / (1 + np.exp(-(wide @ w["attention/kernel"] +
                                w["attention/bias"]))) * valid[:, :, None]
  logits = (wide @ w["cluster/kernel"]) * bn * w["cluster_bn/gamma"] + w[
      "cluster_bn/beta"]
  a = _softmax(logits.reshape(b, t, g, k)) * attention[..., None]
  grouped = wide.reshape(b, t, g, f)
  vlad = (np.einsum("btgk,btgf->bkf", a, grouped) -
          a.sum((1, 2))[:, :, None] * layer.centers.numpy()[None])
  vlad = _unit(vlad).reshape(b, k * f)
  expected = vlad * bn * w["vlad_bn/gamma"] + w["vlad_bn/beta"]
  np.testing.assert_allclose(layer(x, valid).numpy(), expected, rtol=1e-4,
                             atol=1e-4)


@pytest.mark.parametrize("remove_diag", [False, True])
def test_context_gating_diagonal(remove_diag):
  x = np.random.default_rng(8).normal(size=(3, 4)).astype(np.float32)
  layer = pooling_layers.ContextGating(False, remove_diag)
  before = layer(x).numpy()
  layer.kernel.assign(layer.kernel + 5.0 * tf.eye(4))
  # remove_diag: a unit's own weight does not gate it.
  assert np.allclose(layer(x).numpy(), before) == remove_diag


def test_mixture_distillation_matches_numpy():
  t_, lam = 1.5, 0.7
  model = _build("MixNeXtVLADModel", **LOGISTIC, l2_penalty=0.0,
                 drop_rate=0.0, cl_temperature=t_, cl_lambda=lam)
  num_frames = np.array([T, 3, 2], np.int32)
  x = _frames(np.random.default_rng(9), num_frames)
  labels = (np.random.default_rng(10).random((3, C)) > 0.5).astype(np.float32)

  # Inference: the mixture's probabilities, no added loss.
  eval_mixture, eval_logits, _ = model.forward(x, num_frames)
  prediction = _predict(model, _batch(x, num_frames))
  np.testing.assert_allclose(prediction, tf.sigmoid(eval_mixture), atol=1e-6)
  for z in eval_logits.numpy():
    assert not np.allclose(prediction, 1 / (1 + np.exp(-z)), atol=1e-3)
  assert not model.losses

  # Training: the mixture of the students' logits and the KL term.
  mixture, logits, _ = [v.numpy() for v in model.forward(x, num_frames, True)]
  outputs = model(_batch(x, num_frames), training=True)
  mean = x.sum(1) / num_frames[:, None]
  mean = (mean - mean.mean(0)) / np.sqrt(mean.var(0) + 1e-3)  # batch norm
  gate = model.mix_gate
  weights = _softmax(mean @ gate.kernel.numpy() + gate.bias.numpy())
  np.testing.assert_allclose(mixture, np.einsum("bn,nbc->bc", weights,
                                                logits), atol=1e-5)
  np.testing.assert_allclose(outputs["predictions"], 1 / (1 + np.exp(
      -mixture)), atol=1e-6)
  p = _softmax(mixture / t_)
  kl = [(p * (np.log(p) - np.log(_softmax(z / t_)))).sum(-1) for z in logits]
  expected_kl = lam * np.mean(np.sum(kl, axis=0))
  assert len(model.losses) == 1
  np.testing.assert_allclose(float(model.losses[0]), expected_kl, rtol=1e-4)
  np.testing.assert_allclose(float(losses.regularization_loss(model)),
                             expected_kl, rtol=1e-4)

  # The students' predictions are returned for the train step's label
  # losses (trainer.Trainer); labels in the batch add no model loss.
  outputs = model(_batch(x, num_frames, labels=labels), training=True)
  students = 1 / (1 + np.exp(-logits))
  np.testing.assert_allclose(outputs["student_predictions"], students,
                             atol=1e-5)
  assert len(model.losses) == 1
  assert "student_predictions" not in model(_batch(x, num_frames))
  assert not model.losses


# Learnable pooling against frame averaging, on generated data whose first
# HIDDEN classes cancel in the mean over frames (make_dataset
# --hidden_classes). Each training takes under a minute on 2 CPU cores;
# docs/models.md lists the figures.
HIDDEN, CLASSES = 10, 100
FRAME_DATA = dict(frame_features=True, feature_names="rgb,audio",
                  feature_sizes="1024,128", num_classes=CLASSES)
SMALL_NEXTVLAD = dict(expansion=1, groups=4, nextvlad_cluster_size=8,
                      nextvlad_hidden_size=128, pooling_bn_momentum=0.95,
                      video_level_classifier_model="LogisticModel")
POOLING_RUNS = {  # model: (model flags, batch size, epochs)
    "FrameLevelLogisticModel": ({}, 64, 10),
    "NetVLADModel": (dict(netvlad_cluster_size=16, netvlad_hidden_size=256,
                          pooling_bn_momentum=0.99,
                          video_level_classifier_model="LogisticModel"),
                     64, 10),
    "NeXtVLADModel": (SMALL_NEXTVLAD, 32, 2),
    "MixNeXtVLADModel": (dict(SMALL_NEXTVLAD, mix_number=2), 32, 1.5),
}


def _validate_predictions(train_dir, pattern):
  model, flags, _ = checkpoints.load_trained_model(train_dir, {}, set())
  dataset = readers.make_dataset(builders.make_reader(flags), pattern, 256,
                                 num_readers=1)
  predict = tf.function(lambda batch: model(batch)["predictions"])
  pairs = [(predict(b).numpy(), b["labels"].numpy()) for b in dataset]
  return (np.concatenate([p for p, _ in pairs]),
          np.concatenate([l for _, l in pairs]))


@pytest.mark.slow
def test_learnable_pooling_finds_what_frame_averaging_cannot(tmp_path):
  data = str(tmp_path / "data")
  make_dataset.generate(data, num_train=2000, num_validate=500, num_test=0,
                        num_classes=CLASSES, min_frames=30, max_frames=30,
                        video_level=False, hidden_classes=HIDDEN)
  gaps = {}
  for name, (flags, batch_size, epochs) in POOLING_RUNS.items():
    model_flags = model_config.normalize(dict(
        model_config.all_defaults(), model=name, **FRAME_DATA, **flags))
    start = time.time()
    train_lib.train(train_lib.TrainConfig(
        train_dir=str(tmp_path / name), train_data_pattern=f"{data}/frame/"
        "train*", batch_size=batch_size, num_epochs=epochs,
        export_model_steps=0, num_readers=4, seed=1,
        model_flags=model_flags, explicit_flags=frozenset(model_flags)))
    seconds = time.time() - start
    p, labels = _validate_predictions(str(tmp_path / name),
                                      f"{data}/frame/validate*")
    gaps[name] = {
        "train_seconds": round(seconds, 1),
        "gap": round(eval_util.calculate_gap(p, labels), 3),
        "gap_hidden": round(eval_util.calculate_gap(
            p[:, :HIDDEN], labels[:, :HIDDEN], top_k=HIDDEN), 3),
        "gap_visible": round(eval_util.calculate_gap(
            p[:, HIDDEN:], labels[:, HIDDEN:]), 3)}
    print(name, json.dumps(gaps[name]))
  average = gaps["FrameLevelLogisticModel"]
  assert average["gap_visible"] > 0.9  # it learns what the mean shows
  for name in ("NetVLADModel", "NeXtVLADModel", "MixNeXtVLADModel"):
    assert gaps[name]["gap_hidden"] > average["gap_hidden"] + 0.15, gaps
