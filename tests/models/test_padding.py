"""Padding to the batch's longest video changes no model that allows it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.models import builders
from youtube8m.models import forward
from youtube8m.models import model_config
from youtube8m.models import model_utils

SMALL = dict(models.model_flag_defaults(), netvlad_cluster_size=4,
             netvlad_hidden_size=8, fv_cluster_size=4, fv_hidden_size=8,
             dbof_cluster_size=8, dbof_hidden_size=8, groups=2,
             nextvlad_cluster_size=4, nextvlad_hidden_size=8,
             gating_reduction=2, mix_number=2, iterations=4, lstm_cells=8,
             transformer_width=8, transformer_heads=2, transformer_ff_width=16,
             gru_cells=8, attention_lstm_cells=8)
FRAME_MODELS = [name for name in models.registered_names()
                if models.get_model_class(name).frame_level]
INVARIANT = [name for name in FRAME_MODELS
             if models.get_model_class(name).padding_invariant]


def test_the_built_in_frame_models_allow_any_padding():
  assert {"FrameLevelLogisticModel", "DbofModel", "LstmModel",
          "NetVLADModel", "NetFVModel", "SoftDbofModel", "NeXtVLADModel",
          "MixNeXtVLADModel", "TransformerModel", "GruModel",
          "AttentionLstmModel"} <= set(INVARIANT)


@pytest.mark.parametrize("name", INVARIANT)
@pytest.mark.slow
def test_longest_padding_gives_the_full_padding_predictions(name):
  keras.utils.set_random_seed(0)
  model = models.build_model(name, 5, **SMALL)
  rng = np.random.default_rng(0)
  num_frames = np.array([3, 17, 40, 1], np.int32)
  full = rng.integers(1, 256, (4, 300, 8), dtype=np.uint8)
  full[np.arange(300)[None, :] >= num_frames[:, None]] = 0  # reader padding
  for xla in (False, True):  # eval's and inference's two forwards
    predict = forward.predictions_fn(model, xla=xla)
    outputs = [predict({"video_matrix": full[:, :frames],
                        "num_frames": num_frames}).numpy()
               for frames in (300, 60, 40)]
    for padded in outputs[1:]:
      np.testing.assert_allclose(padded, outputs[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", FRAME_MODELS)
def test_the_reader_pads_to_the_longest_only_where_allowed(name):
  flags = model_config.normalize(dict(
      model_config.all_defaults(), model=name, frame_features=True,
      feature_names="rgb", feature_sizes="8"))
  reader = builders.make_reader(flags)
  assert reader.pad_to_longest == models.get_model_class(
      name).padding_invariant
  assert not builders.make_reader(flags, segment_labels=True).pad_to_longest


SAMPLING = [name for name in FRAME_MODELS if models.get_model_class(
    name).frame_indices is not models.BaseModel.frame_indices]


@pytest.mark.parametrize("name", SAMPLING)
@pytest.mark.parametrize("training", [False, True])
def test_sampling_before_dequantizing_changes_nothing(name, training):
  """call() gathers the sampled bytes first; classify() samples prepared
  frames: the same frames, the same predictions (and random draws)."""
  keras.utils.set_random_seed(1)
  model = models.build_model(name, 5, **dict(SMALL, drop_rate=0.0))
  rng = np.random.default_rng(1)
  num_frames = np.array([3, 60, 17, 0], np.int32)  # one malformed: none
  raw = rng.integers(1, 256, (4, 60, 8), dtype=np.uint8)
  raw[np.arange(60)[None, :] >= num_frames[:, None]] = 0
  chunks = ((raw[:2, :, :5], raw[2:, :, :5]), (raw[:2, :, 5:], raw[2:, :, 5:]))
  tf_seed = 7
  tf.random.set_seed(tf_seed)
  sampled = model({"video_matrix": chunks, "num_frames": num_frames},
                  training=training)["predictions"].numpy()
  tf.random.set_seed(tf_seed)
  prepared = model_utils.prepare_input(tf.constant(raw), num_frames)
  expected = model.classify(prepared, tf.constant(num_frames),
                            training=training).numpy()
  np.testing.assert_allclose(sampled, expected, rtol=1e-5, atol=1e-6)


def test_raw_frame_average_equals_normalize_then_pool():
  rng = np.random.default_rng(2)
  num_frames = np.array([7, 1, 0, 12, 12], np.int32)
  raw = rng.integers(0, 256, (5, 12, 10), dtype=np.uint8)
  raw[np.arange(12)[None, :] >= num_frames[:, None]] = 0
  expected = model_utils.frame_pooling(
      model_utils.prepare_input(tf.constant(raw), num_frames), "average",
      num_frames).numpy()
  forms = [raw, (raw[..., :7], raw[..., 7:]),
           ((raw[:2, :, :7], raw[2:, :, :7]),  # chunked unlike the other
            (raw[:4, :, 7:], raw[4:, :, 7:], raw[5:, :, 7:]))]
  for form in forms:
    np.testing.assert_allclose(
        model_utils.average_unit_frames(form, num_frames).numpy(), expected,
        rtol=1e-5, atol=1e-7)
