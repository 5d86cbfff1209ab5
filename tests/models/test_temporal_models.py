"""Tests of the models that read frames in order (tiny shapes, real TF)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m import models
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.evaluation import eval_util
from youtube8m.models import attention_layers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import losses
from youtube8m.models import model_config
from youtube8m.models import model_utils
from youtube8m.serving import export
from youtube8m.training import train_lib

C, D, T = 5, 8, 6  # classes, features, frames
SMALL = dict(models.model_flag_defaults(), transformer_width=16,
             transformer_ff_width=24, transformer_heads=2, gru_cells=6,
             attention_lstm_cells=5)
CASES = [
    ("TransformerModel", {}),
    ("TransformerModel", {"transformer_pooling": "cls",
                          "transformer_positions": "sinusoidal",
                          "video_level_classifier_model": "LogisticModel"}),
    ("TransformerModel", {"transformer_pooling": "query",
                          "transformer_layers": 1}),
    ("TransformerModel", {"sampled_frames": 4}),
    ("GruModel", {}),
    ("GruModel", {"gru_layers": 2, "gru_bidirectional": False,
                  "sampled_frames": 3, "sample_random_frames": False}),
    ("AttentionLstmModel", {}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]
ALL_FRAMES = [c for c in CASES if not c[1].get("sampled_frames")]


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
def test_shape_range_and_raw_input(name, overrides):
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
  # No dropout: its draws would differ between the two calls.
  model = _build(name, **dict(overrides, transformer_dropout=0.0))
  num_frames = [T, 2, 1]
  short = _frames(np.random.default_rng(1), num_frames)
  # Longer padding, and junk in it: masked frames are never read.
  padded = np.concatenate([short, np.ones((3, 300 - T, D), np.float32)],
                          axis=1)
  padded[np.arange(300)[None, :] >= np.array(num_frames)[:, None]] = 0.5
  for training in (False, True):
    tf.random.set_seed(3)
    expected = _predict(model, _batch(short, num_frames), training)
    tf.random.set_seed(3)
    np.testing.assert_allclose(
        _predict(model, _batch(padded, num_frames), training), expected,
        rtol=0, atol=1e-5)


@pytest.mark.parametrize("name,overrides", ALL_FRAMES,
                         ids=[c[0] for c in ALL_FRAMES])
def test_order_matters_to_them_and_not_to_a_bag_of_frames(name, overrides):
  """The same frames reversed: another prediction, except for the frame
  average, which sees a bag of frames."""
  num_frames = [T, 4]
  x = _frames(np.random.default_rng(2), num_frames)
  reversed_ = x.copy()
  for b, n in enumerate(num_frames):
    reversed_[b, :n] = x[b, n - 1::-1]
  model = _build(name, **overrides)
  forward = _predict(model, _batch(x, num_frames))
  backward = _predict(model, _batch(reversed_, num_frames))
  assert np.abs(forward - backward).max() > 1e-4
  bag = _build("FrameLevelLogisticModel")
  np.testing.assert_allclose(_predict(bag, _batch(x, num_frames)),
                             _predict(bag, _batch(reversed_, num_frames)),
                             atol=1e-6)


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_eval_is_deterministic_and_training_is_not(name, overrides):
  model = _build(name, **overrides)
  batch = _batch(_frames(np.random.default_rng(3), [T, 5, 3]), [T, 5, 3])
  first = _predict(model, batch)
  np.testing.assert_array_equal(_predict(model, batch), first)
  # Dropout (Transformer) or random frames (sampled, random) in training.
  if name == "TransformerModel" or (
      overrides.get("sampled_frames") and
      overrides.get("sample_random_frames", True)):
    draws = [_predict(model, batch, training=True) for _ in range(3)]
    assert any(not np.allclose(draws[0], d) for d in draws[1:])


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_checkpoint_holds_every_variable(name, overrides, tmp_path):
  model = _build(name, **overrides)
  batch = _batch(_frames(np.random.default_rng(4), [T, 4]), [T, 4])
  _predict(model, batch, training=True)
  path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
  saved = [n for n, _ in tf.train.list_variables(path)
           if n.startswith("model/")]
  # Every weight is saved (layers held in Python lists would not be); the
  # dropout seeds are not model state.
  weights = [v for v in model.weights if "seed_generator" not in v.path]
  assert len(saved) == len(weights)
  restored = _build(name, seed=1, **overrides)
  # Restored before the first call: variables get their values on creation.
  status = tf.train.Checkpoint(model=restored).restore(path)
  np.testing.assert_array_equal(_predict(restored, batch),
                                _predict(model, batch))
  status.assert_existing_objects_matched()


def _train_step(model, batch):
  label_loss = losses.get_loss("CrossEntropyLoss")
  optimizer = keras.optimizers.Adam(learning_rate=0.01)
  optimizer.build(model.trainable_variables)

  def step(update):  # as the trainer's: label + regularization loss
    with tf.GradientTape() as tape:
      predictions = model(batch, training=True)["predictions"]
      loss = (label_loss.calculate_loss(predictions, batch["labels"]) +
              losses.regularization_loss(model))
    if update:
      variables = model.trainable_variables
      optimizer.apply(tape.gradient(loss, variables), variables)
    return loss
  return step


@pytest.mark.parametrize("name,overrides", [CASES[0], CASES[3], CASES[4]],
                         ids=["Transformer", "Transformer-sampled", "Gru"])
@pytest.mark.slow
def test_compiled_steps_reduce_the_loss_as_uncompiled_ones(name, overrides):
  """XLA compiles the step (trimmed padding included) and computes what
  the uncompiled step does (sampled frames: random in training, so only
  the loss is checked)."""
  rng = np.random.default_rng(5)
  num_frames = rng.integers(1, T + 1, size=16)
  direction = rng.normal(size=(16, D)).astype(np.float32)
  labels = (direction @ rng.normal(size=(D, C)) > 0).astype(np.float32)
  frames = direction[:, None, :] + 0.3 * rng.normal(size=(16, T, D))
  frames[np.arange(T)[None, :] >= num_frames[:, None]] = 0.0
  batch = _batch(frames.astype(np.float32), num_frames, labels=labels)
  losses_by_mode = {}
  for jit in (True, False):
    model = _build(name, **dict(overrides, transformer_dropout=0.0))
    model.create_variables(D)
    step = _train_step(model, batch)
    compiled = tf.function(step, jit_compile=jit)
    losses_by_mode[jit] = [float(compiled(True)) for _ in range(10)]
  if not overrides.get("sampled_frames"):
    np.testing.assert_allclose(losses_by_mode[True], losses_by_mode[False],
                               rtol=2e-3)
  assert losses_by_mode[True][-1] < 0.9 * losses_by_mode[True][0]


def test_transformer_parameter_count():
  w, f, layers, heads = 16, 24, 2, 2
  model = _build("TransformerModel", transformer_layers=layers,
                 video_level_classifier_model="LogisticModel")
  model.create_variables(D)
  attention = 4 * w * w + 4 * w  # q, k, v, output kernels and biases
  block = 2 * 2 * w + attention + (w * f + f) + (f * w + w)
  expected = ((D * w + w) + attention_layers.MAX_FRAMES * w +
              layers * block + 2 * w + (w * C + C))
  assert model.count_params() == expected
  del heads  # the heads split the width; they add no weights
  for pooling, extra in (("cls", w), ("query", w + attention)):
    other = _build("TransformerModel", transformer_layers=layers,
                   transformer_pooling=pooling,
                   video_level_classifier_model="LogisticModel")
    other.create_variables(D)
    assert other.count_params() == expected + extra, pooling
  sinusoidal = _build("TransformerModel", transformer_layers=layers,
                      transformer_positions="sinusoidal",
                      video_level_classifier_model="LogisticModel")
  sinusoidal.create_variables(D)
  assert sinusoidal.count_params() == expected - 300 * w


def test_recurrent_parameter_counts():
  u = 6
  gru = 3 * (D * u + u * u + 2 * u)  # Keras' reset_after GRU: two biases
  model = _build("GruModel", video_level_classifier_model="LogisticModel")
  model.create_variables(D)
  assert model.count_params() == 2 * gru + (2 * u * C + C)
  stacked = _build("GruModel", gru_layers=2, gru_bidirectional=False,
                   video_level_classifier_model="LogisticModel")
  stacked.create_variables(D)
  assert stacked.count_params() == gru + 3 * (2 * u * u + 2 * u) + u * C + C
  v = 5
  lstm = 4 * (D * v + v * v + v)
  model = _build("AttentionLstmModel",
                 video_level_classifier_model="LogisticModel")
  model.create_variables(D)
  assert model.count_params() == 2 * lstm + 2 * v + (2 * v * C + C)


def test_sinusoidal_encoding_matches_the_formula():
  positions = np.array([[0, 1, 7], [299, 300, 1000]])
  for width in (6, 7):
    got = attention_layers.sinusoidal_encoding(positions, width).numpy()
    want = np.zeros(positions.shape + (width,))
    for i in range(width):
      angle = positions / 10000 ** (2 * (i // 2) / width)
      want[..., i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
    np.testing.assert_allclose(got, want, atol=2e-4)


def test_learned_positions_are_frame_indices():
  """A sampled frame carries the position of its index in the video, and a
  frame past the table's end (never from the readers) the last entry."""
  layer = attention_layers.PositionEncoding("learned")
  x = tf.zeros([1, 4, 3])
  layer(x, tf.zeros([1, 4], tf.int32))
  # It starts at the sinusoidal encoding.
  np.testing.assert_allclose(layer.table.numpy(), attention_layers.
                             sinusoidal_encoding(np.arange(300)[None], 3)[0])
  table = np.arange(900, dtype=np.float32).reshape(300, 3)
  layer.table.assign(table)
  got = layer(x, tf.constant([[0, 5, 299, 400]])).numpy()[0]
  np.testing.assert_array_equal(got, table[[0, 5, 299, 299]])


def test_ordered_samples_are_sorted_frames_of_the_video():
  num_frames = tf.constant([7, 3, 300])
  tf.random.set_seed(0)
  for training in (True, False):
    for random_frames in (True, False):
      indices = model_utils.sample_indices(
          num_frames, 300, 8, random_frames, training, in_order=True).numpy()
      assert np.all(np.diff(indices, axis=1) >= 0)
      assert np.all(indices < num_frames.numpy()[:, None])
  evenly = model_utils.sample_indices(num_frames, 300, 4, True, False)
  np.testing.assert_array_equal(evenly.numpy()[2], [37, 112, 187, 262])


def test_attention_pooling_matches_numpy():
  rng = np.random.default_rng(6)
  h = rng.normal(size=(2, 4, 3)).astype(np.float32)
  valid = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
  layer = attention_layers.AttentionPooling()
  layer(h, valid)
  w = rng.normal(size=(3, 1)).astype(np.float32)
  layer.score.kernel.assign(w)
  got = layer(h, valid).numpy()
  for b in range(2):
    scores = (h[b] @ w)[:, 0][valid[b]]
    a = np.exp(scores - scores.max())
    a /= a.sum()
    np.testing.assert_allclose(got[b], a @ h[b][valid[b]], atol=1e-6)


@pytest.mark.parametrize("flag,value", [
    ("transformer_heads", 3),  # does not divide the width 16
    ("transformer_layers", 0), ("transformer_width", -4),
    ("transformer_dropout", 1.0), ("transformer_positions", "rotary"),
    ("transformer_pooling", "max"), ("sampled_frames", -1),
    ("sampled_frames", 2.5), ("gru_cells", 0), ("gru_bidirectional", "yes"),
    ("attention_lstm_cells", 0),
    ("video_level_classifier_model", "TransformerModel")])
def test_bad_flags_are_named(flag, value):
  name = ("GruModel" if flag.startswith("gru") else "AttentionLstmModel"
          if flag.startswith("attention") else "TransformerModel")
  with pytest.raises(utils.Yt8mError, match=flag):
    _build(name, **{flag: value})


@pytest.mark.parametrize("float16", [False, True])
@pytest.mark.slow
def test_export_predicts_as_the_model(tmp_path, float16):
  flags = dict(model_config.all_defaults(), **SMALL, model="TransformerModel",
               frame_features=True, feature_names="rgb",
               feature_sizes=str(D), num_classes=C)
  keras.utils.set_random_seed(0)
  model, _ = builders.build_model(flags)
  num_frames = [T, 2, 4]
  x = _frames(np.random.default_rng(7), num_frames)
  want = _predict(model, _batch(x, num_frames))
  out = export.export_saved_model(model, flags, str(tmp_path / "export"),
                                  float16=float16)
  loaded = tf.saved_model.load(out)
  got = loaded.signatures["predict_features"](
      video_matrix=tf.constant(x),
      num_frames=tf.constant(num_frames, tf.int32))["predictions"].numpy()
  np.testing.assert_allclose(got, want, atol=1e-2 if float16 else 1e-6)
  assert math.isfinite(float(got.sum()))


# Order against bags of frames, on generated data whose first ORDER classes
# show only in the order of two patterns (make_dataset --order_classes);
# decoys show them reversed. docs/models.md has the full-size figures.
ORDER, CLASSES = 4, 50
ORDER_RUNS = {  # model: (batch size, learning rate, epochs); default flags
    "FrameLevelLogisticModel": (64, 0.01, 8),
    "TransformerModel": (32, 0.001, 4),
    "GruModel": (32, 0.001, 4),
}


def _class_aps(scores, labels):
  """numpy AP of each class column (exact ties are not expected)."""
  aps = []
  for c in range(labels.shape[1]):
    order = np.argsort(-scores[:, c], kind="stable")
    hits = labels[order, c]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    aps.append(float((precision * hits).sum() / max(hits.sum(), 1)))
  return np.array(aps)


@pytest.mark.slow
def test_models_that_read_in_order_find_what_bags_of_frames_cannot(tmp_path):
  data = str(tmp_path / "data")
  make_dataset.generate(data, num_train=1500, num_validate=300, num_test=0,
                        num_classes=CLASSES, min_frames=10, max_frames=20,
                        video_level=False, segments=False,
                        order_classes=ORDER)
  results = {}
  for name, (batch_size, rate, epochs) in ORDER_RUNS.items():
    model_flags = model_config.normalize(dict(
        model_config.all_defaults(), model=name, frame_features=True,
        feature_names="rgb,audio", feature_sizes="1024,128",
        num_classes=CLASSES))
    train_lib.train(train_lib.TrainConfig(
        train_dir=str(tmp_path / name), train_data_pattern=f"{data}/frame/"
        "train*", batch_size=batch_size, base_learning_rate=rate,
        num_epochs=epochs, export_model_steps=0, num_readers=4, seed=1,
        model_flags=model_flags, explicit_flags=frozenset(model_flags)))
    model, flags_, _ = checkpoints.load_trained_model(str(tmp_path / name),
                                                      {}, set())
    dataset = readers.make_dataset(builders.make_reader(flags_),
                                   f"{data}/frame/validate*", 100,
                                   num_readers=1)
    pairs = [(model(b)["predictions"].numpy(), b["labels"].numpy())
             for b in dataset]
    scores = np.concatenate([p for p, _ in pairs])
    labels = np.concatenate([l for _, l in pairs])
    aps = _class_aps(scores, labels)
    results[name] = {"order_map": round(float(aps[:ORDER].mean()), 3),
                     "gap": round(eval_util.calculate_gap(scores, labels), 3)}
    print(name, results[name])
  bag = results["FrameLevelLogisticModel"]
  assert bag["order_map"] < 0.7  # decoys rank with the positives
  for name in ("TransformerModel", "GruModel"):
    assert results[name]["order_map"] > 0.9, results
    assert results[name]["gap"] > bag["gap"] - 0.05, results
