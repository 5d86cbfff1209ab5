"""trainer.py: the optimizers, the examples staircase and one train step."""

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.models import builders
from youtube8m.models import model_utils
from youtube8m.training import trainer

from support import tiny


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


@pytest.mark.parametrize("label_loss", ["CrossEntropyLoss", "HingeLoss"])
@pytest.mark.slow
def test_mixture_loss_adds_each_students_label_loss_unscaled(label_loss):
  """MixNeXtVLAD: label loss(mixture) + sum_m label loss(student m) +
  penalty * (distillation + L2), by hand, and the SGD step on that total."""
  lr, penalty, l2, lam, temperature = 0.1, 0.5, 1e-3, 0.7, 1.5
  flags = tiny.video_flags(
      model="MixNeXtVLADModel", frame_features=True, feature_names="rgb",
      label_loss=label_loss, mix_number=2, groups=2, nextvlad_cluster_size=2,
      nextvlad_hidden_size=4, gating_reduction=2, drop_rate=0.0,
      video_level_classifier_model="LogisticModel", l2_penalty=l2,
      cl_lambda=lam, cl_temperature=temperature)
  tf.keras.utils.set_random_seed(5)
  model, loss_fn = builders.build_model(flags)
  rng = np.random.default_rng(2)
  num_frames = np.array([4, 2, 3, 1], np.int32)
  x = rng.normal(size=(4, 4, tiny.FEATURES)).astype(np.float32)
  x[np.arange(4)[None, :] >= num_frames[:, None]] = 0.0
  labels = (rng.random((4, tiny.NUM_CLASSES)) < 0.4).astype(np.float32)
  batch = {"video_matrix": tf.constant(x),
           "num_frames": tf.constant(num_frames),
           "labels": tf.constant(labels)}
  unit = model_utils.prepare_input(x, num_frames)  # l2-normalized frames

  def by_hand():  # in TF ops, for the gradient
    mixture, logits, _ = model.forward(unit, num_frames, True)
    terms = {"label_loss": per_video(tf.sigmoid(mixture)),
             "student_loss": tf.add_n([per_video(tf.sigmoid(z))
                                       for z in tf.unstack(logits)])}
    # The mixture teaches without being taught: no gradient through it.
    teacher = tf.nn.softmax(tf.stop_gradient(mixture) / temperature)
    kl = tf.add_n([tf.reduce_sum(teacher * (
        tf.math.log(teacher) - tf.nn.log_softmax(z / temperature)), -1)
                   for z in tf.unstack(logits)])
    kernels = [getattr(model, f"branch_{i}").classifier.logistic.kernel
               for i in range(2)]
    terms["reg_loss"] = (lam * tf.reduce_mean(kl) + l2 / 2 * tf.add_n(
        [tf.reduce_sum(tf.square(k)) for k in kernels]))
    return terms

  def per_video(p):  # the label loss, written out
    if label_loss == "HingeLoss":
      terms = tf.maximum(0.0, 1.0 - (2 * labels - 1) * p)
    else:
      terms = -(labels * tf.math.log(p + 1e-5) +
                (1 - labels) * tf.math.log(1 - p + 1e-5))
    return tf.reduce_mean(tf.reduce_sum(terms, -1))

  variables = model.trainable_variables
  with tf.GradientTape() as tape:
    want = by_hand()
    total = (want["label_loss"] + want["student_loss"] +
             penalty * want["reg_loss"])
  grads = tape.gradient(total, variables)
  updated = [(v - lr * g).numpy() for v, g in zip(variables, grads)]
  step = trainer.Trainer(
      model, loss_fn, trainer.make_optimizer("GradientDescentOptimizer", lr),
      tf.distribute.get_strategy(), regularization_penalty=penalty,
      clip_gradient_norm=0.0, jit_compile=False)
  result = step.step(batch)
  for key, value in want.items():
    assert result[key] == pytest.approx(float(value), rel=1e-5), key
  assert result["student_loss"] > 0.5 * result["label_loss"]
  for variable, expected in zip(variables, updated):
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5,
                               atol=1e-6)


# The starter code built `getattr(tf.train, FLAGS.optimizer)(learning_rate)`
# (MomentumOptimizer needs a momentum; 0.9 here). Each Keras optimizer that
# make_optimizer returns must move a variable as that TF1 optimizer did, step
# for step (TF1's optimizers still run eagerly in TF 2).
TF1_OPTIMIZERS = {
    "AdamOptimizer": lambda lr: tf.compat.v1.train.AdamOptimizer(lr),
    "AdagradOptimizer": lambda lr: tf.compat.v1.train.AdagradOptimizer(lr),
    "GradientDescentOptimizer":
        lambda lr: tf.compat.v1.train.GradientDescentOptimizer(lr),
    "MomentumOptimizer":
        lambda lr: tf.compat.v1.train.MomentumOptimizer(lr, momentum=0.9),
    "RMSPropOptimizer": lambda lr: tf.compat.v1.train.RMSPropOptimizer(lr),
}


def test_every_seed_optimizer_has_a_reference():
  assert set(TF1_OPTIMIZERS) == set(trainer.OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(TF1_OPTIMIZERS))
def test_optimizer_steps_like_the_starter_codes(name):
  rng = np.random.default_rng(3)
  start = rng.normal(size=(5, 3)).astype(np.float32)
  gradients = [rng.normal(size=(5, 3)).astype(np.float32) for _ in range(4)]
  ours = tf.Variable(start)
  theirs = tf.Variable(start)
  optimizer = trainer.make_optimizer(name, 0.05)
  reference = TF1_OPTIMIZERS[name](0.05)
  for gradient in gradients:
    optimizer.apply_gradients([(tf.constant(gradient), ours)])
    reference.apply_gradients([(tf.constant(gradient), theirs)])
    # Both moved, and by the same amount.
    assert not np.allclose(ours.numpy(), start)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5,
                               atol=1e-6, err_msg=name)
