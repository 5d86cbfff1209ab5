"""Writers of YouTube-8M records with known values, for reader tests.

Written independently of youtube8m.make_dataset: the tests check the readers
against these raw protos, not against the project's own generator.
"""

import numpy as np
import tensorflow as tf


def _bytes(*values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _ints(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _floats(values):
  return tf.train.Feature(float_list=tf.train.FloatList(
      value=[float(v) for v in values]))


def video_record(video_id, labels, features, id_key="id"):
  """Serialized tf.train.Example; features: {name: list of floats}."""
  feature = {id_key: _bytes(video_id.encode()), "labels": _ints(labels)}
  feature.update({k: _floats(v) for k, v in features.items()})
  return tf.train.Example(features=tf.train.Features(
      feature=feature)).SerializeToString()


def frame_record(video_id, labels, frames, id_key="id", context=None):
  """Serialized SequenceExample; frames: {name: uint8 array [T, D]}."""
  feature = {id_key: _bytes(video_id.encode()), "labels": _ints(labels)}
  feature.update(context or {})
  lists = {name: tf.train.FeatureList(
      feature=[_bytes(bytes(row)) for row in np.asarray(q, np.uint8)])
           for name, q in frames.items()}
  return tf.train.SequenceExample(
      context=tf.train.Features(feature=feature),
      feature_lists=tf.train.FeatureLists(
          feature_list=lists)).SerializeToString()


def write(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)
  return str(path)


def dequantize(q):
  """The dataset's formula, written out: q * 4/255 + 4/512 - 2 (float32)."""
  return (np.asarray(q, np.float64) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)
          ).astype(np.float32)
