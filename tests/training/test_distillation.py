"""distillation.py: soft targets from a teacher export, and a student that
learns them."""

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.serving import export
from youtube8m.training import distillation
from youtube8m.training import train_lib

from support import records
from support import tiny

# The teacher's constant scores: class 5 near 1, the others near 0.
TEACHER_BIAS = np.array([-4, -4, -4, -4, -4, 4], np.float32)


def _teacher(tmp_path, flags=None):
  """An export whose scores are sigmoid(TEACHER_BIAS) for every video."""
  flags = flags or tiny.video_flags()
  train_dir, model = tiny.checkpoint_dir(tmp_path / "teacher_run", flags)
  kernel, bias = model.trainable_variables
  kernel.assign(tf.zeros_like(kernel))
  bias.assign(TEACHER_BIAS)
  return export.export_saved_model(model, flags, str(tmp_path / "teacher"))


def _batch(path, flags, size=64):
  reader = builders.make_reader(flags)
  return next(iter(readers.make_dataset(reader, path, size)))


def test_targets_mix_labels_and_teacher_scores(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=12)
  teacher = distillation.Teacher(_teacher(tmp_path), 0.3, tiny.video_flags())
  batch = _batch(path, tiny.video_flags())
  targets = teacher.add_targets(batch)[distillation.TARGETS].numpy()
  labels = batch["labels"].numpy().astype(np.float64)
  want = 0.7 * labels + 0.3 / (1 + np.exp(-TEACHER_BIAS.astype(np.float64)))
  np.testing.assert_allclose(targets, want, atol=1e-6)


def test_a_frame_level_teacher_reads_the_raw_frames(tmp_path):
  flags = tiny.video_flags(model="FrameLevelLogisticModel",
                           frame_features=True, feature_names="rgb")
  rng = np.random.default_rng(0)
  path = records.write(tmp_path / "f.tfrecord", [
      records.frame_record(f"v{n}", [n % 6], {"rgb": rng.integers(
          0, 256, size=(3 + n, tiny.FEATURES))}) for n in range(5)])
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", flags)
  out = export.export_saved_model(model, flags, str(tmp_path / "sm"))
  batch = _batch(path, flags)  # uint8 frames, padded
  targets = distillation.Teacher(out, 1.0, flags).add_targets(batch)
  np.testing.assert_allclose(targets[distillation.TARGETS],
                             model(batch)["predictions"], atol=1e-6)


def test_teacher_refusals(tmp_path):
  with pytest.raises(utils.Yt8mError, match="is not an exported SavedModel"):
    distillation.Teacher(str(tmp_path), 0.5, tiny.video_flags())
  other = _teacher(tmp_path, tiny.video_flags(num_classes=6,
                                              feature_sizes="9"))
  with pytest.raises(utils.Yt8mError, match="has --feature_sizes=9 but the "
                     "student has --feature_sizes=8"):
    distillation.Teacher(other, 0.5, tiny.video_flags())


def _train(tmp_path, name, path, **kwargs):
  train_dir = str(tmp_path / name)
  train_lib.train(train_lib.TrainConfig(
      train_dir=train_dir, train_data_pattern=path,
      model_flags=tiny.video_flags(),
      explicit_flags=frozenset({"model", "feature_names", "feature_sizes",
                                "num_classes"}),
      batch_size=16, num_epochs=None, max_steps=60, export_model_steps=0,
      base_learning_rate=0.1, num_readers=1, seed=1, **kwargs))
  model, flags, _ = checkpoints.load_trained_model(
      train_dir, tiny.video_flags(), frozenset())
  return model(_batch(path, flags))["predictions"].numpy()


@pytest.mark.slow
def test_the_student_moves_toward_the_teacher(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=64)
  teacher = _teacher(tmp_path)
  scores = 1 / (1 + np.exp(-TEACHER_BIAS))
  plain = _train(tmp_path, "plain", path)
  distilled = _train(tmp_path, "distilled", path, teacher=teacher,
                     distill_weight=0.9)
  gap_plain = np.abs(plain - scores).mean()
  gap_distilled = np.abs(distilled - scores).mean()
  assert gap_distilled < 0.5 * gap_plain, (gap_plain, gap_distilled)
  # The teacher's favourite class, rare in the labels, is the student's too.
  assert distilled[:, 5].mean() > 0.8 > 0.5 > plain[:, 5].mean()


def test_a_bad_teacher_fails_before_anything_is_written(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=8)
  with pytest.raises(utils.Yt8mError, match="--teacher=.* is not an "):
    _train(tmp_path, "run", path, teacher=str(tmp_path / "nothing"))
  assert not (tmp_path / "run" / "model_flags.json").exists()
  with pytest.raises(utils.Yt8mError, match="--distill_weight=1.5"):
    _train(tmp_path, "run", path, teacher=_teacher(tmp_path),
           distill_weight=1.5)


def test_weight_zero_targets_are_the_labels_exactly(tmp_path):
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=12)
  batch = _batch(path, tiny.video_flags())
  targets = distillation.Teacher(_teacher(tmp_path), 0.0, tiny.video_flags(
      )).add_targets(batch)[distillation.TARGETS].numpy()
  np.testing.assert_array_equal(targets, batch["labels"].numpy())
