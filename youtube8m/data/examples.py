"""Builders of records in the YouTube-8M layout (writers' side of the readers).

`video_example` makes the video-level `tf.train.Example` (id, labels and
float feature lists such as `mean_rgb` [1024], `mean_audio` [128]);
`frame_example` makes the frame-level `tf.train.SequenceExample` (context id,
labels; one quantized byte string per frame and feature, e.g. `rgb` [1024]
and `audio` [128] bytes). Quantize frames with `utils.quantize` first.
"""

import numpy as np
import tensorflow as tf


def video_example(video_id, labels, features, id_key="id"):
  """A video-level tf.train.Example; features: {name: float array [D]}."""
  feature = {
      id_key: tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[video_id.encode()])),
      "labels": tf.train.Feature(int64_list=tf.train.Int64List(
          value=list(labels)))}
  for name, values in features.items():
    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(
        value=np.asarray(values, np.float32).tolist()))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def frame_example(video_id, labels, frames, id_key="id", context=None):
  """A frame-level SequenceExample; frames: {name: uint8 array [T, D]}.

  context: optional extra context features {name: tf.train.Feature}.
  """
  feature = {
      id_key: tf.train.Feature(bytes_list=tf.train.BytesList(
          value=[video_id.encode()])),
      "labels": tf.train.Feature(int64_list=tf.train.Int64List(
          value=list(labels)))}
  feature.update(context or {})
  lists = {
      name: tf.train.FeatureList(feature=[
          tf.train.Feature(bytes_list=tf.train.BytesList(value=[row.tobytes()]))
          for row in np.asarray(values, np.uint8)])
      for name, values in frames.items()}
  return tf.train.SequenceExample(
      context=tf.train.Features(feature=feature),
      feature_lists=tf.train.FeatureLists(feature_list=lists))
