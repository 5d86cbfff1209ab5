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


def _valid_counts(num_frames, frames):
  """num_frames [B] clipped to [1, T], as int32 and as float32.

  Every index derived from the counts is then a real frame of `frames`
  [B, T, D], even for a (malformed) video with 0 frames.
  """
  counts = tf.clip_by_value(tf.cast(num_frames, tf.int32), 1,
                            tf.maximum(tf.shape(frames)[1], 1))
  return counts, tf.cast(counts, tf.float32)


def _gather_frames(frames, indices):
  """frames [B, T, D], int32 indices [B, K] -> [B, K, D]."""
  return tf.gather(tf.convert_to_tensor(frames), indices, batch_dims=1)


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
  counts, counts_f = _valid_counts(num_frames, frames)
  draw = tf.random.uniform([tf.shape(frames)[0], num_samples], seed=seed)
  # uniform < 1, but the product can round up to counts; clip to stay valid.
  indices = tf.minimum(tf.cast(draw * counts_f[:, None], tf.int32),
                       counts[:, None] - 1)
  return _gather_frames(frames, indices)


def _run_from(frames, counts, start, num_samples):
  """K consecutive frames from `start` [B]; a short video repeats its last."""
  offsets = tf.range(num_samples, dtype=tf.int32)[None, :]
  indices = tf.minimum(start[:, None] + offsets, counts[:, None] - 1)
  return _gather_frames(frames, indices)


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
  counts, _ = _valid_counts(num_frames, frames)
  starts_possible = tf.cast(tf.maximum(counts - num_samples + 1, 1),
                            tf.float32)
  draw = tf.random.uniform(tf.shape(counts), seed=seed)
  start = tf.minimum(tf.cast(draw * starts_possible, tf.int32),
                     tf.cast(starts_possible, tf.int32) - 1)
  return _run_from(frames, counts, start, num_samples)


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
  counts, counts_f = _valid_counts(num_frames, frames)
  centres = (tf.range(num_samples, dtype=tf.float32) + 0.5) / num_samples
  indices = tf.minimum(tf.cast(centres[None, :] * counts_f[:, None], tf.int32),
                       counts[:, None] - 1)
  return _gather_frames(frames, indices)


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
  counts, _ = _valid_counts(num_frames, frames)
  start = tf.maximum(counts - num_samples, 0) // 2
  return _run_from(frames, counts, start, num_samples)


def sample_frames(frames, num_frames, num_samples, random_frames, training):
  """The `num_samples` frames [B, K, D] a sampling model looks at.

  Training samples at random: independent frames with replacement
  (`random_frames`) or one random run of consecutive frames. Otherwise the
  choice is deterministic, so evaluation is reproducible: evenly spaced
  frames, or the centred run.
  """
  if training:
    if random_frames:
      return sample_random_frames(frames, num_frames, num_samples)
    return sample_random_sequence(frames, num_frames, num_samples)
  if random_frames:
    return sample_evenly(frames, num_frames, num_samples)
  return sample_centered_sequence(frames, num_frames, num_samples)


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
  counts, counts_f = _valid_counts(num_frames, frames)
  valid = tf.sequence_mask(counts, tf.shape(frames)[1])[:, :, None]
  if method == "max":
    return tf.reduce_max(tf.where(valid, frames, frames.dtype.min), axis=1)
  total = tf.reduce_sum(tf.where(valid, frames, tf.zeros_like(frames)), axis=1)
  return total / tf.cast(counts_f, frames.dtype)[:, None]
