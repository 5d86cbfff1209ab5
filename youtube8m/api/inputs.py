"""What `Model.predict` accepts, checked and cut into model batches.

Arrays are video-level features [B, D], or frame features [B, T, D] with
`num_frames` [B]: float (features) or uint8 (the records' quantized bytes).
A frame model also takes a list of per-video [T_b, D] arrays. Datasets
yield serialized records, parsed by the model's own reader, or reader-style
batch dicts. Every mistake is one Yt8mError naming the argument.

The model sees what the readers give it: float frames t >= num_frames are
zeroed (a model may assume zero padding), frames past the reader's 300 are
dropped, and uint8 bytes go to a Keras model as they are (it dequantizes
them, as in inference). A SavedModel's `predict_features` takes float32
only: its bytes are dequantized here with the same formula.
"""

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import raw_frames
from youtube8m.models import builders

_DATASET = "features (a tf.data.Dataset)"


def decode_ids(raw_ids, source):
  """Video ids bytes [B] -> str [B]; a non-UTF-8 id is an error."""
  try:
    return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v)
                     for v in raw_ids], dtype=str).reshape([-1])
  except UnicodeDecodeError as e:
    raise utils.Yt8mError(f"{source}: video id {e.object!r} is not UTF-8"
                          ) from e


def check_finite(ids, scores, source):
  """Raises for the first video [B] whose scores [B, C] are not finite."""
  finite = np.isfinite(scores).all(axis=1)
  if not finite.all():
    video = str(ids[int(np.argmin(finite))])
    raise utils.Yt8mError(
        f"video {video!r}: the model's scores are NaN or infinite; its "
        f"features hold NaN or inf, or the model ({source}) is bad")


class Inputs:
  """Checks a model's inputs and yields (ids [b], video_matrix, num_frames).

  Args:
    flags: the model's model_flags.json.
    uint8: the model takes uint8 bytes itself (a Keras model); else
      they are dequantized to float32 here (a SavedModel signature).
  """

  def __init__(self, flags, uint8):
    self.flags, self.uint8 = flags, uint8
    self.frame_level = bool(flags["frame_features"])
    self.feature_size = builders.feature_size(flags)
    names, sizes = utils.parse_feature_flags(flags["feature_names"],
                                             flags["feature_sizes"])
    self.described = " + ".join(f"{n} {s}" for n, s in zip(names, sizes))
    self.max_frames = (builders.make_reader(flags).max_frames
                       if self.frame_level else 1)

  def batches(self, features, num_frames, ids, batch_size):
    """(ids str [b], video_matrix [b, (T,) D], num_frames int32 [b])."""
    if isinstance(features, tf.data.Dataset):
      for name, value in (("num_frames", num_frames), ("ids", ids)):
        if value is not None:
          raise utils.Yt8mError(f"{name}: not with a tf.data.Dataset (its "
                                "elements carry them)")
      yield from self._dataset_batches(features, batch_size)
      return
    matrix, frames = self.checked(features, num_frames)
    ids = _ids(ids, len(matrix))
    for start in range(0, len(matrix), batch_size):
      end = start + batch_size
      yield ids[start:end], *self._model_input(matrix[start:end],
                                               frames[start:end])

  def checked(self, features, num_frames, where="features",
              frames_where="num_frames"):
    """(matrix [B, (T,) D] uint8 or float, num_frames int32 [B]), checked."""
    if (self.frame_level and isinstance(features, (list, tuple)) and
        features and all(np.ndim(v) == 2 for v in features)):
      features, lengths = self._padded(features, where)
      num_frames = lengths if num_frames is None else num_frames
    try:
      matrix = np.asarray(features.numpy() if tf.is_tensor(features)
                          else features)
    except ValueError as e:  # e.g. rows of different lengths
      raise utils.Yt8mError(f"{where}: not an array ({e})") from None
    if matrix.dtype != np.uint8 and not np.issubdtype(matrix.dtype,
                                                      np.floating):
      raise utils.Yt8mError(
          f"{where}: dtype {matrix.dtype}; expected float features or uint8 "
          "quantized bytes")
    self._check_shape(matrix, where)
    if not self.frame_level:
      return matrix, np.ones(len(matrix), np.int32)
    frames = self._num_frames(num_frames, matrix.shape, frames_where)
    return matrix[:, :self.max_frames], np.minimum(frames, self.max_frames)

  def _check_shape(self, matrix, where):
    rank = 3 if self.frame_level else 2
    model = self.flags["model"]
    if matrix.ndim != rank:
      expected = (f"frame features [batch, frames, {self.feature_size}] "
                  "with num_frames [batch]" if self.frame_level else
                  f"video-level features [batch, {self.feature_size}]")
      raise utils.Yt8mError(f"{where}: shape {matrix.shape}, but {model} "
                            f"reads {expected}")
    if matrix.shape[-1] != self.feature_size:
      raise utils.Yt8mError(
          f"{where}: {matrix.shape[-1]} values per "
          f"{'frame' if self.frame_level else 'video'}, but {model} reads "
          f"{self.feature_size} ({self.described})")

  def _num_frames(self, num_frames, shape, where):
    """num_frames int32 [B], each in 1..T."""
    if num_frames is None:
      raise utils.Yt8mError(
          f"{where} is required with frame features [batch, frames, "
          "features]: each video's number of real frames, [batch]")
    frames = np.asarray(num_frames.numpy() if tf.is_tensor(num_frames)
                        else num_frames)
    if frames.shape != shape[:1] or not (
        frames.size == 0 or np.issubdtype(frames.dtype, np.integer)):
      raise utils.Yt8mError(f"{where}: expected {shape[0]} integers (one "
                            f"per video), got shape {frames.shape} of "
                            f"{frames.dtype}")
    bad = np.flatnonzero((frames < 1) | (frames > shape[1]))
    if bad.size:
      raise utils.Yt8mError(
          f"{where}[{bad[0]}]={frames[bad[0]]}: expected 1..{shape[1]} (the "
          "frames given)")
    return frames.astype(np.int32)

  def _padded(self, videos, where):
    """Per-video [T_b, D] arrays -> ([B, max T_b, D] zero padded, T_b [B])."""
    arrays = [np.asarray(v.numpy() if tf.is_tensor(v) else v)
              for v in videos]
    for i, array in enumerate(arrays):
      if array.shape[1] != self.feature_size:
        raise utils.Yt8mError(
            f"{where}[{i}]: {array.shape[1]} values per frame, but "
            f"{self.flags['model']} reads {self.feature_size} "
            f"({self.described})")
      if array.dtype != arrays[0].dtype:
        raise utils.Yt8mError(f"{where}[{i}]: dtype {array.dtype}, unlike "
                              f"{where}[0] ({arrays[0].dtype})")
    lengths = np.array([len(a) for a in arrays], np.int32)
    padded = np.zeros([len(arrays), max(lengths), self.feature_size],
                      arrays[0].dtype)
    for i, array in enumerate(arrays):
      padded[i, :len(array)] = array
    return padded, lengths

  def _model_input(self, matrix, frames):
    """(video_matrix, num_frames) as the model takes them; see the module."""
    if matrix.dtype == np.uint8 and self.uint8:
      return matrix, frames
    if matrix.dtype == np.uint8:
      matrix = utils.dequantize_np(matrix)
    matrix = matrix.astype(np.float32, copy=False)
    if self.frame_level:
      valid = np.arange(matrix.shape[1])[None, :] < frames[:, None]
      matrix = np.where(valid[:, :, None], matrix, np.float32(0))
    return matrix, frames

  def _dataset_batches(self, dataset, batch_size):
    """Checked batches of a dataset of records or of batch dicts."""
    dataset = self._parsed(dataset, batch_size)
    count = 0
    for n, batch in enumerate(dataset, 1):
      parts = [p.numpy() for p in raw_frames.feature_parts(
          batch["video_matrix"])]
      matrix = parts[0] if len(parts) == 1 else np.concatenate(parts, -1)
      matrix, frames = self.checked(
          matrix, batch.get("num_frames"), f"{_DATASET}, batch {n}",
          f"num_frames of {_DATASET}, batch {n}")
      if "video_ids" in batch:
        ids = decode_ids(batch["video_ids"].numpy(), _DATASET)
      else:
        ids = _ids(None, len(matrix), count)
      count += len(ids)
      yield ids, *self._model_input(matrix, frames)

  def _parsed(self, dataset, batch_size):
    """A dataset of batch dicts: records batched and parsed by the reader."""
    spec = dataset.element_spec
    if isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string:
      if spec.shape.rank == 0:
        dataset = dataset.batch(batch_size)
      reader = builders.make_reader(self.flags)
      reader.set_files([_DATASET])
      return dataset.map(lambda records: reader.parse_batch(
          records, tf.zeros(tf.shape(records), tf.int32)))
    if not isinstance(spec, dict) or "video_matrix" not in spec:
      raise utils.Yt8mError(
          f"{_DATASET}: expected elements that are serialized records or "
          f"dicts with 'video_matrix' (and 'num_frames'); got {spec}")
    shape = tf.nest.flatten(spec["video_matrix"])[0].shape
    if shape.rank == (2 if self.frame_level else 1):
      raise utils.Yt8mError(
          f"{_DATASET}: its elements are single videos (video_matrix "
          f"{shape}); batch it: dataset.batch(n)")
    return dataset


def _ids(ids, count, first=0):
  """str [count]: the given ids, or running numbers from `first`."""
  if ids is None:
    return np.array([str(first + i) for i in range(count)], dtype=str)
  ids = decode_ids(ids.numpy() if tf.is_tensor(ids) else list(ids), "ids")
  if len(ids) != count:
    raise utils.Yt8mError(f"ids: {len(ids)} ids for {count} videos")
  return ids
