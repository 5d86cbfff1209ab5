"""The API tests' world: a small dataset and models in all three forms.

`build(root)` writes generated YouTube-8M records (video and frame level, 40
classes), a video-level LogisticModel trained by api.train, a frame-level
DbofModel (seeded weights, small flags), and for each model its train_dir,
a SavedModel export and a model .tar.gz (made by the functions
export_model.py and inference.py --output_model_tgz call).
"""

import dataclasses
import glob
import os

import numpy as np
import tensorflow as tf

from youtube8m import api
from youtube8m import make_dataset
from youtube8m.models import model_config
from youtube8m.serving import export
from youtube8m.serving import model_archive

from support import tiny

NUM_CLASSES = 40
FEATURES = "rgb,audio"
SIZES = "1024,128"


@dataclasses.dataclass
class World:
  data: str
  video: dict  # {"train_dir" | "saved_model" | "archive": path}
  frame: dict

  def pattern(self, level, split):
    return os.path.join(self.data, level, f"{split}*.tfrecord")

  def files(self, level, split):
    return sorted(glob.glob(self.pattern(level, split)))


def _forms(train_dir, root, name):
  """{kind: path} of a train_dir, its export and its archive."""
  saved_model = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(root / f"{name}_export")))
  archive = str(root / f"{name}.tar.gz")
  model_archive.make_model_tgz(train_dir, archive)
  return {"train_dir": train_dir, "saved_model": saved_model,
          "archive": archive}


def build(root):
  """The World under `root` (a pathlib.Path)."""
  data = str(root / "data")
  make_dataset.generate(data, num_train=96, num_validate=32, num_test=24,
                        shards=2, num_classes=NUM_CLASSES, min_frames=20,
                        max_frames=30)
  video_dir = str(root / "video_model")
  api.train(api.TrainConfig(
      train_data_pattern=os.path.join(data, "video", "train*.tfrecord"),
      train_dir=video_dir, batch_size=32, max_steps=6,
      export_model_steps=0, seed=1),
            model="LogisticModel", feature_names="mean_rgb,mean_audio",
            feature_sizes=SIZES, num_classes=NUM_CLASSES)
  frame_flags = tiny.video_flags(
      model="DbofModel", frame_features=True, feature_names=FEATURES,
      feature_sizes=SIZES, num_classes=NUM_CLASSES, dbof_cluster_size=32,
      dbof_hidden_size=16, iterations=8, video_level_classifier_model=(
          "LogisticModel"))
  frame_dir, _ = tiny.checkpoint_dir(root / "frame_model", frame_flags)
  assert model_config.load(frame_dir)["model"] == "DbofModel"
  return World(data, _forms(video_dir, root, "video"),
               _forms(frame_dir, root, "frame"))


def video_features(path):
  """(ids, float32 [B, 1152]) of a video-level file, read as a notebook
  would: tf.train.Example protos, mean_rgb then mean_audio."""
  ids, rows = [], []
  for record in tf.data.TFRecordDataset(path):
    feature = tf.train.Example.FromString(record.numpy()).features.feature
    ids.append(feature["id"].bytes_list.value[0].decode())
    rows.append(np.concatenate([feature["mean_rgb"].float_list.value,
                                feature["mean_audio"].float_list.value]))
  return ids, np.array(rows, np.float32)


def frame_bytes(path):
  """(ids, [uint8 [T_b, 1152]] per video) of a frame-level file, read as a
  notebook would: SequenceExample protos, one rgb + audio row a second."""
  ids, videos = [], []
  for record in tf.data.TFRecordDataset(path):
    example = tf.train.SequenceExample.FromString(record.numpy())
    ids.append(example.context.feature["id"].bytes_list.value[0].decode())
    lists = example.feature_lists.feature_list
    videos.append(np.concatenate([
        np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8)
                  for f in lists[name].feature])
        for name in ("rgb", "audio")], axis=1))
  return ids, videos
