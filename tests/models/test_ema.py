"""ema.py: the weight average against numpy, restarts, and its readers."""

import json
import os
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.evaluation import eval_lib
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import ema
from youtube8m.models import model_config
from youtube8m.serving import export
from youtube8m.serving import predictors
from youtube8m.training import train_lib
from youtube8m.training import trainer

from support import records
from support import tiny
from support import workflow_helpers as wh

EXPLICIT = frozenset({"model", "feature_names", "feature_sizes",
                      "num_classes"})


def _batch(seed, size=4):
  rng = np.random.default_rng(seed)
  return {"video_matrix": tf.constant(rng.normal(size=(size, tiny.FEATURES)),
                                      tf.float32),
          "num_frames": tf.ones([size], tf.int32),
          "labels": tf.constant(rng.random((size, tiny.NUM_CLASSES)) < 0.3,
                                tf.float32)}


def _values(variables):
  return [v.numpy().copy() for v in variables]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_average_follows_numpy_over_steps(jit_compile):
  flags = tiny.video_flags(l2_penalty=0.0)
  tf.keras.utils.set_random_seed(0)
  model, loss_fn = builders.build_model(flags)
  average = ema.WeightAverage(model, builders.build_model(flags)[0], 0.75)
  step = trainer.Trainer(
      model, loss_fn, trainer.make_optimizer("AdamOptimizer", 0.05),
      tf.distribute.get_strategy(), jit_compile=jit_compile, ema=average)
  expected = _values(model.trainable_variables)  # starts at the weights
  for got, want in zip(average.shadow.trainable_variables, expected):
    np.testing.assert_array_equal(got.numpy(), want)
  for n in range(4):
    step.step(_batch(n))
    weights = _values(model.trainable_variables)
    expected = [0.75 * e + 0.25 * w for e, w in zip(expected, weights)]
    for got, want, w in zip(average.shadow.trainable_variables, expected,
                            weights):
      np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
      assert not np.allclose(want, w)  # a real average, not the weights


def test_batch_norm_statistics_are_copied_not_averaged():
  flags = dict(tiny.video_flags(), model="NetVLADModel", frame_features=True,
               feature_names="rgb", netvlad_cluster_size=2,
               netvlad_hidden_size=4, iterations=3)
  model, loss_fn = builders.build_model(flags)
  average = ema.WeightAverage(model, builders.build_model(flags)[0], 0.9)
  step = trainer.Trainer(
      model, loss_fn, trainer.make_optimizer("AdamOptimizer", 0.05),
      tf.distribute.get_strategy(), jit_compile=False, ema=average)
  rng = np.random.default_rng(0)
  batch = {"video_matrix": tf.constant(rng.normal(size=(4, 5, tiny.FEATURES)),
                                       tf.float32),
           "num_frames": tf.constant([5, 3, 4, 2]),
           "labels": tf.ones([4, tiny.NUM_CLASSES])}
  before = _values(model.non_trainable_variables)
  step.step(batch)
  after = _values(model.non_trainable_variables)
  assert any(not np.allclose(a, b) for a, b in zip(after, before))
  for got, want in zip(average.shadow.non_trainable_variables, after):
    np.testing.assert_array_equal(got.numpy(), want)


def _same_videos(path, count=8):
  """Identical records: every batch is the same whatever the shuffling, so
  an interrupted run and an uninterrupted one see the same data."""
  rng = np.random.default_rng(4)
  features = rng.normal(size=tiny.FEATURES).astype(np.float32)
  records.write(path, [records.video_record(f"v{n}", [1, 3],
                                            {"mean_rgb": features})
                       for n in range(count)])
  return str(path)


def _config(train_dir, pattern, **kwargs):
  return train_lib.TrainConfig(
      train_dir=str(train_dir), train_data_pattern=pattern,
      model_flags=tiny.video_flags(), explicit_flags=EXPLICIT,
      **{"batch_size": 4, "num_epochs": 3, "export_model_steps": 0,
         "num_readers": 1, "seed": 1, "ema_decay": 0.8, **kwargs})


def _checkpoint_values(path, key):
  """{name: value} of the variables under `key` of a checkpoint (or the
  latest of a directory)."""
  reader = tf.train.load_checkpoint(str(path))
  return {name[len(key) + 1:]: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name.startswith(key + "/") and "VARIABLE_VALUE" in name}


@pytest.mark.slow
def test_restart_resumes_the_same_average(tmp_path):
  path = _same_videos(tmp_path / "same.tfrecord")
  # 3 epochs x 8 videos / batch 4 = 6 steps, in one run or in two.
  assert train_lib.train(_config(tmp_path / "whole", path)) == 6
  assert train_lib.train(_config(tmp_path / "parts", path, max_steps=3)) == 3
  assert train_lib.train(_config(tmp_path / "parts", path)) == 6
  whole = _checkpoint_values(tmp_path / "whole", "ema")
  parts = _checkpoint_values(tmp_path / "parts", "ema")
  weights = _checkpoint_values(tmp_path / "parts", "model")
  assert whole and set(whole) == set(parts) == set(weights)
  for name, value in whole.items():
    np.testing.assert_allclose(parts[name], value, rtol=1e-6, atol=1e-7)
    assert not np.allclose(weights[name], value)
  # --ema_decay switched on in a run without an average: it starts from the
  # restored weights.
  train_lib.train(_config(tmp_path / "late", path, max_steps=3,
                          ema_decay=0.0))
  assert not _checkpoint_values(tmp_path / "late", "ema")
  assert train_lib.train(_config(tmp_path / "late", path)) == 6
  assert _checkpoint_values(tmp_path / "late", "ema")


def _averaged_dir(tmp_path):
  """A train_dir whose checkpoint has weights W and an average 3 W, and a
  second one holding 3 W as its plain weights (no average)."""
  train_dir, model = tiny.checkpoint_dir(tmp_path / "averaged", step=4)
  shadow, _ = builders.build_model(tiny.video_flags())
  for target, source in zip(shadow.variables, model.variables):
    target.assign(3.0 * source)
  tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model, ema=shadow), train_dir,
      max_to_keep=1).save(checkpoint_number=5)
  plain, _ = tiny.checkpoint_dir(tmp_path / "plain", scale=3.0, step=5)
  return train_dir, plain, model, shadow


@pytest.mark.slow
def test_eval_inference_and_export_use_the_average(tmp_path):
  train_dir, plain, model, shadow = _averaged_dir(tmp_path)
  assert ema.has_average(tf.train.latest_checkpoint(train_dir))
  assert not ema.has_average(tf.train.latest_checkpoint(plain))
  loaded, _, _ = checkpoints.load_trained_model(train_dir, {}, set())
  for got, want in zip(loaded.variables, shadow.variables):
    np.testing.assert_array_equal(got.numpy(), want.numpy())

  path, videos = tiny.video_file(tmp_path / "v.tfrecord", count=6)

  def evaluate(directory):
    return eval_lib.evaluate(eval_lib.EvalConfig(
        train_dir=directory, eval_data_pattern=path, batch_size=4,
        num_readers=1, run_once=True, top_k=5))

  averaged, same = evaluate(train_dir), evaluate(plain)
  assert averaged["avg_loss"] == pytest.approx(same["avg_loss"], rel=1e-6)
  assert averaged["gap"] == pytest.approx(same["gap"])

  def predict(predictor):
    return [np.concatenate(parts) for parts in
            zip(*predictor.batches(path, 4))][1:]

  checkpoint_prediction = predict(predictors.CheckpointPredictor(
      train_dir, {}, set(), top_k=3))
  exported = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm"), top_k=3))
  saved_prediction = predict(predictors.SavedModelPredictor(exported, 3))
  features = np.stack([f for _, f in videos.values()])
  features /= np.linalg.norm(features, axis=1, keepdims=True)
  want = shadow({"video_matrix": tf.constant(features),
                 "num_frames": tf.ones([6], tf.int32)})["predictions"].numpy()
  top = np.argsort(-want, axis=1, kind="stable")[:, :3]
  for classes, scores in (checkpoint_prediction, saved_prediction):
    np.testing.assert_array_equal(classes, top)
    np.testing.assert_allclose(scores, np.take_along_axis(want, top, 1),
                               rtol=1e-6)


def test_the_average_is_found_where_paths_hold_glob_characters(tmp_path):
  train_dir, _, _, shadow = _averaged_dir(tmp_path / "exp[lr=0.01]*?")
  assert ema.has_average(os.path.join(train_dir, "ckpt-5"))
  loaded, _, _ = checkpoints.load_trained_model(train_dir, {}, set())
  for got, want in zip(loaded.variables, shadow.variables):
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.slow
def test_training_exports_hold_the_average(tmp_path):
  path = _same_videos(tmp_path / "same.tfrecord")
  train_dir = tmp_path / "run"
  train_lib.train(_config(train_dir, path, max_steps=3, export_model_steps=3,
                          final_export_dir=str(tmp_path / "final")))
  averaged = _checkpoint_values(train_dir, "ema")
  want = [v for n, v in averaged.items() if "kernel" in n]
  for directory in (train_dir / "export" / "step_3", tmp_path / "final"):
    # An export holds its model as its first member.
    saved = _checkpoint_values(directory / "variables" / "variables",
                               "members/0/model")
    kernel = [v for n, v in saved.items() if "kernel" in n]
    assert len(kernel) == len(want) == 1
    np.testing.assert_allclose(kernel[0], want[0], rtol=1e-6)


def test_bad_decay_is_named(tmp_path):
  model, _ = builders.build_model(tiny.video_flags())
  for decay in (1.0, 1.5, -0.1):
    with pytest.raises(utils.Yt8mError, match="--ema_decay"):
      ema.WeightAverage.create(decay, model, lambda: model)
  assert ema.WeightAverage.create(0.0, model, lambda: model) is None
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=3)
  with pytest.raises(utils.Yt8mError, match="--ema_decay=1.5 is invalid"):
    train_lib.train(_config(tmp_path / "run", path, ema_decay=1.5))
  assert not os.path.exists(tmp_path / "run" / model_config.FILENAME)


_MIRRORED = textwrap.dedent("""
    import json
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from support import tiny
    from youtube8m.models import builders
    from youtube8m.models import ema
    from youtube8m.training import trainer

    flags = tiny.video_flags(l2_penalty=0.0)
    rng = np.random.default_rng(0)
    halves = [{"video_matrix": tf.constant(rng.normal(size=(4, 8)),
                                           tf.float32),
               "num_frames": tf.ones([4], tf.int32),
               "labels": tf.constant(rng.random((4, 6)) < 0.3, tf.float32)}
              for _ in range(2)]
    policy = sys.argv[1]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope(), trainer.precision_policy(policy):
      tf.keras.utils.set_random_seed(1)
      model, loss_fn = builders.build_model(flags)
      average = ema.WeightAverage(model, builders.build_model(flags)[0], 0.5)
      optimizer = trainer.make_optimizer("GradientDescentOptimizer", 0.5,
                                         policy)
      optimizer.build(model.trainable_variables)
    step = trainer.Trainer(model, loss_fn, optimizer, strategy,
                           clip_gradient_norm=0.1, ema=average)
    batch = strategy.experimental_distribute_values_from_function(
        lambda context: halves[context.replica_id_in_sync_group])
    expected = [v.numpy() for v in model.trainable_variables]
    worst, steps = 0.0, 0
    for _ in range(3):
      before = int(optimizer.iterations.numpy())
      step.step(batch)
      weights = [v.numpy() for v in model.trainable_variables]
      if int(optimizer.iterations.numpy()) > before:  # not skipped
        steps += 1
        expected = [0.5 * e + 0.5 * w for e, w in zip(expected, weights)]
      for variable, want in zip(average.shadow.trainable_variables,
                                expected):
        for copy in strategy.experimental_local_results(variable.value):
          worst = max(worst, float(np.abs(copy.numpy() - want).max()))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "max_diff": worst, "steps": steps}))
    """)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["", "mixed_float16"])
def test_average_under_mirrored_strategy(policy):
  """Each device's copy of the average follows the numpy average (float16:
  with the loss-scaled, clipped, maybe skipped steps)."""
  result = wh.run_script(["-c", _MIRRORED, policy], env={
      "PYTHONPATH": os.pathsep.join([wh.REPO, os.path.join(wh.REPO,
                                                           "tests")])})
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["replicas"] == 2 and out["steps"] >= 2
  assert out["max_diff"] < 1e-6, out
