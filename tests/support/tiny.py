"""Tiny models and records for fast unit tests of the workflow libraries."""

import numpy as np
import tensorflow as tf

from youtube8m.models import builders
from youtube8m.models import model_config

from support import records

NUM_CLASSES = 6
FEATURES = 8


def video_flags(**overrides):
  """A resolved configuration of a tiny video-level LogisticModel."""
  flags = dict(model_config.all_defaults(), model="LogisticModel",
               feature_names="mean_rgb", feature_sizes=str(FEATURES),
               num_classes=NUM_CLASSES)
  flags.update(overrides)
  return model_config.normalize(flags)


def video_file(path, count=10, seed=0):
  """A video-level TFRecord of `count` videos with random labels/features.

  Returns:
    (path, {video_id: (labels, features float32 [FEATURES])}).
  """
  rng = np.random.default_rng(seed)
  videos = {}
  for n in range(count):
    labels = sorted(rng.choice(NUM_CLASSES, rng.integers(1, 3), replace=False))
    videos[f"v{n:02d}"] = ([int(x) for x in labels],
                           rng.normal(size=FEATURES).astype(np.float32))
  records.write(path, [records.video_record(v, labels, {"mean_rgb": f})
                       for v, (labels, f) in videos.items()])
  return str(path), videos


def checkpoint_dir(train_dir, flags=None, scale=1.0, step=7):
  """A train_dir with model_flags.json and a checkpoint `ckpt-<step>`.

  The model's weights are deterministic (seeded) and multiplied by `scale`.
  Returns (train_dir, the model).
  """
  flags = flags or video_flags()
  tf.keras.utils.set_random_seed(3)
  model, _ = builders.build_model(flags)
  for variable in model.trainable_variables:
    variable.assign(variable * scale)
  model_config.save(str(train_dir), flags)
  # As training saves: ckpt-<step> files and the `checkpoint` state file.
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(train_dir),
                             max_to_keep=5).save(checkpoint_number=step)
  return str(train_dir), model
