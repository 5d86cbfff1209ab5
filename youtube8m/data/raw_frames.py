"""The frame reader's batch forms, back to one float tensor.

The raw frame reader (readers.py) hands a model its frames as uint8 bytes,
per feature and maybe in batch row chunks, so that the dequantization runs
inside the model's (compiled) step instead of the input pipeline. These
helpers turn any of those forms into float32 [B, T, D].
"""

import tensorflow as tf

from youtube8m.common import utils


def feature_parts(video_matrix):
  """The reader's `video_matrix` as a list of per-feature tensors.

  Accepts a tensor, a tuple of per-feature tensors, or per-feature tuples of
  batch row chunks [b_k, ...] (the raw frame reader's forms for big
  batches); chunks are concatenated along the batch axis.
  """
  parts = (video_matrix if isinstance(video_matrix, (tuple, list))
           else [video_matrix])
  return [tf.concat(list(part), axis=0) if isinstance(part, (tuple, list))
          else tf.convert_to_tensor(part) for part in parts]


def frames_to_float(frames, num_frames):
  """Dequantizes uint8 frames [B, T, D]; frames t >= num_frames[b] become 0.

  `frames` may also be one of the raw reader's tuple forms (see
  `feature_parts`): per-feature tensors [B, T, D_i], concatenated in order
  into [B, T, sum D_i]. Float inputs (already dequantized and zero padded)
  are returned unchanged, so a model accepts every form of the reader's
  `video_matrix`.
  """
  parts = feature_parts(frames)
  # Join the bytes, then dequantize once: one float buffer, not several.
  frames = parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)
  if frames.dtype != tf.uint8:
    return frames
  valid = tf.sequence_mask(num_frames, tf.shape(frames)[1])[:, :, None]
  return tf.where(valid, utils.dequantize(frames), 0.0)
