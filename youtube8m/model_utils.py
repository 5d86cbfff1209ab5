"""Input preparation, frame sampling and pooling helpers shared by the models."""

import tensorflow as tf

from youtube8m import utils


def frames_to_float(frames, num_frames):
  """Dequantizes uint8 frames [B, T, D]; frames t >= num_frames[b] become 0.

  Float inputs (already dequantized and zero padded) are returned unchanged,
  so a model accepts either form of the reader's `video_matrix`.
  """
  if frames.dtype != tf.uint8:
    return frames
  valid = tf.sequence_mask(num_frames, tf.shape(frames)[1])[:, :, None]
  return tf.where(valid, utils.dequantize(frames), 0.0)
