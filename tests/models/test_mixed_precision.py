"""--mixed_precision: float16/bfloat16 compute, float32 everything else."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.common import utils
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import ema
from youtube8m.models import model_config
from youtube8m.serving import export
from youtube8m.training import train_lib
from youtube8m.training import trainer

from support import tiny

POLICIES = ["mixed_float16", "mixed_bfloat16"]
# Relative differences from float32 after a few steps; bfloat16 keeps 8
# bits of mantissa, float16 11.
TOLERANCE = {"mixed_float16": 2e-2, "mixed_bfloat16": 6e-2}
FRAME_FLAGS = dict(frame_features=True, feature_names="rgb",
                   model="NeXtVLADModel", groups=2, nextvlad_cluster_size=4,
                   nextvlad_hidden_size=8, gating_reduction=2, drop_rate=0.0,
                   video_level_classifier_model="LogisticModel")


def _frame_batch(seed, size=8, frames=5):
  rng = np.random.default_rng(seed)
  raw = rng.integers(0, 256, (size, frames, tiny.FEATURES), dtype=np.uint8)
  num_frames = rng.integers(1, frames + 1, size).astype(np.int32)
  raw[np.arange(frames)[None, :] >= num_frames[:, None]] = 0  # padding
  return {"video_matrix": tf.constant(raw),
          "num_frames": tf.constant(num_frames),
          "labels": tf.constant(rng.random((size, tiny.NUM_CLASSES)) < 0.3,
                                tf.float32)}


def _losses(policy, flags, clip=1.0, steps=3, jit_compile=False,
            optimizer="AdamOptimizer", learning_rate=0.01):
  """Per-step results, the model and the optimizer of a seeded run."""
  with trainer.precision_policy(policy):
    tf.keras.utils.set_random_seed(2)
    model, loss_fn = builders.build_model(flags)
    optimizer = trainer.make_optimizer(optimizer, learning_rate, policy)
  if policy == "mixed_float16":
    # A loss scale that does not overflow this model's float16 backward
    # pass, so every step applies (skipping is tested below).
    optimizer.build(model.trainable_variables)
    optimizer.dynamic_scale.assign(2.0 ** 10)
  step = trainer.Trainer(model, loss_fn, optimizer,
                         tf.distribute.get_strategy(),
                         clip_gradient_norm=clip, jit_compile=jit_compile)
  results = [step.step(_frame_batch(n), with_metrics=True)
             for n in range(steps)]
  return results, model, optimizer


TRANSFORMER_FLAGS = dict(FRAME_FLAGS, model="TransformerModel",
                         transformer_width=16, transformer_ff_width=32,
                         transformer_heads=2, transformer_dropout=0.0)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("frame_flags", [FRAME_FLAGS, TRANSFORMER_FLAGS],
                         ids=["NeXtVLAD", "Transformer"])
@pytest.mark.slow
def test_steps_train_close_to_float32(policy, frame_flags):
  flags = tiny.video_flags(**frame_flags)
  want, _, _ = _losses("", flags)
  got, model, optimizer = _losses(policy, flags)
  assert keras.config.dtype_policy().name == "float32"  # restored
  assert model.dtype_policy.compute_dtype == policy.split("_")[1]
  assert all(v.dtype == "float32" for v in model.variables
             if v.dtype.startswith(("float", "bfloat")))
  assert int(optimizer.iterations.numpy()) == 3  # no step skipped
  for g, w in zip(got, want):
    for key in ("label_loss", "reg_loss"):
      assert np.isfinite(g[key])
      assert g[key] == pytest.approx(w[key], rel=TOLERANCE[policy])


@pytest.mark.slow
def test_float16_clips_the_unscaled_gradients():
  """A tight clip with loss scaling moves the weights as in float32 (the
  scaled gradients, 32768 times larger, would be clipped to nothing)."""
  flags = tiny.video_flags(**FRAME_FLAGS)
  sgd = dict(clip=1e-2, steps=1, optimizer="GradientDescentOptimizer",
             learning_rate=1.0)
  _, reference, _ = _losses("", flags, **sgd)
  _, model, optimizer = _losses("mixed_float16", flags, **sgd)
  assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
  tf.keras.utils.set_random_seed(2)
  initial, _ = builders.build_model(flags)
  biggest = 0.0
  for v, r, i in zip(model.trainable_variables, reference.trainable_variables,
                     initial.trainable_variables):
    moved, want = v.numpy() - i.numpy(), r.numpy() - i.numpy()
    np.testing.assert_allclose(moved, want, atol=3e-4)
    biggest = max(biggest, float(np.linalg.norm(want)))
  assert biggest == pytest.approx(1e-2, rel=1e-3)  # the clip bites


@pytest.mark.parametrize("jit_compile", [False, True])
def test_non_finite_float16_gradients_skip_the_step(jit_compile):
  flags = tiny.video_flags(l2_penalty=0.0)
  with trainer.precision_policy("mixed_float16"):
    model, loss_fn = builders.build_model(flags)
    optimizer = trainer.make_optimizer("AdamOptimizer", 0.01,
                                       "mixed_float16")
    optimizer.build(model.trainable_variables)
  average = ema.WeightAverage(model, builders.build_model(flags)[0], 0.5)
  step = trainer.Trainer(model, loss_fn, optimizer,
                         tf.distribute.get_strategy(),
                         jit_compile=jit_compile, ema=average)
  rng = np.random.default_rng(0)
  batch = {"video_matrix": tf.constant(rng.normal(size=(4, tiny.FEATURES)),
                                       tf.float32),
           "num_frames": tf.ones([4], tf.int32),
           "labels": tf.ones([4, tiny.NUM_CLASSES])}
  # A scale this large overflows the float16 backward pass.
  optimizer.dynamic_scale.assign(2.0 ** 40)
  weights = [v.numpy() for v in model.trainable_variables]
  result = step.step(batch)
  assert np.isfinite(result["label_loss"])
  assert int(optimizer.iterations.numpy()) == 0
  assert float(optimizer.dynamic_scale.numpy()) == 2.0 ** 39
  for v, w, a in zip(model.trainable_variables, weights,
                     average.shadow.trainable_variables):
    np.testing.assert_array_equal(v.numpy(), w)
    np.testing.assert_array_equal(a.numpy(), w)  # no averaging step either
  optimizer.dynamic_scale.assign(2.0 ** 10)
  step.step(batch)
  assert int(optimizer.iterations.numpy()) == 1
  assert not np.allclose(model.trainable_variables[0].numpy(), weights[0])


def test_training_checkpoint_and_export_are_float32(tmp_path):
  path, videos = tiny.video_file(tmp_path / "t.tfrecord", count=8)
  train_dir = tmp_path / "run"
  train_lib.train(train_lib.TrainConfig(
      train_dir=str(train_dir), train_data_pattern=path, batch_size=4,
      num_epochs=1, export_model_steps=0, num_readers=1, seed=1,
      mixed_precision="mixed_float16", model_flags=tiny.video_flags(),
      explicit_flags=frozenset({"model", "feature_names", "feature_sizes",
                                "num_classes"}),
      final_export_dir=str(tmp_path / "final")))
  # model_flags.json does not record the policy: readers compute in float32.
  assert "mixed_precision" not in model_config.load(str(train_dir))
  model, _, _ = checkpoints.load_trained_model(str(train_dir), {}, set())
  assert model.dtype_policy.compute_dtype == "float32"
  reader = tf.train.load_checkpoint(str(tmp_path / "final" / "variables" /
                                         "variables"))
  assert {d for n, d in reader.get_variable_to_dtype_map().items()
          if "VARIABLE_VALUE" in n} == {tf.float32}
  loaded = tf.saved_model.load(str(tmp_path / "final"))
  features = np.stack([f for _, f in videos.values()])
  features /= np.linalg.norm(features, axis=1, keepdims=True)
  out = loaded.signatures["predict_features"](
      video_matrix=tf.constant(features),
      num_frames=tf.ones([8], tf.int32))["predictions"]
  assert out.dtype == tf.float32
  want = model({"video_matrix": tf.constant(features),
                "num_frames": tf.ones([8], tf.int32)})["predictions"]
  np.testing.assert_allclose(out, want, rtol=1e-6)


def test_a_mixed_model_exports_from_a_float32_copy():
  flags = tiny.video_flags(**dict(FRAME_FLAGS, model="NetVLADModel",
                                  netvlad_cluster_size=2,
                                  netvlad_hidden_size=4, iterations=3))
  with trainer.precision_policy("mixed_bfloat16"):
    mixed, _ = builders.build_model(flags)
  copy = export.float32_copy(mixed, flags)
  assert copy is not mixed and copy.dtype_policy.compute_dtype == "float32"
  for a, b in zip(copy.variables, mixed.variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  plain, _ = builders.build_model(flags)
  assert export.float32_copy(plain, flags) is plain


@pytest.mark.parametrize("name", ["NetVLADModel", "NetFVModel",
                                  "SoftDbofModel", "NeXtVLADModel",
                                  "MixNeXtVLADModel", "DbofModel",
                                  "FrameLevelLogisticModel",
                                  "TransformerModel", "GruModel",
                                  "AttentionLstmModel"])
def test_frame_models_predict_in_float32_under_float16(name):
  """Finite float32 predictions close to float32's, zero padding included."""
  flags = dict(models.model_flag_defaults(), netvlad_cluster_size=4,
               netvlad_hidden_size=8, fv_cluster_size=4, fv_hidden_size=8,
               dbof_cluster_size=8, dbof_hidden_size=8, groups=2,
               nextvlad_cluster_size=4, nextvlad_hidden_size=8,
               gating_reduction=2, mix_number=2, iterations=4,
               transformer_width=16, transformer_ff_width=32,
               transformer_heads=2, gru_cells=8, attention_lstm_cells=8)
  batch = _frame_batch(3)
  outputs = {}
  for policy in ("", "mixed_float16"):
    with trainer.precision_policy(policy):
      keras.utils.set_random_seed(0)
      model = models.build_model(name, tiny.NUM_CLASSES, **flags)
      model.create_variables(tiny.FEATURES)
    outputs[policy] = model(batch)["predictions"]
  got = tf.cast(outputs["mixed_float16"], tf.float32).numpy()
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, outputs[""].numpy(), atol=2e-2)


def test_bad_policy_is_named(tmp_path):
  with pytest.raises(utils.Yt8mError, match="--mixed_precision='foo'"):
    trainer.make_optimizer("AdamOptimizer", 0.01, "foo")
  with pytest.raises(utils.Yt8mError, match="--mixed_precision"):
    with trainer.precision_policy("float16"):
      pass
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=3)
  with pytest.raises(utils.Yt8mError, match="--mixed_precision='foo'"):
    train_lib.train(train_lib.TrainConfig(
        train_dir=str(tmp_path / "run"), train_data_pattern=path,
        mixed_precision="foo", model_flags=tiny.video_flags(),
        explicit_flags=frozenset({"model"})))
  assert not os.path.exists(tmp_path / "run" / model_config.FILENAME)
