"""Synthetic 2019 segment-rated records, written by `make_dataset --segments`.

  segment/validateNNNN.tfrecord  frame-level records with video labels and
                                 segment ratings (segment_labels,
                                 segment_start_times, segment_scores)
  segment/testNNNN.tfrecord      the same kind of videos, no labels, no
                                 ratings (as the real test split)

As in the real data, each video is rated for one class of its labels
(sometimes two), drawn from youtube8m/data/segment_label_ids.csv (ids below
--num_classes), on up to 5 of its complete 5-second segments, 1 (present) or
0 (absent). The ratings follow the frames: the rated class is present in
some segments of the video and absent from others; a present segment's
frames carry the class's prototype (the same prototypes as the rest of the
dataset, see synthetic.Generator), an absent one's do not. The video's
other labels are present throughout. So a video-level model already ranks
segments above chance, and fine-tuning on ratings can do better.

Segment videos have at least 10 frames (two segments). They use their own
random stream, so adding them leaves the other splits' files unchanged.
"""

import csv
import os

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import examples
from youtube8m.data import segment_readers
from youtube8m.data import synthetic

SIZE = segment_readers.SEGMENT_SIZE
MAX_RATINGS = 5  # per rated class and video (the real data: 5.0 on average)
SECOND_CLASS = 0.3  # chance a video with two rateable labels gets both rated


def rated_classes(num_classes):
  """The 2019 rated class ids below num_classes (sorted list)."""
  with open(utils.data_path("segment_label_ids.csv"), newline="") as f:
    ids = sorted(int(row["Index"]) for row in csv.DictReader(f)
                 if int(row["Index"]) < num_classes)
  if not ids:
    raise utils.Yt8mError(f"--num_classes={num_classes}: no class of "
                          "segment_label_ids.csv is below it")
  return ids


def _context(ratings):
  """Segment context features of [(class, start, score), ...]."""
  ratings = sorted(ratings)
  ints = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
  return {
      "segment_labels": ints([c for c, _, _ in ratings]),
      "segment_start_times": ints([s for _, s, _ in ratings]),
      "segment_scores": tf.train.Feature(float_list=tf.train.FloatList(
          value=[float(r) for _, _, r in ratings]))}


def segment_video(gen, rng, labels, rated, num_frames):
  """Frames and ratings of one video.

  Args:
    gen: the dataset's synthetic.Generator (prototypes, noise scales).
    rng: numpy Generator for this split.
    labels: the video's labels (list of ints).
    rated: the classes to rate (a subset of labels).
    num_frames: frames (seconds) of the video, >= 2 * SIZE.

  Returns:
    ({name: uint8 [num_frames, D]}, [(class, start, score), ...]).
  """
  slots = -(-num_frames // SIZE)  # the last one may be partial
  full = num_frames // SIZE
  present = {}
  for cls in rated:
    mask = rng.random(slots) < 0.5
    # Both kinds among the complete segments, so ratings show a contrast.
    mask[rng.choice(full, 2, replace=False)] = [True, False]
    present[cls] = mask
  steady = [c for c in labels if c not in present]
  frames = {}
  for name, size in synthetic.FEATURES:
    protos = gen.prototypes[name]
    center = protos[steady].sum(axis=0) if steady else np.zeros(size)
    center = center + gen.video_noise * rng.standard_normal(size)
    slot_of_frame = np.arange(num_frames) // SIZE
    values = np.tile(center, (num_frames, 1))
    for cls, mask in present.items():
      values += mask[slot_of_frame, None] * protos[cls]
    values += gen.frame_noise * rng.standard_normal((num_frames, size))
    frames[name] = utils.quantize(values)
  ratings = []
  for cls, mask in present.items():
    for slot in rng.choice(full, min(full, MAX_RATINGS), replace=False):
      ratings.append((cls, int(slot) * SIZE, int(mask[slot])))
  return frames, ratings


def write_segment_split(gen, rng, output_dir, split, ids, num_classes,
                        shards, id_key, frame_range):
  """Writes segment/<split>NNNN.tfrecord; returns {video_id: ratings}."""
  rated_ids = set(rated_classes(num_classes))
  sets = [s for s in synthetic.load_label_sets(num_classes, "validate")
          if rated_ids & set(s)] or [[c] for c in sorted(rated_ids)]
  rng.shuffle(sets)
  directory = os.path.join(output_dir, "segment")
  tf.io.gfile.makedirs(directory)
  writers = [tf.io.TFRecordWriter(os.path.join(
      directory, f"{split}{i:04d}.tfrecord")) for i in range(shards)]
  low, high = max(frame_range[0], 2 * SIZE), max(frame_range[1], 2 * SIZE)
  truth = {}
  for n, video_id in enumerate(ids):
    labels = sets[n % len(sets)]
    candidates = [c for c in labels if c in rated_ids]
    count = 2 if len(candidates) > 1 and rng.random() < SECOND_CLASS else 1
    rated = [int(c) for c in rng.choice(candidates, count, replace=False)]
    frames, ratings = segment_video(gen, rng, labels, rated,
                                    int(rng.integers(low, high + 1)))
    truth[video_id] = ratings
    if split == "test":
      record = examples.frame_example(video_id, [], frames, id_key)
    else:
      record = examples.frame_example(video_id, labels, frames, id_key,
                                          context=_context(ratings))
    writers[n % shards].write(record.SerializeToString(deterministic=True))
  for writer in writers:
    writer.close()
  return truth


def generate_segments(gen, output_dir, num_validate, num_test, shards,
                      num_classes, id_key, frame_range, seed, taken_ids=()):
  """Both segment splits; returns {"segment_validate": ..., "segment_test": ...}.

  taken_ids: ids of the other splits, which segment videos must not reuse.
  """
  rng = np.random.default_rng([seed, 2019])
  taken = set(taken_ids)
  fresh = [i for i in synthetic.make_ids(
      2 * (num_validate + num_test) + len(taken), id_key, rng)
           if i not in taken][:num_validate + num_test]
  return {
      "segment_validate": write_segment_split(
          gen, rng, output_dir, "validate", fresh[:num_validate], num_classes,
          shards, id_key, frame_range),
      "segment_test": write_segment_split(
          gen, rng, output_dir, "test", fresh[num_validate:], num_classes,
          shards, id_key, frame_range)}
