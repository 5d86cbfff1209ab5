"""trainer.py: the optimizers, the examples staircase and one train step."""

import numpy as np
import pytest
import tensorflow as tf

from support import tiny
from youtube8m import builders
from youtube8m import trainer
from youtube8m import utils


def test_learning_rate_staircase_counts_examples():
  schedule = trainer.ExamplesStaircase(0.01, 0.5, 1000, examples_per_step=300)
  # step 3 -> 900 examples (no decay yet); step 4 -> 1200 (one decay).
  assert float(schedule(3)) == pytest.approx(0.01)
  assert float(schedule(4)) == pytest.approx(0.005)
  assert float(schedule(7)) == pytest.approx(0.0025)


def test_adam_uses_the_seed_epsilon():
  optimizer = trainer.make_optimizer("AdamOptimizer", 0.01)
  assert optimizer.epsilon == 1e-8
  with pytest.raises(utils.Yt8mError, match="AdagradOptimizer"):
    trainer.make_optimizer("NoSuchOptimizer", 0.01)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_one_step_is_plain_sgd_on_the_loss(jit_compile):
  """GradientDescent step == w - lr * clip(dL/dw), computed with a tape."""
  model, loss_fn = builders.build_model(tiny.video_flags(l2_penalty=0.0))
  rng = np.random.default_rng(1)
  batch = {"video_matrix": tf.constant(rng.normal(size=(4, tiny.FEATURES)),
                                       tf.float32),
           "num_frames": tf.ones([4], tf.int32),
           "labels": tf.constant(rng.random((4, tiny.NUM_CLASSES)) < 0.3,
                                 tf.float32)}
  with tf.GradientTape() as tape:
    loss = loss_fn.calculate_loss(model(batch, training=True)["predictions"],
                                  batch["labels"])
  grads = tape.gradient(loss, model.trainable_variables)
  want = [(v - 0.1 * tf.clip_by_norm(g, 1.0)).numpy()
          for v, g in zip(model.trainable_variables, grads)]
  optimizer = trainer.make_optimizer("GradientDescentOptimizer", 0.1)
  step = trainer.Trainer(model, loss_fn, optimizer, tf.distribute.get_strategy(),
                         clip_gradient_norm=1.0, jit_compile=jit_compile)
  result = step.step(batch, with_metrics=True)
  assert result["label_loss"] == pytest.approx(float(loss), rel=1e-5)
  assert result["hit_at_one"].shape == (4,)
  for variable, expected in zip(model.trainable_variables, want):
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5,
                               atol=1e-6)
