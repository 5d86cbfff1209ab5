r"""MediaPipe's YouTube-8M features -> the dataset's frame-level records.

The library of `python -m youtube8m.convert_mediapipe`:


  python -m youtube8m.convert_mediapipe --input='/tmp/mediapipe/*.pb' \
      --output=out.tfrecord

MediaPipe's feature extraction graph (mediapipe/graphs/youtube8m/
feature_extraction.pbtxt) writes one serialized SequenceExample a video
(features.pb) holding, in MediaSequence keys,
  RGB/feature/floats       feature list, 1024 floats a frame (Inception-v3
                           pool_3 after the YouTube-8M PCA), 1 frame a second
  RGB/feature/timestamp    feature list, int64 microseconds a frame
  AUDIO/feature/floats     feature list, 128 floats a frame (VGGish after
                           AudioSet's PCA), 0.96 s windows, 1 s hop
  AUDIO/feature/timestamp  feature list, int64 microseconds a frame
and the metadata it was given (clip/data_path, clip/label/index, ...).
The floats are not quantized. --input takes such files, or TFRecord files of
such SequenceExamples, or both (comma-separated globs).

Each input SequenceExample becomes one record laid out as
youtube8m.extract_features writes them (feature_records.video_record):
context `id`, `labels` (sorted), `mean_rgb` and `mean_audio` (means of the
floats), feature lists `rgb`
(utils.quantize: clip to [-2, 2], round) and `audio` (AudioSet's
quantization: clip, truncate). Frames are put in timestamp order, the first
--max_frames kept; audio frames are paired with rgb frames in order, extra
audio frames at the end dropped and missing ones padded with zero bytes.
The output is written under `outputs.temp_path` and renamed at the end, so it
appears whole or not at all; temporaries of killed runs in its directory are
removed first.
"""

import os

import numpy as np
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.features import feature_records

RGB_PREFIX = "RGB"
AUDIO_PREFIX = "AUDIO"
RGB_SIZE = 1024
AUDIO_SIZE = 128
# Context keys tried in order for the video id (MediaSequence keys).
ID_KEYS = ("example/id", "clip/media_id", "clip/data_path")
LABELS_KEY = "clip/label/index"


def _floats_key(prefix):
  return f"{prefix}/feature/floats"


def _timestamp_key(prefix):
  return f"{prefix}/feature/timestamp"


def _where(path, index):
  return f"{path}: record {index}"


def _frames(sequence, prefix, size, where, required=True):
  """float32 [T, size] in timestamp order, or None when absent."""
  lists = sequence.feature_lists.feature_list
  key = _floats_key(prefix)
  if key not in lists or not lists[key].feature:
    if required:
      present = sorted(lists.keys())
      raise utils.Yt8mError(
          f"{where}: no feature list '{key}' (has {present or 'none'}; is it "
          "the output of MediaPipe's YouTube-8M feature extraction graph?)")
    return None
  rows = []
  for i, feature in enumerate(lists[key].feature):
    if feature.WhichOneof("kind") != "float_list":
      raise utils.Yt8mError(f"{where}: '{key}' frame {i} is a "
                            f"{feature.WhichOneof('kind')}, expected floats")
    values = feature.float_list.value
    if len(values) != size:
      raise utils.Yt8mError(f"{where}: '{key}' frame {i} has {len(values)} "
                            f"values, expected {size}")
    rows.append(np.asarray(values, np.float32))
  frames = np.stack(rows)
  stamps_key = _timestamp_key(prefix)
  if stamps_key in lists and lists[stamps_key].feature:
    stamps = []
    for feature in lists[stamps_key].feature:
      values = feature.int64_list.value
      if len(values) != 1:
        raise utils.Yt8mError(f"{where}: '{stamps_key}' has a frame with "
                              f"{len(values)} values, expected 1")
      stamps.append(values[0])
    if len(stamps) != len(frames):
      raise utils.Yt8mError(f"{where}: '{stamps_key}' has {len(stamps)} "
                            f"frames but '{key}' has {len(frames)}")
    frames = frames[np.argsort(np.asarray(stamps), kind="stable")]
  return frames


def _context_bytes(sequence, key):
  feature = sequence.context.feature.get(key)
  if feature is None or not feature.bytes_list.value:
    return None
  return feature.bytes_list.value[0].decode("utf-8", "replace")


def convert(sequence, where, id_feature="", labels_feature=LABELS_KEY,
            max_frames=300, allow_missing_audio=False):
  """One MediaPipe SequenceExample -> the serialized dataset record."""
  if id_feature:
    video_id = _context_bytes(sequence, id_feature)
    if video_id is None:
      raise utils.Yt8mError(f"{where}: no bytes context feature "
                            f"'{id_feature}' (--id_feature)")
  else:
    video_id = next((v for v in (_context_bytes(sequence, k) for k in ID_KEYS)
                     if v is not None), None)
    if video_id is None:
      raise utils.Yt8mError(f"{where}: no video id (none of "
                            f"{', '.join(ID_KEYS)}); name one with "
                            "--id_feature")
  labels = []
  if labels_feature and labels_feature in sequence.context.feature:
    feature = sequence.context.feature[labels_feature]
    if feature.WhichOneof("kind") not in ("int64_list", None):
      raise utils.Yt8mError(f"{where}: '{labels_feature}' is a "
                            f"{feature.WhichOneof('kind')}, expected int64")
    labels = sorted(feature.int64_list.value)
  rgb = _frames(sequence, RGB_PREFIX, RGB_SIZE, where)[:max_frames]
  audio = _frames(sequence, AUDIO_PREFIX, AUDIO_SIZE, where,
                  required=not allow_missing_audio)
  if audio is not None:
    audio = audio[:len(rgb)]
    real = len(audio)
    if real < len(rgb):
      # Pad after the means are taken: they average real frames only.
      audio = np.concatenate([audio, np.full(
          [len(rgb) - real, AUDIO_SIZE], utils.MIN_QUANTIZED_VALUE,
          np.float32)])
    record = _record(video_id, labels, rgb, audio, real)
  else:
    record = feature_records.video_record(video_id, labels, rgb, None)
  return record


def _record(video_id, labels, rgb, audio, real_audio):
  """The record, mean_audio over the first real_audio frames."""
  record = feature_records.video_record(video_id, labels, rgb, audio)
  if real_audio == len(audio):
    return record
  example = tf.train.SequenceExample.FromString(record)
  mean = audio[:real_audio].mean(axis=0, dtype=np.float64)
  example.context.feature["mean_audio"].float_list.value[:] = (
      mean.astype(np.float32).tolist())
  return example.SerializeToString()


def sequence_examples(path):
  """(where, SequenceExample) of a TFRecord file or of one serialized proto.

  where names the file (and the record, in a TFRecord) for error messages.
  """
  count = 0
  try:
    for record in tf.data.TFRecordDataset(path):
      where = _where(path, count)
      count += 1
      yield where, _parse(record.numpy(), where)
    return
  except tf.errors.DataLossError:
    if count:
      raise utils.Yt8mError(f"{path}: damaged TFRecord after record "
                            f"{count - 1}") from None
  with tf.io.gfile.GFile(path, "rb") as f:
    yield path, _parse(f.read(), path)


def _parse(data, where):
  sequence = tf.train.SequenceExample()
  try:
    sequence.ParseFromString(data)
  except Exception:  # pylint: disable=broad-except
    raise utils.Yt8mError(f"{where}: neither a TFRecord file nor a "
                          "serialized SequenceExample") from None
  return sequence


def convert_files(files, output, **options):
  """Converts every SequenceExample of files into output; returns a count."""
  outputs.check_distinct({"--output": output}, [("--input", files)])
  directory = os.path.dirname(output)
  if directory:
    tf.io.gfile.makedirs(directory)
  outputs.remove_stale(directory or ".")
  temp = outputs.temp_path(output)
  count = 0
  try:
    with tf.io.TFRecordWriter(temp) as writer:
      for path in files:
        for where, sequence in sequence_examples(path):
          writer.write(convert(sequence, where, **options))
          count += 1
    tf.io.gfile.rename(temp, output, overwrite=True)
  except BaseException:
    if tf.io.gfile.exists(temp):
      tf.io.gfile.remove(temp)
    raise
  return count
