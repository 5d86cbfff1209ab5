"""builders.py: models, readers and restored checkpoints from a config."""

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import segment_readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import model_config

from support import tiny


def test_build_model_creates_variables_and_loss():
  model, loss_fn = builders.build_model(tiny.video_flags())
  assert [tuple(v.shape) for v in model.trainable_variables] == [
      (tiny.FEATURES, tiny.NUM_CLASSES), (tiny.NUM_CLASSES,)]
  assert type(loss_fn).__name__ == "CrossEntropyLoss"
  lazy, _ = builders.build_model(tiny.video_flags(), create_variables=False)
  assert not lazy.trainable_variables
  assert builders.feature_size(tiny.video_flags(
      feature_names="mean_rgb,mean_audio", feature_sizes="8, 4")) == 12


def test_frame_features_must_match_the_model():
  with pytest.raises(utils.Yt8mError, match="add --frame_features"):
    builders.build_model(tiny.video_flags(model="DbofModel"))
  with pytest.raises(utils.Yt8mError, match="drop --frame_features"):
    builders.build_model(tiny.video_flags(frame_features=True))


def test_make_reader_picks_the_reader():
  assert isinstance(builders.make_reader(tiny.video_flags()),
                    readers.YT8MAggregatedFeatureReader)
  frame = tiny.video_flags(frame_features=True, feature_names="rgb")
  reader = builders.make_reader(frame)
  assert isinstance(reader, readers.YT8MFrameFeatureReader) and reader.raw
  segment = builders.make_reader(frame, segment_labels=True)
  assert isinstance(segment, segment_readers.YT8MSegmentReader)
  with pytest.raises(utils.Yt8mError, match="--frame_features"):
    builders.make_reader(tiny.video_flags(), segment_labels=True)


def test_load_trained_model_restores_the_weights(tmp_path):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", scale=2.0, step=9)
  loaded, flags, path = checkpoints.load_trained_model(
      train_dir, model_config.all_defaults(), ())
  assert path.endswith("ckpt-9") and checkpoints.checkpoint_step(path) == 9
  assert flags == model_config.load(train_dir)
  for a, b in zip(model.trainable_variables, loaded.trainable_variables):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  x = {"video_matrix": tf.ones([2, tiny.FEATURES]),
       "num_frames": tf.ones([2], tf.int32)}
  np.testing.assert_array_equal(model(x)["predictions"],
                                loaded(x)["predictions"])


def test_missing_checkpoint_and_mismatched_flags_are_named(tmp_path):
  with pytest.raises(utils.Yt8mError, match="no checkpoint in --train_dir="):
    checkpoints.latest_checkpoint(str(tmp_path))
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run")
  with pytest.raises(utils.Yt8mError, match="--num_classes=7 .saved: 6."):
    checkpoints.load_trained_model(
        train_dir, dict(model_config.all_defaults(), num_classes=7),
        {"num_classes"})


def test_checkpoint_step():
  assert checkpoints.checkpoint_step("/a/b/ckpt-1200") == 1200
  assert checkpoints.checkpoint_step("/a/model") == 0
