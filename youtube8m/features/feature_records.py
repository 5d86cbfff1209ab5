"""The records of extracted videos and the output files that hold them.

`video_record` lays out one video's features as the dataset's records (the
same bytes for the same features on every run): a
SequenceExample with context id (bytes), labels (int64, sorted), mean_rgb
(1024 floats), mean_audio (128 floats) and feature lists rgb (1024 bytes a
frame), audio (128 bytes a frame); or, video level only, a tf.train.Example
of the context. `ShardedWriter` writes them into one file or N shards, each
under `outputs.temp_path` and renamed when its last video is done, so a file
appears whole or not at all; temporaries that killed runs left in the output
directory are removed when a writer starts (`outputs.remove_stale`).
"""

import collections
import os

import numpy as np
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.data import examples
from youtube8m.features import feature_networks

AUDIO_KEY = "audio"

Keys = collections.namedtuple("Keys", "video_file labels image")
DEFAULT_KEYS = Keys("id", "labels", "rgb")


def video_record(video_id, labels, rgb, audio, keys=DEFAULT_KEYS,
                 zero_audio=True, frame_level=True):
  """The serialized record of one video.

  rgb: float32 [T, 1024] PCA features; audio: float32 [T, 128] or None (then
  zero bytes and zero mean_audio when zero_audio, else no audio at all).
  mean_* are means of the float features, before quantization, as the
  original extractor computed mean_rgb.
  """
  frames = {keys.image: utils.quantize(rgb)}
  means = {"mean_" + keys.image: rgb.mean(axis=0, dtype=np.float64)}
  if audio is not None:
    frames[AUDIO_KEY] = feature_networks.quantize_audio(audio)
    means["mean_audio"] = audio.mean(axis=0, dtype=np.float64)
  elif zero_audio:
    frames[AUDIO_KEY] = np.zeros([len(rgb), feature_networks.AUDIO_SIZE],
                                 np.uint8)
    means["mean_audio"] = np.zeros([feature_networks.AUDIO_SIZE])
  context = {name: tf.train.Feature(float_list=tf.train.FloatList(
      value=np.asarray(value, np.float32).tolist()))
             for name, value in means.items()}
  example = examples.frame_example(video_id, sorted(labels),
                                   frames if frame_level else {},
                                   id_key=keys.video_file, context=context)
  if keys.labels != "labels":
    feature = example.context.feature
    feature[keys.labels].CopyFrom(feature["labels"])
    del feature["labels"]
  # Deterministic: the feature maps' keys in sorted order. By default
  # protobuf writes map entries in its hash table's order, which differs
  # from process to process, so one video gave other bytes on every run.
  if not frame_level:
    # The original wrote a SequenceExample with only a context; its bytes
    # are those of this Example, which the video-level reader parses.
    return tf.train.Example(features=example.context).SerializeToString(
        deterministic=True)
  return example.SerializeToString(deterministic=True)


def shard_names(output, num_shards):
  if num_shards <= 1:
    return [output]
  return [f"{output}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


class ShardedWriter:
  """Writes records of video i to shard i * num_shards // count.

  Each shard is written under a temporary name and renamed when its last
  video is done; `abort` removes the shard being written.
  """

  def __init__(self, output, count, num_shards=1):
    self.count = count
    self.paths = shard_names(output, int(num_shards))
    self.num_shards = len(self.paths)
    self._next = 0  # the next shard to open
    self._open = None  # (index, writer, temp path)
    # Empty shards finished before the first record: renamed only once a
    # record is written, so a run that writes nothing leaves nothing.
    self._pending = []  # (temp path, final path)
    self.records = 0
    directory = os.path.dirname(output)
    if directory:
      tf.io.gfile.makedirs(directory)
    outputs.remove_stale(directory or ".")

  def shard_of(self, video):
    return min(video * self.num_shards // max(self.count, 1),
               self.num_shards - 1)

  def _finish_open(self):
    if self._open is not None:
      index, writer, temp = self._open
      writer.close()
      self._open = None
      if self.records:
        tf.io.gfile.rename(temp, self.paths[index], overwrite=True)
      else:
        self._pending.append((temp, self.paths[index]))

  def _advance(self, shard):
    """Closes shards before `shard` (empty ones written empty), opens it."""
    while self._open is None or self._open[0] < shard:
      self._finish_open()
      if self._next >= self.num_shards:
        return
      temp = outputs.temp_path(self.paths[self._next])
      self._open = (self._next, tf.io.TFRecordWriter(temp), temp)
      self._next += 1

  def write(self, video, record):
    self._advance(self.shard_of(video))
    self._open[1].write(record)
    if not self.records:
      for temp, path in self._pending:
        tf.io.gfile.rename(temp, path, overwrite=True)
      self._pending = []
    self.records += 1

  def done_through(self, video):
    """Videos up to `video` are processed: finish shards that end there."""
    if video + 1 >= self.count or self.shard_of(video + 1) > self.shard_of(
        video):
      self._advance(self.shard_of(video))
      self._finish_open()

  def close(self):
    """Finishes the shards; returns the records written. With none, no
    shard appears (an older output at those paths stays)."""
    self._advance(self.num_shards - 1)
    self._finish_open()
    self._drop_pending()
    return self.records

  def _drop_pending(self):
    for temp, _ in self._pending:
      try:
        tf.io.gfile.remove(temp)
      except tf.errors.OpError:
        pass
    self._pending = []

  def abort(self):
    if self._open is not None:
      _, writer, temp = self._open
      self._open = None
      writer.close()
      try:
        tf.io.gfile.remove(temp)
      except tf.errors.OpError:
        pass
    self._drop_pending()
