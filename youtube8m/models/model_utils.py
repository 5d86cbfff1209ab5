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


def _valid_counts(num_frames, total_frames):
  """num_frames [B] clipped to [1, T], as int32 and as float32.

  Every index derived from the counts is then a real frame of a [B, T, D]
  input, even for a (malformed) video with 0 frames.
  """
  counts = tf.clip_by_value(tf.cast(num_frames, tf.int32), 1,
                            tf.maximum(total_frames, 1))
  return counts, tf.cast(counts, tf.float32)


def _gather_frames(frames, indices):
  """frames [B, T, D], int32 indices [B, K] -> [B, K, D]."""
  return tf.gather(tf.convert_to_tensor(frames), indices, batch_dims=1)


def _total_frames(frames):
  return tf.shape(tf.convert_to_tensor(frames))[1]


def random_frame_indices(num_frames, total_frames, num_samples, seed=None):
  """int32 [B, K]: frames drawn uniformly with replacement among each
  video's valid ones. The draw has shape [B, K] whatever T is, so extra
  padding does not change it for a given seed."""
  counts, counts_f = _valid_counts(num_frames, total_frames)
  draw = tf.random.uniform([tf.shape(counts)[0], num_samples], seed=seed)
  # uniform < 1, but the product can round up to counts; clip to stay valid.
  return tf.minimum(tf.cast(draw * counts_f[:, None], tf.int32),
                    counts[:, None] - 1)


def _run_indices(counts, start, num_samples):
  """K consecutive frames from `start` [B]; a short video repeats its last."""
  offsets = tf.range(num_samples, dtype=tf.int32)[None, :]
  return tf.minimum(start[:, None] + offsets, counts[:, None] - 1)


def random_sequence_indices(num_frames, total_frames, num_samples,
                            seed=None):
  """int32 [B, K]: a run of K consecutive valid frames from a random start
  (videos shorter than K repeat their last valid frame)."""
  counts, _ = _valid_counts(num_frames, total_frames)
  starts_possible = tf.cast(tf.maximum(counts - num_samples + 1, 1),
                            tf.float32)
  draw = tf.random.uniform(tf.shape(counts), seed=seed)
  start = tf.minimum(tf.cast(draw * starts_possible, tf.int32),
                     tf.cast(starts_possible, tf.int32) - 1)
  return _run_indices(counts, start, num_samples)


def even_indices(num_frames, total_frames, num_samples):
  """int32 [B, K], increasing: frame j is floor((j + 0.5) * num_frames / K),
  the centre of the j-th of K equal slices of the video, so the samples
  cover the whole video as random samples do on average."""
  counts, counts_f = _valid_counts(num_frames, total_frames)
  centres = (tf.range(num_samples, dtype=tf.float32) + 0.5) / num_samples
  return tf.minimum(tf.cast(centres[None, :] * counts_f[:, None], tf.int32),
                    counts[:, None] - 1)


def centered_sequence_indices(num_frames, total_frames, num_samples):
  """int32 [B, K]: the run of K consecutive valid frames in the middle of
  each video (the expected run of `random_sequence_indices`)."""
  counts, _ = _valid_counts(num_frames, total_frames)
  start = tf.maximum(counts - num_samples, 0) // 2
  return _run_indices(counts, start, num_samples)


def sample_random_frames(frames, num_frames, num_samples, seed=None):
  """frames [B, T, D] -> [B, K, D] at `random_frame_indices`."""
  return _gather_frames(frames, random_frame_indices(
      num_frames, _total_frames(frames), num_samples, seed))


def sample_random_sequence(frames, num_frames, num_samples, seed=None):
  """frames [B, T, D] -> [B, K, D] at `random_sequence_indices`."""
  return _gather_frames(frames, random_sequence_indices(
      num_frames, _total_frames(frames), num_samples, seed))


def sample_evenly(frames, num_frames, num_samples):
  """frames [B, T, D] -> [B, K, D] at `even_indices`: the deterministic
  twin of random sampling."""
  return _gather_frames(frames, even_indices(
      num_frames, _total_frames(frames), num_samples))


def sample_centered_sequence(frames, num_frames, num_samples):
  """frames [B, T, D] -> [B, K, D] at `centered_sequence_indices`."""
  return _gather_frames(frames, centered_sequence_indices(
      num_frames, _total_frames(frames), num_samples))


def sample_frame_indices(num_frames, total_frames, num_samples,
                         random_frames, training, in_order=False):
  """int32 [B, K]: the frames a sampling model looks at.

  Training samples at random: independent frames with replacement
  (`random_frames`; sorted in time when `in_order`, for models that read
  frames in order) or one random run of consecutive frames. Otherwise the
  choice is deterministic, so evaluation is reproducible: evenly spaced
  frames, or the centred run (both in time order).
  """
  args = (num_frames, total_frames, num_samples)
  if training:
    if random_frames:
      indices = random_frame_indices(*args)
      return tf.sort(indices, axis=1) if in_order else indices
    return random_sequence_indices(*args)
  if random_frames:
    return even_indices(*args)
  return centered_sequence_indices(*args)


def sample_frames(frames, num_frames, num_samples, random_frames, training):
  """The `num_samples` frames [B, K, D] a sampling model looks at (see
  `sample_frame_indices`; frames drawn at random are not sorted)."""
  return _gather_frames(frames, sample_frame_indices(
      num_frames, _total_frames(frames), num_samples, random_frames,
      training))


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
  counts, counts_f = _valid_counts(num_frames, tf.shape(frames)[1])
  valid = tf.sequence_mask(counts, tf.shape(frames)[1])[:, :, None]
  if method == "max":
    return tf.reduce_max(tf.where(valid, frames, frames.dtype.min), axis=1)
  total = tf.reduce_sum(tf.where(valid, frames, tf.zeros_like(frames)), axis=1)
  return total / tf.cast(counts_f, frames.dtype)[:, None]
