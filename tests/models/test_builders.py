"""builders.py: models, readers and restored checkpoints from a config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from youtube8m import models
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.data import segment_readers
from youtube8m.models import builders
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.training import train_lib

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


class _Block(keras.layers.Layer):
  """A Transformer encoder block: self-attention, then a feed-forward net."""

  def __init__(self, width, **kwargs):
    super().__init__(**kwargs)
    self.attention = keras.layers.MultiHeadAttention(2, width // 2)
    self.norm1 = keras.layers.LayerNormalization()
    self.dense = keras.layers.Dense(width, activation="relu")
    self.norm2 = keras.layers.LayerNormalization()

  def call(self, x):
    x = self.norm1(x + self.attention(x, x))
    return self.norm2(x + self.dense(x))


@models.register
class TwoBlockListTransformer(models.BaseModel):
  """The usual way to stack blocks: in a Python list. Keras 3 checkpoints
  do not follow lists, so these blocks would silently reset."""
  frame_level = True

  def __init__(self, num_classes, **unused):
    super().__init__(num_classes)
    self.blocks = [_Block(8), _Block(8)]
    self.out = keras.layers.Dense(num_classes, activation="sigmoid")

  def classify(self, model_input, num_frames, training=False):
    x = model_input
    for block in self.blocks:
      x = block(x)
    return self.out(tf.reduce_mean(x, axis=1))


@models.register
class TwoBlockAttrTransformer(TwoBlockListTransformer):
  """The same blocks, each also an attribute: checkpoints hold them."""

  def __init__(self, num_classes, **unused):
    super().__init__(num_classes)
    for i, block in enumerate(self.blocks):
      setattr(self, f"block_{i}", block)


def _frame_flags(model):
  return tiny.video_flags(model=model, frame_features=True,
                          feature_names="rgb", feature_sizes="8")


def test_a_model_whose_checkpoints_would_miss_weights_is_refused(tmp_path):
  with pytest.raises(utils.Yt8mError, match=(
      "model TwoBlockListTransformer: the layers in self.blocks \\(a Python "
      "list or dict\\) are not saved in checkpoints \\(variables "
      "two_block_list_transformer/__block/.*")) as info:
    builders.build_model(_frame_flags("TwoBlockListTransformer"))
  assert "\n" not in str(info.value)
  # Training refuses it at start, before anything is written.
  path, _ = tiny.video_file(tmp_path / "t.tfrecord", count=2)
  config = train_lib.TrainConfig(
      train_dir=str(tmp_path / "run"), train_data_pattern=path,
      model_flags=_frame_flags("TwoBlockListTransformer"),
      explicit_flags=frozenset({"model"}))
  with pytest.raises(utils.Yt8mError, match="self.blocks"):
    train_lib.train(config)
  assert not (tmp_path / "run" / "model_flags.json").exists()


def test_a_dropout_layer_does_not_make_a_model_refused():
  # Its seed-generator state is no weight; the check must let it through.
  flags = tiny.video_flags(model="NeXtVLADModel", frame_features=True,
                           feature_names="rgb", feature_sizes="8",
                           drop_rate=0.5, groups=2, nextvlad_cluster_size=4,
                           expansion=2, nextvlad_hidden_size=8)
  model, _ = builders.build_model(flags)
  assert any(v.name == "seed_generator_state" for v in model.variables)
  assert models.untracked_variables(model) == []


def test_a_two_block_model_round_trips_through_a_checkpoint(tmp_path):
  flags = _frame_flags("TwoBlockAttrTransformer")
  model, _ = builders.build_model(flags)
  for variable in model.trainable_variables:  # not the initial values
    variable.assign(variable + 0.25)
  model_config.save(str(tmp_path), flags)
  tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                             str(tmp_path), max_to_keep=1).save(3)
  loaded, _, _ = checkpoints.load_trained_model(
      str(tmp_path), model_config.all_defaults(), ())
  batch = {"video_matrix": tf.random.stateless_uniform([2, 4, 8], [1, 2]),
           "num_frames": tf.fill([2], 4)}
  np.testing.assert_array_equal(model(batch)["predictions"],
                                loaded(batch)["predictions"])
  assert len(loaded.trainable_variables) == len(model.trainable_variables)
