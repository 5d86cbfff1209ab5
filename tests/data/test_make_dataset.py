"""The generator writes the YouTube-8M layout, read back with protobuf alone."""

import csv
import glob
import hashlib
import os

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import make_dataset
from youtube8m.common import utils
from youtube8m.data import synthetic

from support import workflow_helpers as wh


def _records(pattern, proto):
  out = []
  for path in sorted(glob.glob(pattern)):
    for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
      out.append(proto.FromString(raw))
  return out


def _labels_csv(path):
  with open(path, newline="") as f:
    return {row[0]: [int(x) for x in row[1].split()] for row in csv.reader(f)}


@pytest.mark.parametrize("id_key", ["id", "video_id"])
def test_layout_keys_labels_and_features(tmp_path, id_key):
  out = str(tmp_path)
  truth = make_dataset.generate(out, num_train=12, num_validate=6, num_test=5,
                                shards=3, id_key=id_key, min_frames=4,
                                max_frames=9, seed=2)
  real_sets = {tuple(s) for split in ("train", "validate")
               for s in synthetic.load_label_sets(3862, split)}
  for split, count in (("train", 12), ("validate", 6), ("test", 5)):
    assert len(glob.glob(f"{out}/video/{split}*.tfrecord")) == 3
    videos = {e.features.feature[id_key].bytes_list.value[0].decode(): e
              for e in _records(f"{out}/video/{split}*", tf.train.Example)}
    frames = {
        s.context.feature[id_key].bytes_list.value[0].decode(): s
        for s in _records(f"{out}/frame/{split}*", tf.train.SequenceExample)}
    assert set(videos) == set(frames) == set(truth[split])
    assert len(videos) == count
    for video_id, example in videos.items():
      other_key = "video_id" if id_key == "id" else "id"
      assert other_key not in example.features.feature
      labels = list(example.features.feature["labels"].int64_list.value)
      if split == "test":
        assert labels == []  # hidden, as in the real test split
      else:
        assert labels == truth[split][video_id]
        assert tuple(labels) in real_sets
      seq = frames[video_id]
      assert list(seq.context.feature["labels"].int64_list.value) == labels
      for name, size in (("rgb", 1024), ("audio", 128)):
        per_frame = seq.feature_lists.feature_list[name].feature
        assert 4 <= len(per_frame) <= 9
        quantized = np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8)
                              for f in per_frame])
        assert quantized.shape[1] == size
        # The video-level feature is the mean of the dequantized frames.
        mean = example.features.feature[f"mean_{name}"].float_list.value
        np.testing.assert_allclose(
            mean, utils.dequantize_np(quantized).mean(axis=0), atol=1e-6)
  for split in ("train", "validate"):
    assert _labels_csv(f"{out}/{split}_labels.csv") == truth[split]


def test_seeded_output_is_reproducible(tmp_path):
  def files(seed, name):
    out = str(tmp_path / name)
    make_dataset.generate(out, num_train=6, num_validate=3, num_test=3,
                          shards=2, min_frames=2, max_frames=5, seed=seed)
    return {os.path.relpath(p, out): open(p, "rb").read()
            for p in glob.glob(f"{out}/**/*.*", recursive=True)}

  first, again, other = files(4, "a"), files(4, "b"), files(5, "c")
  assert first == again
  assert first["video/train0000.tfrecord"] != other["video/train0000.tfrecord"]


def test_small_or_empty_splits_write_no_empty_shards(tmp_path):
  out = str(tmp_path)
  make_dataset.generate(out, num_train=2, num_validate=1, num_test=0,
                        shards=4, min_frames=2, max_frames=3)
  for level in ("video", "frame"):
    assert sorted(os.listdir(f"{out}/{level}")) == [
        "train0000.tfrecord", "train0001.tfrecord", "validate0000.tfrecord"]
    for name in os.listdir(f"{out}/{level}"):
      assert os.path.getsize(f"{out}/{level}/{name}") > 0


def test_bad_generator_arguments_are_named(tmp_path):
  with pytest.raises(utils.Yt8mError, match="--id_key"):
    make_dataset.generate(str(tmp_path), id_key="vid")
  with pytest.raises(utils.Yt8mError, match="--min_frames"):
    make_dataset.generate(str(tmp_path), min_frames=5, max_frames=2)


def test_hidden_classes_cancel_in_the_frame_mean_only():
  """Two generators on one seed draw the same noise; a video with hidden
  class 0 differs from one without by +/- its prototype in each frame, and
  by nothing (up to quantization) in the mean over frames."""
  with_hidden, without = (synthetic.Generator(20, seed=3, hidden_classes=2)
                          for _ in range(2))
  for frames in (10, 7):  # an odd count: one frame without the class
    a = with_hidden.frames([0, 5], frames)
    b = without.frames([5], frames)
    for name, _ in synthetic.FEATURES:
      difference = utils.dequantize_np(a[name]) - utils.dequantize_np(b[name])
      prototype = with_hidden.prototypes[name][0]
      # Per frame: +p, -p or (the odd one out) 0, up to quantization.
      projection = difference @ prototype / (prototype @ prototype)
      signs = np.round(projection)
      assert sorted(signs) == sorted([1.0] * (frames // 2) +
                                     [-1.0] * (frames // 2) +
                                     [0.0] * (frames % 2))
      np.testing.assert_allclose(projection, signs, atol=0.05)
      # The mean: quantization (and rare clipping at +/-2) only.
      mean = difference.mean(axis=0)
      assert np.abs(mean).mean() < 2 / 255
      assert np.linalg.norm(mean) < 0.05 * np.linalg.norm(difference,
                                                          axis=1).max()
      assert abs(mean @ prototype) < 0.02 * (prototype @ prototype)


def test_hidden_classes_in_the_written_files(tmp_path):
  truth = make_dataset.generate(str(tmp_path), num_train=12, num_validate=0,
                                num_test=0, shards=1, num_classes=10,
                                min_frames=6, max_frames=6, seed=1,
                                hidden_classes=3)
  assert any(set(labels) & {0, 1, 2} for labels in truth["train"].values())
  videos = {e.features.feature["id"].bytes_list.value[0]: e for e in
            _records(f"{tmp_path}/video/train*", tf.train.Example)}
  for seq in _records(f"{tmp_path}/frame/train*", tf.train.SequenceExample):
    video = videos[seq.context.feature["id"].bytes_list.value[0]]
    for name, _ in synthetic.FEATURES:
      quantized = np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8)
                            for f in seq.feature_lists.feature_list[name]
                            .feature])
      np.testing.assert_allclose(
          video.features.feature[f"mean_{name}"].float_list.value,
          utils.dequantize_np(quantized).mean(axis=0), atol=1e-6)
  with pytest.raises(utils.Yt8mError, match="--hidden_classes"):
    make_dataset.generate(str(tmp_path), num_classes=10, hidden_classes=11)


def _digest(out):
  digest = hashlib.sha256()
  for path in sorted(glob.glob(f"{out}/**/*.*", recursive=True)):
    digest.update(os.path.relpath(path, out).encode())
    digest.update(open(path, "rb").read())
  return digest.hexdigest()


@pytest.mark.parametrize("options,expected", [
    ({}, "d3027d3de5d2187da4c20375677d231e2412d2bde737052c688b5fb413083282"),
    ({"hidden_classes": 5, "seed": 3},
     "8b410e8b1067dd212d2b57a7c932c11565ed1548d4ddad3fab11d431b8ee1026")])
def test_earlier_datasets_keep_their_bytes(tmp_path, options, expected):
  """Other tests and users' figures rest on these files: new options must
  not change what the old ones write. The digests are of the files that
  `make_dataset --num_train=40 --num_validate=10 --num_test=10
  --num_segment_validate=5 --num_segment_test=5 --shards=2` wrote at
  commit c9b76e5 (with --hidden_classes=5 --seed=3 for the second)."""
  make_dataset.generate(str(tmp_path), num_train=40, num_validate=10,
                        num_test=10, num_segment_validate=5,
                        num_segment_test=5, shards=2, segments=True,
                        **options)
  assert _digest(str(tmp_path)) == expected


def _order_difference(directions, frames):
  """Frames of a video of class 5 with the order classes 0, 1 shown as
  `directions`, minus those of the same draws without them."""
  shown, plain = (synthetic.Generator(20, seed=4, order_classes=2)
                  for _ in range(2))
  a = shown.frames([5], frames, np.array(directions))
  b = plain.frames([5], frames, np.zeros(2, int))
  return shown, {name: utils.dequantize_np(a[name]) -
                 utils.dequantize_np(b[name]) for name, _ in synthetic.FEATURES}


def _mostly_close(got, want):
  """Equal up to quantization (1/64), but for the few values clipped at
  +/-2 by the dataset's quantization."""
  return np.mean(np.abs(got - want) < 0.02) > 0.99


@pytest.mark.parametrize("frames", [8, 7])
def test_order_classes_show_two_patterns_in_order(frames):
  half = frames // 2
  gen, forward = _order_difference([1, 0], frames)
  _, backward = _order_difference([-1, 0], frames)
  for name, _ in synthetic.FEATURES:
    a, b = (np.tile(p, (half, 1)) for p in gen.patterns[name][0])
    assert _mostly_close(forward[name][:half], a)
    assert _mostly_close(forward[name][-half:], b)
    assert _mostly_close(backward[name][:half], b)
    assert _mostly_close(backward[name][-half:], a)
    assert not _mostly_close(forward[name][:half], b)
    if frames % 2:  # the middle frame shows neither
      assert _mostly_close(forward[name][half], 0.0)
    # A bag of frames cannot tell the two apart: the same frames, in
    # another order.
    assert _mostly_close(np.sort(forward[name], axis=0),
                         np.sort(backward[name], axis=0))


def test_decoys_lose_the_class_and_keep_the_other_labels():
  gen = synthetic.Generator(20, seed=5, order_classes=2)
  kept = 0
  for _ in range(200):
    labels, frames = gen.video([0, 7], 6)
    assert labels in ([0, 7], [7])
    kept += labels == [0, 7]
    assert frames["rgb"].shape == (6, 1024)
  assert 70 < kept < 130  # each way with probability 1/2
  assert gen.video([7, 9], 6)[0] == [7, 9]  # no order class, no decoy
  with pytest.raises(utils.Yt8mError, match="--order_classes"):
    synthetic.Generator(10, hidden_classes=4, order_classes=7)


def test_order_classes_in_the_written_files(tmp_path):
  truth = make_dataset.generate(str(tmp_path), num_train=60, num_validate=0,
                                num_test=0, shards=1, num_classes=10,
                                min_frames=6, max_frames=6, seed=1,
                                hidden_classes=1, order_classes=3,
                                video_level=False)
  real = {tuple(s) for s in synthetic.load_label_sets(10, "train")}
  removed = 0
  for labels in truth["train"].values():
    # A real label set, maybe without some of its order classes (1..3).
    candidates = [s for s in real if set(labels) <= set(s) and
                  set(s) - set(labels) <= {1, 2, 3}]
    assert candidates, labels
    removed += min(len(set(s) - set(labels)) for s in candidates)
  assert removed > 0
  frames = _records(f"{tmp_path}/frame/train*", tf.train.SequenceExample)
  assert len(frames) == 60


def test_ids_do_not_depend_on_the_hash_seed():
  ids = synthetic.make_ids(50, "id", np.random.default_rng(0))
  assert len(set(ids)) == 50
  assert ids == synthetic.make_ids(50, "id", np.random.default_rng(0))


@pytest.mark.slow
def test_same_seed_writes_the_same_bytes_in_other_processes(tmp_path):
  """Python's hash seed and protobuf's (per-process) map order must not
  reach the files."""
  def run(name, hash_seed):
    out = str(tmp_path / name)
    wh.run_script(["-m", "youtube8m.make_dataset", f"--output_dir={out}",
                   "--num_train=12", "--num_validate=4", "--num_test=4",
                   "--num_segment_validate=3", "--num_segment_test=3",
                   "--shards=2", "--min_frames=10", "--max_frames=12",
                   "--hidden_classes=3", "--order_classes=2", "--seed=7"],
                  env={"PYTHONHASHSEED": str(hash_seed)})
    return {os.path.relpath(p, out): open(p, "rb").read()
            for p in glob.glob(f"{out}/**/*.*", recursive=True)}

  first, second = run("a", 1), run("b", 2)
  assert len(first) == 18  # 2 levels x 3 splits x 2 shards, 4 segment, 2 csv
  assert first == second
