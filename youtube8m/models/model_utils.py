"""Input preparation, frame sampling and pooling helpers shared by the models.

Shapes: B = batch size, T = frames per video (padded), D = feature size,
K = number of sampled frames. `num_frames` is int32 [B]; frames at
t >= num_frames[b] are padding and are never sampled.
"""

import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import raw_frames

POOLING_METHODS = ("max", "average")
# Activations a model flag may name (--dbof_activation).
ACTIVATIONS = {"sigmoid": tf.sigmoid, "relu6": tf.nn.relu6}


def prepare_input(video_matrix, num_frames):
  """The model input: dequantized (if uint8) and l2-normalized features.

  Args:
    video_matrix: float32 or uint8, [B, D] (video level) or [B, T, D], or a
      raw reader tuple form (see `raw_frames.feature_parts`).
    num_frames: int [B].

  Returns:
    float32 of the same shape; each vector (per video, or per frame) has unit
    l2 norm, and zero padding frames stay exactly zero.
  """
  num_frames = tf.cast(num_frames, tf.int32)
  if isinstance(video_matrix, (tuple, list)):
    video_matrix = raw_frames.frames_to_float(video_matrix, num_frames)
  video_matrix = tf.convert_to_tensor(video_matrix)
  if video_matrix.shape.rank == 2:
    # Video-level vectors have no padding to mask.
    if video_matrix.dtype == tf.uint8:
      video_matrix = utils.dequantize(video_matrix)
  else:
    video_matrix = raw_frames.frames_to_float(video_matrix, num_frames)
  video_matrix = tf.cast(video_matrix, tf.float32)
  return tf.math.l2_normalize(video_matrix, axis=-1, epsilon=1e-12)


def _valid_counts(num_frames, length):
  """num_frames [B] clipped to [1, length], as int32 and as float32.

  Every index derived from the counts is then a real frame of a [B, length,
  D] batch, even for a (malformed) video with 0 frames.
  """
  counts = tf.clip_by_value(tf.cast(num_frames, tf.int32), 1,
                            tf.maximum(length, 1))
  return counts, tf.cast(counts, tf.float32)


def _gather_frames(frames, indices):
  """frames [B, T, D], int32 indices [B, K] -> [B, K, D]."""
  return tf.gather(tf.convert_to_tensor(frames), indices, batch_dims=1)


def _length(frames):
  return tf.shape(tf.convert_to_tensor(frames))[1]


def random_frame_indices(num_frames, length, num_samples, seed=None):
  """int32 [B, K]: frames drawn uniformly with replacement among the valid
  ones. The draw has shape [B, K] whatever the length, so extra padding
  frames do not change it for a given seed."""
  counts, counts_f = _valid_counts(num_frames, length)
  draw = tf.random.uniform([tf.shape(counts)[0], num_samples], seed=seed)
  # uniform < 1, but the product can round up to counts; clip to stay valid.
  return tf.minimum(tf.cast(draw * counts_f[:, None], tf.int32),
                    counts[:, None] - 1)


def _run_indices(counts, start, num_samples):
  """K consecutive frames from `start` [B]; a short video repeats its last."""
  offsets = tf.range(num_samples, dtype=tf.int32)[None, :]
  return tf.minimum(start[:, None] + offsets, counts[:, None] - 1)


def random_sequence_indices(num_frames, length, num_samples, seed=None):
  """int32 [B, K]: a run of K consecutive valid frames at a random start."""
  counts, _ = _valid_counts(num_frames, length)
  starts_possible = tf.cast(tf.maximum(counts - num_samples + 1, 1),
                            tf.float32)
  draw = tf.random.uniform(tf.shape(counts), seed=seed)
  start = tf.minimum(tf.cast(draw * starts_possible, tf.int32),
                     tf.cast(starts_possible, tf.int32) - 1)
  return _run_indices(counts, start, num_samples)


def even_indices(num_frames, length, num_samples):
  """int32 [B, K]: frame j is floor((j + 0.5) * num_frames / K), the centre
  of the j-th of K equal slices of the video."""
  counts, counts_f = _valid_counts(num_frames, length)
  centres = (tf.range(num_samples, dtype=tf.float32) + 0.5) / num_samples
  return tf.minimum(tf.cast(centres[None, :] * counts_f[:, None], tf.int32),
                    counts[:, None] - 1)


def centered_sequence_indices(num_frames, length, num_samples):
  """int32 [B, K]: the run of K consecutive valid frames in the middle."""
  counts, _ = _valid_counts(num_frames, length)
  start = tf.maximum(counts - num_samples, 0) // 2
  return _run_indices(counts, start, num_samples)


def sample_random_frames(frames, num_frames, num_samples, seed=None):
  """Samples frames uniformly with replacement among each video's valid ones.

  Args:
    frames: [B, T, D].
    num_frames: int [B], valid frames per video.
    num_samples: K, a Python int.
    seed: optional op seed for tf.random.uniform.

  Returns:
    [B, K, D]. The random draw has shape [B, K] whatever T is, so extra
    padding frames do not change the result for a given seed.
  """
  return _gather_frames(frames, random_frame_indices(
      num_frames, _length(frames), num_samples, seed))


def sample_random_sequence(frames, num_frames, num_samples, seed=None):
  """A run of K consecutive valid frames starting at a random frame.

  Args:
    frames: [B, T, D].
    num_frames: int [B].
    num_samples: K.
    seed: optional op seed.

  Returns:
    [B, K, D]. Videos shorter than K repeat their last valid frame.
  """
  return _gather_frames(frames, random_sequence_indices(
      num_frames, _length(frames), num_samples, seed))


def sample_evenly(frames, num_frames, num_samples):
  """K evenly spaced valid frames: the deterministic twin of random sampling.

  Frame j is floor((j + 0.5) * num_frames / K), the centre of the j-th of K
  equal slices of the video, so the samples cover the whole video as random
  samples do on average.

  Args:
    frames: [B, T, D].
    num_frames: int [B].
    num_samples: K.

  Returns:
    [B, K, D].
  """
  return _gather_frames(frames, even_indices(num_frames, _length(frames),
                                             num_samples))


def sample_centered_sequence(frames, num_frames, num_samples):
  """The run of K consecutive valid frames in the middle of each video.

  The deterministic twin of `sample_random_sequence` (its expected start).

  Args:
    frames: [B, T, D].
    num_frames: int [B].
    num_samples: K.

  Returns:
    [B, K, D].
  """
  return _gather_frames(frames, centered_sequence_indices(
      num_frames, _length(frames), num_samples))


def sample_indices(num_frames, length, num_samples, random_frames, training,
                   in_order=False):
  """int32 [B, K]: the frames a sampling model looks at (`sample_frames`).

  Frames drawn at random are sorted in time when `in_order` (for models
  that read frames in order); the other choices are in time order already.
  """
  if training:
    if random_frames:
      indices = random_frame_indices(num_frames, length, num_samples)
      return tf.sort(indices, axis=1) if in_order else indices
    return random_sequence_indices(num_frames, length, num_samples)
  if random_frames:
    return even_indices(num_frames, length, num_samples)
  return centered_sequence_indices(num_frames, length, num_samples)


def sample_frames(frames, num_frames, num_samples, random_frames, training):
  """The `num_samples` frames [B, K, D] a sampling model looks at.

  Training samples at random: independent frames with replacement
  (`random_frames`) or one random run of consecutive frames. Otherwise the
  choice is deterministic, so evaluation is reproducible: evenly spaced
  frames, or the centred run.
  """
  return _gather_frames(frames, sample_indices(
      num_frames, _length(frames), num_samples, random_frames, training))


def gather_raw_frames(video_matrix, indices):
  """The reader's `video_matrix` (any raw form) at frames `indices` [B, K].

  Gathers from each feature (and each batch row chunk, with its rows of
  `indices`) before anything is dequantized, so only the K sampled frames
  are ever converted to float. Returns per-feature tensors [B, K, D_i].
  """
  parts = (video_matrix if isinstance(video_matrix, (tuple, list))
           else [video_matrix])
  gathered = []
  for part in parts:
    if isinstance(part, (tuple, list)):  # row chunks of one feature
      chunks, start = [], 0
      for chunk in part:
        rows = tf.shape(chunk)[0]
        chunks.append(_gather_frames(chunk, indices[start:start + rows]))
        start += rows
      gathered.append(tf.concat(chunks, axis=0))
    else:
      gathered.append(_gather_frames(part, indices))
  return gathered


def frame_pooling(frames, method, num_frames=None):
  """Pools frames over time.

  Args:
    frames: [B, T, D].
    method: "max" or "average".
    num_frames: optional int [B]; when given, frames t >= num_frames[b] are
      left out (otherwise every frame counts).

  Returns:
    [B, D].
  """
  if method not in POOLING_METHODS:
    raise utils.Yt8mError(f"unknown pooling method {method!r}; use one of "
                          f"{', '.join(POOLING_METHODS)}")
  frames = tf.convert_to_tensor(frames)
  if num_frames is None:
    if method == "max":
      return tf.reduce_max(frames, axis=1)
    return tf.reduce_mean(frames, axis=1)
  counts, counts_f = _valid_counts(num_frames, _length(frames))
  valid = tf.sequence_mask(counts, tf.shape(frames)[1])[:, :, None]
  if method == "max":
    return tf.reduce_max(tf.where(valid, frames, frames.dtype.min), axis=1)
  total = tf.reduce_sum(tf.where(valid, frames, tf.zeros_like(frames)), axis=1)
  return total / tf.cast(counts_f, frames.dtype)[:, None]


def average_unit_frames(video_matrix, num_frames):
  """frame_pooling(prepare_input(video_matrix), "average") of raw bytes.

  The average of each video's l2-normalized valid frames [B, D], computed
  per feature and per batch row chunk of the raw reader's uint8 forms, so
  neither the features nor the chunks are joined into a [B, T, D] batch:
  a first pass sums each frame's squares over every feature ([B, T]), a
  second the weighted frames ([B, D_i]); only those are concatenated.

  Args:
    video_matrix: uint8 [B, T, D], or the raw reader's tuple forms
      (`raw_frames.feature_parts`).
    num_frames: int [B].
  """
  parts = (video_matrix if isinstance(video_matrix, (tuple, list))
           else [video_matrix])
  parts = [part if isinstance(part, (tuple, list)) else (part,)
           for part in parts]
  num_frames = tf.cast(num_frames, tf.int32)
  squares = tf.add_n([tf.concat([
      tf.reduce_sum(tf.square(utils.dequantize(chunk)), axis=-1)
      for chunk in part], axis=0) for part in parts])  # [B, T]
  valid = tf.sequence_mask(num_frames, tf.shape(squares)[1], tf.float32)
  # l2_normalize's rsqrt(max(sum, 1e-12)); frame_pooling's count >= 1.
  weights = valid * tf.math.rsqrt(tf.maximum(squares, 1e-12)) / tf.cast(
      tf.maximum(num_frames, 1), tf.float32)[:, None]
  averages = []
  for part in parts:
    sums, start = [], 0
    for chunk in part:
      rows = tf.shape(chunk)[0]
      sums.append(tf.reduce_sum(utils.dequantize(chunk) *
                                weights[start:start + rows, :, None], axis=1))
      start += rows
    averages.append(tf.concat(sums, axis=0))  # [B, D_i]
  return averages[0] if len(averages) == 1 else tf.concat(averages, axis=-1)
