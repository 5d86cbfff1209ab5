"""The YouTube-8M-format synthetic dataset: videos with a learnable signal.

`python -m youtube8m.make_dataset` writes it (see that module for the
layout); this module holds the generator and the video/frame-level splits,
segment_data.py the 2019 segment splits.

Labels are real YouTube-8M label sets (youtube8m/data/label_sets_sample.csv),
so class frequencies and co-occurrences look like the real data. Features
carry a learnable signal: each class has a prototype direction in the rgb and
audio spaces, a video is the sum of its classes' prototypes plus per-video
noise, and each frame adds per-frame noise. Frames are quantized to bytes
with the dataset's own formula; `mean_rgb`/`mean_audio` are the frame means.

Hidden classes (`hidden_classes=N`: classes 0..N-1, the most frequent):
their evidence is invisible to frame averaging. A video's hidden classes
add their prototypes with sign +1 to a random half of its frames and -1 to
the other half (0 to the odd frame out), so each frame shows them plainly
but they cancel exactly in the mean over frames (before quantization):
`mean_rgb`/`mean_audio` and any average of the frames carry nothing of them
(beyond their co-occurrence with visible classes), while a pooling that
looks at frames one by one (NetVLAD, NeXtVLAD) can find them. The segment
records (segment_data.py) ignore the option.

Order classes (`order_classes=M`: the M classes after the hidden ones,
hidden_classes .. hidden_classes + M - 1): their evidence is only the
ORDER of two patterns. Each order class has two random directions A and B
(its prototype is not used). A video whose real label set holds an order
class shows A on the first half of its frames and B on the second half
(the middle frame of an odd count gets neither), or, with probability 1/2,
is a decoy: the class is removed from its labels and it shows B first,
then A. Positives and decoys then have the same other labels (so the same
co-occurrences), and the same frames up to their order: any bag of frames,
and the frame means, cannot tell them apart, and a model that ranks both
alike gets an AP near 1/2 on the class. A model that reads frames in order
can reach 1. A decoy of a one-label set has no labels. The segment records
ignore the option too.

The same seed writes byte-identical files in any process: ids are drawn in
a seeded order, and records are serialized deterministically (protobuf's
upb backend writes map entries, such as a tf.train.Example's features, in
hash-table order, and seeds that hash per process).
"""

import csv
import os
import string

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import examples

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
  ids = {}  # insertion-ordered: a set's order follows the hash seed
  while len(ids) < count:
    ids.setdefault("".join(rng.choice(alphabet, length)), None)
  ids = list(ids)
  # A seeded shuffle, drawing what earlier versions drew, so the rest of
  # the random stream (the videos) is unchanged.
  return [ids[i] for i in np.argsort(rng.random(len(ids)), kind="stable")]


class Generator:
  """Synthetic videos with a learnable, class-dependent signal."""

  def __init__(self, num_classes=3862, seed=0, signal=0.2, video_noise=0.3,
               frame_noise=0.5, hidden_classes=0, order_classes=0):
    if not 0 <= hidden_classes <= num_classes:
      raise utils.Yt8mError(
          f"--hidden_classes={hidden_classes} must be between 0 and "
          f"--num_classes={num_classes}")
    if not 0 <= order_classes <= num_classes - hidden_classes:
      raise utils.Yt8mError(
          f"--order_classes={order_classes} must be between 0 and "
          f"--num_classes - --hidden_classes = "
          f"{num_classes - hidden_classes}")
    self.num_classes, self.hidden_classes = num_classes, int(hidden_classes)
    self.order_classes = int(order_classes)
    self.rng = np.random.default_rng(seed)
    self.video_noise, self.frame_noise = video_noise, frame_noise
    # prototypes[name]: float32 [num_classes, D], one direction per class.
    self.prototypes = {
        name: (signal * self.rng.standard_normal((num_classes, size))
               ).astype(np.float32)
        for name, size in FEATURES}
    # Drawn only with order classes, so other datasets keep their bytes.
    if self.order_classes:
      # patterns[name]: float32 [M, 2, D], patterns A and B of each class.
      self.patterns = {
          name: (signal * self.rng.standard_normal(
              (self.order_classes, 2, size))).astype(np.float32)
          for name, size in FEATURES}

  def video(self, labels, num_frames):
    """(labels as written, {name: uint8 [num_frames, D]}) of a video whose
    real label set is `labels`: with order classes, some of its order
    classes may become decoys (removed from the labels, shown reversed)."""
    directions = None
    if self.order_classes:
      first, count = self.hidden_classes, self.order_classes
      own = np.isin(np.arange(first, first + count), labels)
      # M draws for every video, so the draws do not depend on labels.
      decoy = own & (self.rng.random(count) < 0.5)
      directions = np.where(decoy, -1, np.where(own, 1, 0))
      labels = [c for c in labels if not (
          first <= c < first + count and decoy[c - first])]
    return labels, self.frames(labels, num_frames, directions)

  def order_values(self, directions, num_frames, name):
    """float32 [num_frames, D] of directions int [M] (+1: A then B, -1: B
    then A, 0: neither): the early patterns on the first half of the
    frames, the late ones on the second half (an odd middle frame: 0)."""
    a, b = self.patterns[name][:, 0], self.patterns[name][:, 1]  # [M, D]
    forward, backward = [(directions == s).astype(np.float32)
                         for s in (1, -1)]
    half = num_frames // 2
    values = np.zeros((num_frames, a.shape[1]), np.float32)
    values[:half] = forward @ a + backward @ b
    values[num_frames - half:] = forward @ b + backward @ a
    return values

  def hidden_signs(self, num_frames):
    """float32 [num_frames]: +1 on a random half, -1 on the other half, 0
    on the odd frame out; sums to 0."""
    half = num_frames // 2
    signs = np.zeros(num_frames, np.float32)
    signs[:half], signs[half:2 * half] = 1.0, -1.0
    return self.rng.permutation(signs)

  def frames(self, labels, num_frames, directions=None):
    """labels: list of ints -> {name: uint8 [num_frames, D]}.

    directions: int [M] of the order classes (see `order_values`); None
    shows the order classes of `labels` forward.
    """
    visible = [c for c in labels
               if c >= self.hidden_classes + self.order_classes]
    hidden = [c for c in labels if c < self.hidden_classes]
    # Drawn for every video, so the noise draws do not depend on labels.
    signs = self.hidden_signs(num_frames) if self.hidden_classes else None
    if self.order_classes and directions is None:
      first = self.hidden_classes
      directions = np.isin(np.arange(first, first + self.order_classes),
                           labels).astype(int)
    out = {}
    for name, size in FEATURES:
      prototypes = self.prototypes[name]
      center = prototypes[visible].sum(axis=0) if visible else 0.0
      center = center + self.video_noise * self.rng.standard_normal(
          size, dtype=np.float32)
      values = center + self.frame_noise * self.rng.standard_normal(
          (num_frames, size), dtype=np.float32)
      if hidden:
        values = values + signs[:, None] * prototypes[hidden].sum(axis=0)
      if directions is not None and directions.any():
        values = values + self.order_values(directions, num_frames, name)
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
    labels, frames = gen.video(
        label_sets[n % len(label_sets)],
        int(gen.rng.integers(frame_range[0], frame_range[1] + 1)))
    truth[video_id] = labels
    written_labels = [] if split == "test" else labels
    shard = n % shards
    if video_level:
      means = {f"mean_{name}": utils.dequantize_np(q).mean(axis=0)
               for name, q in frames.items()}
      writers["video"][shard].write(examples.video_example(
          video_id, written_labels, means, id_key).SerializeToString(
              deterministic=True))
    if frame_level:
      writers["frame"][shard].write(examples.frame_example(
          video_id, written_labels, frames, id_key).SerializeToString(
              deterministic=True))
  for level_writers in writers.values():
    for writer in level_writers:
      writer.close()
  return truth


def write_labels_csv(path, truth):
  """The seed's ground-truth format: `VIDEO_ID,LABEL1 LABEL2 ...` per line."""
  with tf.io.gfile.GFile(path, "w") as f:
    for video_id, labels in truth.items():
      f.write(f"{video_id},{' '.join(str(x) for x in labels)}\n")


def generate_videos(gen, output_dir, num_train=2000, num_validate=500,
                    num_test=500, shards=4, id_key="id", frame_range=(20, 60),
                    video_level=True, frame_level=True):
  """Writes the train/validate/test splits; returns {split: {id: labels}}."""
  counts = {"train": num_train, "validate": num_validate, "test": num_test}
  all_ids = make_ids(sum(counts.values()), id_key, gen.rng)
  result, start = {}, 0
  for split in SPLITS:
    ids = all_ids[start:start + counts[split]]
    start += counts[split]
    # Test videos have hidden labels; their features follow validate's sets.
    sets = load_label_sets(gen.num_classes,
                           "train" if split == "train" else "validate")
    gen.rng.shuffle(sets)
    result[split] = write_split(gen, output_dir, split, ids, sets, shards,
                                id_key, frame_range, video_level,
                                frame_level)
  write_labels_csv(os.path.join(output_dir, "train_labels.csv"),
                   result["train"])
  write_labels_csv(os.path.join(output_dir, "validate_labels.csv"),
                   result["validate"])
  return result
