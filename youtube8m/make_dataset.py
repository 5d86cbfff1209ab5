r"""Writes a small synthetic dataset in exactly the YouTube-8M layout.

  python -m youtube8m.make_dataset --output_dir=/tmp/yt8m_data

writes
  video/{train,validate,test}NNNN.tfrecord   tf.train.Example (video level)
  frame/{train,validate,test}NNNN.tfrecord   tf.train.SequenceExample (frames)
  train_labels.csv, validate_labels.csv      VIDEO_ID,LABEL1 LABEL2 ...
  segment/{validate,test}NNNN.tfrecord       2019 segment-rated frame records
                                             (--segments; see segment_data)
Test records have empty label lists, as in the real test split.

Labels are real YouTube-8M label sets (youtube8m/data/label_sets_sample.csv),
so class frequencies and co-occurrences look like the real data. Features
carry a learnable signal: each class has a prototype direction in the rgb and
audio spaces, a video is the sum of its classes' prototypes plus per-video
noise, and each frame adds per-frame noise. Frames are quantized to bytes
with the dataset's own formula; `mean_rgb`/`mean_audio` are the frame means.
"""

import csv
import os
import string

import numpy as np
import tensorflow as tf

from youtube8m import examples
from youtube8m import utils

SPLITS = ("train", "validate", "test")
FEATURES = (("rgb", 1024), ("audio", 128))


def load_label_sets(num_classes, split):
  """Real label sets (lists of ints < num_classes) for 'train' or 'validate'."""
  sets = []
  with open(utils.data_path("label_sets_sample.csv"), newline="") as f:
    for row in csv.DictReader(f):
      if row["split"] == split:
        labels = sorted({int(x) for x in row["labels"].split()
                         if int(x) < num_classes})
        if labels:
          sets.append(labels)
  if not sets:
    raise utils.Yt8mError(f"no real label set has a class < {num_classes}")
  return sets


def make_ids(count, id_key, rng):
  """Unique ids: 4 characters like the 2018 data, 11 like YouTube's for 2017."""
  alphabet = np.array(list(string.ascii_letters + string.digits + "-_"))
  length = 4 if id_key == "id" else 11
  ids = set()
  while len(ids) < count:
    ids.add("".join(rng.choice(alphabet, length)))
  return sorted(ids, key=lambda _: rng.random())


class Generator:
  """Synthetic videos with a learnable, class-dependent signal."""

  def __init__(self, num_classes=3862, seed=0, signal=0.2, video_noise=0.3,
               frame_noise=0.5):
    self.num_classes = num_classes
    self.rng = np.random.default_rng(seed)
    self.video_noise, self.frame_noise = video_noise, frame_noise
    # prototypes[name]: float32 [num_classes, D], one direction per class.
    self.prototypes = {
        name: (signal * self.rng.standard_normal((num_classes, size))
               ).astype(np.float32)
        for name, size in FEATURES}

  def frames(self, labels, num_frames):
    """labels: list of ints -> {name: uint8 [num_frames, D]}."""
    out = {}
    for name, size in FEATURES:
      center = self.prototypes[name][labels].sum(axis=0) if labels else 0.0
      center = center + self.video_noise * self.rng.standard_normal(
          size, dtype=np.float32)
      values = center + self.frame_noise * self.rng.standard_normal(
          (num_frames, size), dtype=np.float32)
      out[name] = utils.quantize(values)
    return out


def write_split(gen, output_dir, split, ids, label_sets, shards, id_key,
                frame_range, video_level=True, frame_level=True):
  """Writes one split's shards; returns {video_id: labels}.

  A split gets at most one shard per video, and none when it has no videos,
  so no empty TFRecord file is written.
  """
  truth = {}
  writers = {}
  shards = min(shards, len(ids))
  for level, wanted in (("video", video_level), ("frame", frame_level)):
    if wanted and shards:
      tf.io.gfile.makedirs(os.path.join(output_dir, level))
      writers[level] = [tf.io.TFRecordWriter(
          os.path.join(output_dir, level, f"{split}{i:04d}.tfrecord"))
                        for i in range(shards)]
  for n, video_id in enumerate(ids):
    labels = label_sets[n % len(label_sets)]
    truth[video_id] = labels
    frames = gen.frames(labels, int(gen.rng.integers(frame_range[0],
                                                     frame_range[1] + 1)))
    written_labels = [] if split == "test" else labels
    shard = n % shards
    if video_level:
      means = {f"mean_{name}": utils.dequantize_np(q).mean(axis=0)
               for name, q in frames.items()}
      writers["video"][shard].write(examples.video_example(
          video_id, written_labels, means, id_key).SerializeToString())
    if frame_level:
      writers["frame"][shard].write(examples.frame_example(
          video_id, written_labels, frames, id_key).SerializeToString())
  for level_writers in writers.values():
    for writer in level_writers:
      writer.close()
  return truth


def write_labels_csv(path, truth):
  """The seed's ground-truth format: `VIDEO_ID,LABEL1 LABEL2 ...` per line."""
  with tf.io.gfile.GFile(path, "w") as f:
    for video_id, labels in truth.items():
      f.write(f"{video_id},{' '.join(str(x) for x in labels)}\n")


def generate(output_dir, num_train=2000, num_validate=500, num_test=500,
             shards=4, num_classes=3862, id_key="id", min_frames=20,
             max_frames=60, seed=0, video_level=True, frame_level=True,
             signal=0.2, segments=False, num_segment_validate=300,
             num_segment_test=300):
  """Writes the whole dataset; returns {split: {video_id: labels}}.

  With `segments`, also the 2019 segment splits (youtube8m.segment_data),
  returned as {"segment_validate"/"segment_test": {video_id: ratings}}.
  """
  if id_key not in ("id", "video_id"):
    raise utils.Yt8mError(f"--id_key must be 'id' or 'video_id', not {id_key!r}")
  if not 1 <= min_frames <= max_frames:
    raise utils.Yt8mError("--min_frames and --max_frames need "
                          f"1 <= min <= max, got {min_frames}, {max_frames}")
  gen = Generator(num_classes, seed, signal)
  counts = {"train": num_train, "validate": num_validate, "test": num_test}
  all_ids = make_ids(sum(counts.values()), id_key, gen.rng)
  result, start = {}, 0
  for split in SPLITS:
    ids = all_ids[start:start + counts[split]]
    start += counts[split]
    # Test videos have hidden labels; their features follow validate's sets.
    sets = load_label_sets(num_classes,
                           "train" if split == "train" else "validate")
    gen.rng.shuffle(sets)
    result[split] = write_split(gen, output_dir, split, ids, sets, shards,
                                id_key, (min_frames, max_frames), video_level,
                                frame_level)
  write_labels_csv(os.path.join(output_dir, "train_labels.csv"),
                   result["train"])
  write_labels_csv(os.path.join(output_dir, "validate_labels.csv"),
                   result["validate"])
  if segments:
    from youtube8m import segment_data  # pylint: disable=g-import-not-at-top
    result.update(segment_data.generate_segments(
        gen, output_dir, num_segment_validate, num_segment_test, shards,
        num_classes, id_key, (min_frames, max_frames), seed,
        taken_ids=[v for split in result.values() for v in split]))
  return result


def main(argv):
  from absl import flags  # pylint: disable=import-outside-toplevel
  del argv
  f = flags.FLAGS
  counts = generate(f.output_dir, f.num_train, f.num_validate, f.num_test,
                    f.shards, f.num_classes, f.id_key, f.min_frames,
                    f.max_frames, f.seed, f.video_level, f.frame_level,
                    f.signal, f.segments, f.num_segment_validate,
                    f.num_segment_test)
  print(f"wrote {', '.join(f'{len(v)} {k}' for k, v in counts.items())} "
        f"videos to {f.output_dir}")


def _define_flags():
  from absl import flags  # pylint: disable=import-outside-toplevel
  flags.DEFINE_string("output_dir", None, "Where to write the dataset.")
  flags.DEFINE_integer("num_train", 2000, "Training videos.")
  flags.DEFINE_integer("num_validate", 500, "Validation videos.")
  flags.DEFINE_integer("num_test", 500, "Test videos (written without labels).")
  flags.DEFINE_integer("shards", 4, "TFRecord files per split and level.")
  flags.DEFINE_integer("num_classes", 3862, "Label ids are kept below this.")
  flags.DEFINE_enum("id_key", "id", ["id", "video_id"],
                    "Record key of the video id: 'id' (2018+) or 'video_id' "
                    "(2017).")
  flags.DEFINE_integer("min_frames", 20, "Fewest frames (seconds) per video.")
  flags.DEFINE_integer("max_frames", 60, "Most frames (seconds) per video.")
  flags.DEFINE_integer("seed", 0, "Random seed; the same seed writes the same "
                       "files.")
  flags.DEFINE_bool("video_level", True, "Write video-level records.")
  flags.DEFINE_bool("frame_level", True, "Write frame-level records.")
  flags.DEFINE_float("signal", 0.2, "Scale of the class prototypes (higher "
                     "is easier to learn).")
  flags.DEFINE_bool("segments", True, "Also write the 2019 segment-rated "
                    "frame records under segment/ (validate with ratings, "
                    "test without).")
  flags.DEFINE_integer("num_segment_validate", 300,
                       "Segment-rated validate videos (--segments).")
  flags.DEFINE_integer("num_segment_test", 300,
                       "Segment test videos, unrated (--segments).")
  flags.mark_flag_as_required("output_dir")


if __name__ == "__main__":
  from youtube8m import cli  # pylint: disable=g-import-not-at-top
  _define_flags()
  cli.run(main)
