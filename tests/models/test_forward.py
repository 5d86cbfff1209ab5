"""forward.py: eval and inference run the model compiled with --xla, as
training does, and uncompiled (earlier versions' bits) by default."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.models import forward

SMALL = dict(models.model_flag_defaults(), nextvlad_cluster_size=4,
             nextvlad_hidden_size=8, groups=2, gating_reduction=2,
             lstm_cells=8, iterations=4)


def _batch(frame_level, rng):
  """5 videos: raw uint8 frames [5, 7, 8] (some padding), or floats [5, 8]."""
  if frame_level:
    matrix = tf.constant(rng.integers(1, 256, (5, 7, 8), np.uint8))
    num_frames = [7, 3, 1, 7, 5]
  else:
    matrix = tf.constant(rng.normal(size=(5, 8)), tf.float32)
    num_frames = [1] * 5
  return {"video_ids": tf.constant([b"a", b"b", b"c", b"d", b"e"]),
          "video_matrix": matrix,
          "num_frames": tf.constant(num_frames, tf.int32)}


@pytest.mark.parametrize("name", ["LogisticModel", "NeXtVLADModel",
                                  "FrameLevelLogisticModel"])
def test_compiled_forward_matches_the_model_and_repeats_exactly(name):
  keras.utils.set_random_seed(0)
  model = models.build_model(name, 6, **SMALL)
  batch = _batch(model.frame_level, np.random.default_rng(0))
  expected = model(batch, training=False)["predictions"].numpy()
  assert forward.uses_xla(model)
  first = forward.predictions_fn(model, xla=True)(batch).numpy()
  # A fresh compilation gives the same bits: deterministic across runs.
  again = forward.predictions_fn(model, xla=True)(batch).numpy()
  np.testing.assert_array_equal(first, again)
  np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-7)
  graph = tf.function(lambda b: model(b, training=False)["predictions"])
  np.testing.assert_array_equal(  # the default: the plain graph's bits
      forward.predictions_fn(model)(batch).numpy(),
      graph(forward.numeric(batch)).numpy())


def test_models_that_opt_out_run_uncompiled():
  model = models.build_model("LstmModel", 6, **SMALL)
  assert not forward.uses_xla(model)
  batch = _batch(True, np.random.default_rng(1))
  np.testing.assert_array_equal(
      forward.predictions_fn(model, xla=True)(batch).numpy(),
      model(batch, training=False)["predictions"].numpy())
  assert set(forward.numeric(batch)) == {"video_matrix", "num_frames"}
