"""Readers: exact tensors from records with known values, and bad input."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.data import raw_frames
from youtube8m.data import readers
from youtube8m.data import tfrecords

from support import records

RNG = np.random.default_rng(7)


def read_all(dataset):
  """Concatenates every batch of a dataset into numpy arrays.

  A tuple value (the raw frame reader's per-feature matrices, each maybe in
  row chunks) becomes a tuple of concatenated per-feature arrays.
  """
  parts = collections.defaultdict(list)
  for batch in dataset:
    for key, value in batch.items():
      parts[key].append(
          tuple(v.numpy() for v in raw_frames.feature_parts(value))
          if isinstance(value, tuple) else value.numpy())
  return {k: tuple(np.concatenate(p) for p in zip(*v))
             if isinstance(v[0], tuple) else np.concatenate(v)
          for k, v in parts.items()}


def to_float(out):
  """The raw reader's video_matrix dequantized, as the model does it."""
  matrix = out["video_matrix"]
  matrix = (tuple(tf.constant(m) for m in matrix)
            if isinstance(matrix, tuple) else tf.constant(matrix))
  return raw_frames.frames_to_float(
      matrix, tf.constant(out["num_frames"])).numpy()


# ------------------------------------------------------------ video level ---

def _video_rows(n, start, num_classes):
  rows = []
  for i in range(n):
    labels = sorted(RNG.choice(num_classes, RNG.integers(0, 4), replace=False))
    rows.append((f"v{start + i:03d}", [int(x) for x in labels],
                 RNG.normal(size=8).astype(np.float32),
                 RNG.normal(size=3).astype(np.float32)))
  return rows


@pytest.fixture(name="video_files")
def _video_files(tmp_path):
  """Two shards: one with the 2018 'id' key, one with the 2017 'video_id'."""
  shards = [_video_rows(5, 0, 10), _video_rows(4, 5, 10)]
  for rows, key, name in zip(shards, ["id", "video_id"], ["a", "b"]):
    records.write(tmp_path / f"train{name}.tfrecord", [
        records.video_record(vid, labels, {"mean_rgb": rgb, "mean_audio": au},
                             id_key=key) for vid, labels, rgb, au in rows])
  return str(tmp_path / "train*.tfrecord"), shards


def test_video_level_exact_values_in_eval_order(video_files):
  pattern, shards = video_files
  reader = readers.YT8MAggregatedFeatureReader(
      num_classes=10, feature_names="mean_rgb, mean_audio",
      feature_sizes="8, 3")
  out = read_all(readers.make_dataset(reader, pattern, batch_size=4,
                                      num_readers=1))
  rows = shards[0] + shards[1]  # one reader: files in sorted order
  assert [v.decode() for v in out["video_ids"]] == [r[0] for r in rows]
  expected = np.stack([np.concatenate([r[2], r[3]]) for r in rows])
  np.testing.assert_array_equal(out["video_matrix"], expected)
  multi_hot = np.zeros((len(rows), 10), np.float32)
  for i, row in enumerate(rows):
    multi_hot[i, row[1]] = 1.0
  np.testing.assert_array_equal(out["labels"], multi_hot)
  np.testing.assert_array_equal(out["num_frames"], np.ones(len(rows)))
  assert out["video_matrix"].dtype == np.float32
  assert out["num_frames"].dtype == np.int32


def test_eval_order_is_fixed_with_parallel_readers(video_files):
  pattern, _ = video_files
  reader = readers.YT8MAggregatedFeatureReader(10, "mean_rgb", "8")
  runs = [read_all(readers.make_dataset(reader, pattern, 3, num_readers=2))
          ["video_ids"].tolist() for _ in range(3)]
  assert runs[0] == runs[1] == runs[2]
  # Round-robin over the two files: a, b, a, b, ...
  assert [v.decode() for v in runs[0][:4]] == ["v000", "v005", "v001", "v006"]


def test_training_order_covers_every_video_each_epoch(video_files):
  pattern, shards = video_files
  reader = readers.YT8MAggregatedFeatureReader(10, "mean_rgb", "8")
  out = read_all(readers.make_dataset(reader, pattern, 4, num_epochs=3,
                                      shuffle=True, seed=1))
  ids = [v.decode() for v in out["video_ids"]]
  expected = sorted(r[0] for r in shards[0] + shards[1])
  assert sorted(ids) == sorted(expected * 3)
  by_id = {r[0]: r[2] for r in shards[0] + shards[1]}
  for vid, row in zip(ids, out["video_matrix"]):
    np.testing.assert_array_equal(row, by_id[vid])


# ------------------------------------------------------------ frame level ---

FRAME_COUNTS = [1, 5, 299, 300, 301, 420]


@pytest.fixture(name="frame_files")
def _frame_files(tmp_path):
  videos = []
  for i, count in enumerate(FRAME_COUNTS):
    labels = [] if i == 2 else [i, (i + 3) % 7]
    videos.append((f"f{i}", labels,
                   RNG.integers(0, 256, (count, 16), dtype=np.uint8),
                   RNG.integers(0, 256, (count, 8), dtype=np.uint8)))
  for shard, key in [(0, "id"), (1, "video_id")]:
    records.write(tmp_path / f"frames{shard}.tfrecord", [
        records.frame_record(vid, labels, {"rgb": rgb, "audio": audio},
                             id_key=key)
        for vid, labels, rgb, audio in videos[shard * 3:shard * 3 + 3]])
  return str(tmp_path / "frames*.tfrecord"), videos


@pytest.mark.parametrize("raw", [False, True])
def test_frame_level_exact_values(frame_files, raw):
  pattern, videos = frame_files
  reader = readers.YT8MFrameFeatureReader(7, "rgb,audio", "16,8", raw=raw)
  out = read_all(readers.make_dataset(reader, pattern, 4, num_readers=1))
  assert [v.decode() for v in out["video_ids"]] == [v[0] for v in videos]
  matrix = out["video_matrix"]
  if raw:
    # One uint8 matrix per feature, in flag order, holding the exact bytes.
    assert [(m.shape, m.dtype) for m in matrix] == [
        ((len(videos), 300, 16), np.uint8), ((len(videos), 300, 8), np.uint8)]
    for i, (_, _, rgb, audio) in enumerate(videos):
      n = min(len(rgb), 300)
      for part, quantized in zip(matrix, (rgb, audio)):
        np.testing.assert_array_equal(part[i, :n], quantized[:n])
        np.testing.assert_array_equal(part[i, n:], 0)
    matrix = to_float(out)
  assert matrix.shape == (len(videos), 300, 24)
  for i, (_, labels, rgb, audio) in enumerate(videos):
    n = min(len(rgb), 300)
    assert out["num_frames"][i] == n
    expected = np.concatenate([records.dequantize(rgb[:n]),
                               records.dequantize(audio[:n])], axis=1)
    np.testing.assert_allclose(matrix[i, :n], expected, rtol=0, atol=5e-7)
    np.testing.assert_array_equal(matrix[i, n:], 0.0)  # exact zero padding
    np.testing.assert_array_equal(np.flatnonzero(out["labels"][i]),
                                  sorted(labels))


def test_raw_and_float_forms_are_identical(frame_files):
  pattern, _ = frame_files
  outs = [read_all(readers.make_dataset(
      readers.YT8MFrameFeatureReader(7, "rgb,audio", "16,8", raw=raw),
      pattern, 2)) for raw in (False, True)]
  np.testing.assert_array_equal(outs[0]["video_matrix"], to_float(outs[1]))


def _chunk_rows(batch):
  """Rows of each chunk, per feature, of a raw batch's video_matrix."""
  return [[int(chunk.shape[0]) for chunk in feature]
          for feature in batch["video_matrix"]]


@pytest.mark.slow
def test_big_raw_batches_come_in_row_chunks(frame_files, monkeypatch):
  """Above CHUNK_BYTES a raw batch is parsed in row chunks; same values."""
  pattern, videos = frame_files
  whole = read_all(readers.make_dataset(
      readers.YT8MFrameFeatureReader(7, "rgb,audio", "16,8", raw=True),
      pattern, 4, num_readers=1))
  # Two videos' rgb (the biggest feature) fill a chunk.
  monkeypatch.setattr(readers, "CHUNK_BYTES", 2 * 300 * 16 + 100)
  reader = readers.YT8MFrameFeatureReader(7, "rgb,audio", "16,8", raw=True)
  assert reader.chunk_rows == 2
  batches = list(readers.make_dataset(reader, pattern, 4, num_readers=1))
  # 6 videos in batches of 4: chunks of 2 + 2, then 2 + 0 for the last.
  assert [_chunk_rows(b) for b in batches] == [[[2, 2], [2, 2]],
                                               [[2, 0], [2, 0]]]
  assert all(chunk.shape[1:] == (300, size) and chunk.dtype == tf.uint8
             for b in batches for feature, size in zip(b["video_matrix"],
                                                        (16, 8))
             for chunk in feature)
  chunked = read_all(batches)
  assert chunked.keys() == whole.keys()
  for key in whole:
    if key == "video_matrix":
      for part, expected in zip(chunked[key], whole[key]):
        np.testing.assert_array_equal(part, expected)
    else:
      np.testing.assert_array_equal(chunked[key], whole[key])
  # The float form is not chunked, and equals the chunks dequantized.
  floats = read_all(readers.make_dataset(
      readers.YT8MFrameFeatureReader(7, "rgb,audio", "16,8"), pattern, 4,
      num_readers=1))
  np.testing.assert_array_equal(floats["video_matrix"], to_float(chunked))
  assert videos[4][0].encode() in chunked["video_ids"]


def test_one_feature_in_chunks_and_a_bad_video_in_a_later_chunk(
    tmp_path, monkeypatch):
  """Each chunk is checked: the message names the video in chunk 3."""
  monkeypatch.setattr(readers, "CHUNK_BYTES", 300 * 8)  # one video a chunk
  frames = [RNG.integers(0, 256, (n, 8), dtype=np.uint8) for n in (3, 4)]
  path = records.write(tmp_path / "one.tfrecord", [
      records.frame_record(f"ok{i}", [1], {"rgb": f})
      for i, f in enumerate(frames)])
  reader = readers.YT8MFrameFeatureReader(5, "rgb", "8", raw=True)
  (batch,) = list(readers.make_dataset(reader, path, 3))
  # One feature in chunks is still a tuple (of one feature's chunks).
  assert _chunk_rows(batch) == [[1, 1, 0]]
  out = read_all([batch])
  for i, f in enumerate(frames):
    np.testing.assert_array_equal(out["video_matrix"][0][i, :len(f)], f)
  bad = records.write(tmp_path / "bad.tfrecord", [
      records.frame_record(f"ok{i}", [1], {"rgb": f})
      for i, f in enumerate(frames)] + [records.frame_record(
          "short_frames", [1], {"rgb": np.zeros((2, 6), np.uint8)})])
  message = _error_of(reader, bad, batch_size=3)
  assert "bad.tfrecord" in message and "'short_frames'" in message
  assert "'rgb' has a frame of 6 bytes, expected 8" in message


def test_feature_order_follows_flags(frame_files):
  pattern, videos = frame_files
  reader = readers.YT8MFrameFeatureReader(7, "audio,rgb", "8,16")
  out = read_all(readers.make_dataset(reader, pattern, 8, num_readers=1))
  np.testing.assert_allclose(out["video_matrix"][0, :1, :8],
                             records.dequantize(videos[0][3][:1]), atol=5e-7)


def test_odd_feature_sizes_past_max_frames(tmp_path):
  """Sizes not divisible by 8 take the byte path; frames past 300 are cut."""
  rgb = RNG.integers(0, 256, (310, 5), dtype=np.uint8)
  audio = RNG.integers(0, 256, (310, 3), dtype=np.uint8)
  path = records.write(tmp_path / "odd.tfrecord", [records.frame_record(
      "odd", [1], {"rgb": rgb, "audio": audio})])
  out = read_all(readers.make_dataset(
      readers.YT8MFrameFeatureReader(3, "rgb,audio", "5,3"), path, 1))
  np.testing.assert_allclose(
      out["video_matrix"][0],
      np.concatenate([records.dequantize(rgb[:300]),
                      records.dequantize(audio[:300])], axis=1), atol=5e-7)


@pytest.mark.parametrize("rgb_frames, audio_frames", [(400, 350), (5, 4)])
@pytest.mark.slow
def test_unequal_frame_counts_are_named_even_past_max_frames(
    tmp_path, rgb_frames, audio_frames):
  rgb = RNG.integers(0, 256, (rgb_frames, 4), dtype=np.uint8)
  audio = RNG.integers(0, 256, (audio_frames, 2), dtype=np.uint8)
  path = records.write(tmp_path / "uneven.tfrecord", [records.frame_record(
      "uneven", [1], {"rgb": rgb, "audio": audio})])
  message = _error_of(readers.YT8MFrameFeatureReader(3, "rgb,audio", "4,2",
                                                     raw=True), path)
  assert (f"uneven.tfrecord: video 'uneven': feature 'audio' has "
          f"{audio_frames} frames, unlike the first feature 'rgb' "
          f"({rgb_frames})") in message


# -------------------------------------------------------------- bad input ---

def _error_of(reader, pattern, batch_size=4):
  """The one-line message that reading `pattern` fails with."""
  with pytest.raises((utils.Yt8mError, tf.errors.OpError)) as info:
    for _ in readers.make_dataset(reader, pattern, batch_size):
      pass
  message = utils.error_message(info.value)
  if message is None and isinstance(info.value, tf.errors.DataLossError):
    message = tfrecords.diagnose_data_loss(info.value)
  assert message is not None, str(info.value)[:500]
  assert "\n" not in message
  return message


def test_pattern_matching_no_file(tmp_path):
  message = _error_of(readers.YT8MAggregatedFeatureReader(),
                      str(tmp_path / "nothing*.tfrecord"))
  assert "nothing*.tfrecord" in message and "matches no file" in message


def test_names_and_sizes_of_different_lengths():
  with pytest.raises(utils.Yt8mError,
                     match="--feature_names has 2 items.*--feature_sizes has 1"):
    readers.YT8MAggregatedFeatureReader(10, "mean_rgb,mean_audio", "1024")


def test_feature_size_not_a_number():
  with pytest.raises(utils.Yt8mError, match="'x' of feature 'rgb'"):
    readers.YT8MFrameFeatureReader(10, "rgb", "x")


def test_missing_video_feature_key(video_files):
  pattern, _ = video_files
  message = _error_of(
      readers.YT8MAggregatedFeatureReader(10, "mean_rgb,mean_aud", "8,3"),
      pattern)
  assert "'mean_aud'" in message and "has 0 values" in message
  assert "traina.tfrecord" in message and "v000" in message


def test_wrong_video_feature_size(video_files):
  pattern, _ = video_files
  message = _error_of(readers.YT8MAggregatedFeatureReader(10, "mean_rgb", "9"),
                      pattern)
  assert "'mean_rgb' has 8 values, expected 9" in message


@pytest.mark.slow
def test_missing_frame_feature_key(frame_files):
  pattern, _ = frame_files
  message = _error_of(readers.YT8MFrameFeatureReader(7, "rgb,sound", "16,8"),
                      pattern)
  assert "feature 'sound' is missing" in message and "frames0" in message


def test_wrong_frame_feature_size(frame_files):
  pattern, _ = frame_files
  message = _error_of(readers.YT8MFrameFeatureReader(7, "rgb,audio",
                                                     "16,128"), pattern)
  assert "'audio' has a frame of 8 bytes, expected 128" in message


def test_label_id_beyond_num_classes(tmp_path):
  path = records.write(tmp_path / "labels.tfrecord", [
      records.video_record("ok", [1], {"mean_rgb": [0.0] * 4}),
      records.video_record("bad_one", [2, 4716], {"mean_rgb": [0.0] * 4})])
  message = _error_of(readers.YT8MAggregatedFeatureReader(3862, "mean_rgb",
                                                          "4"), path)
  assert "labels.tfrecord" in message and "'bad_one'" in message
  assert "label id 4716" in message and "--num_classes=3862" in message


def test_negative_label_id_in_frames(tmp_path):
  path = records.write(tmp_path / "neg.tfrecord", [records.frame_record(
      "neg", [-1], {"rgb": np.zeros((2, 8), np.uint8)})])
  message = _error_of(readers.YT8MFrameFeatureReader(5, "rgb", "8"), path)
  assert "'neg'" in message and "label id -1" in message


@pytest.mark.slow
def test_record_without_an_id(tmp_path):
  example = tf.train.Example(features=tf.train.Features(feature={
      "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
      "mean_rgb": tf.train.Feature(float_list=tf.train.FloatList(
          value=[0.0] * 4))}))
  path = records.write(tmp_path / "noid.tfrecord",
                       [example.SerializeToString()])
  message = _error_of(readers.YT8MAggregatedFeatureReader(5, "mean_rgb", "4"),
                      path)
  assert "noid.tfrecord" in message and "neither an 'id' nor" in message


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_damaged_shard_is_named(tmp_path, damage):
  good = [records.video_record(f"g{i}", [1], {"mean_rgb": [0.5] * 64})
          for i in range(20)]
  records.write(tmp_path / "part-0.tfrecord", good)
  path = records.write(tmp_path / "part-1.tfrecord", good)
  records.write(tmp_path / "part-2.tfrecord", good)
  data = bytearray(open(path, "rb").read())
  if damage == "truncated":
    data = data[:len(data) - 100]
  else:
    data[len(data) // 2] ^= 0xFF
  open(path, "wb").write(bytes(data))
  message = _error_of(readers.YT8MAggregatedFeatureReader(5, "mean_rgb", "64"),
                      str(tmp_path / "part-*.tfrecord"))
  assert "part-1.tfrecord" in message and damage in message
  assert "part-0" not in message and "part-2" not in message


def test_a_bad_payload_crc_mid_shard_names_the_file(tmp_path):
  good = [records.video_record(f"g{i}", [1], {"mean_rgb": [0.5] * 16})
          for i in range(6)]
  path = records.write(tmp_path / "part-1.tfrecord", good)
  records.write(tmp_path / "part-0.tfrecord", good)
  data = bytearray(open(path, "rb").read())
  record_size = len(data) // 6
  # A byte inside the third record's payload: its CRC fails, and TensorFlow
  # reports the payload's offset, 12 bytes past the record's start.
  data[2 * record_size + 20] ^= 0xFF
  open(path, "wb").write(bytes(data))
  with pytest.raises(tf.errors.DataLossError) as info:
    for _ in readers.make_dataset(
        readers.YT8MAggregatedFeatureReader(5, "mean_rgb", "16"),
        str(tmp_path / "part-*.tfrecord"), 4, num_readers=1):
      pass
  message = tfrecords.diagnose_data_loss(info.value)
  assert message and "part-1.tfrecord" in message, info.value.message
  assert f"byte {2 * record_size + 12}" in message


def _feature(kind, values):
  return tf.train.Feature(**{kind: {
      "int64_list": tf.train.Int64List, "float_list": tf.train.FloatList,
      "bytes_list": tf.train.BytesList}[kind](value=values)})


def _type_error(reader, path):
  """The diagnosis of a parse that found another type than expected."""
  with pytest.raises(tf.errors.InvalidArgumentError) as info:
    for _ in readers.make_dataset(reader, path, 2):
      pass
  message = tfrecords.diagnose_wrong_type(info.value)
  assert message and "\n" not in message, info.value.message
  return message


def test_a_feature_stored_with_another_type_is_named(tmp_path):
  good = records.video_record("fine", [1], {"mean_rgb": [0.5] * 4})
  bad = tf.train.Example(features=tf.train.Features(feature={
      "id": _feature("bytes_list", [b"ints"]),
      "labels": _feature("int64_list", [1]),
      "mean_rgb": _feature("int64_list", [1, 2, 3, 4])})).SerializeToString()
  records.write(tmp_path / "a.tfrecord", [good])
  path = records.write(tmp_path / "b.tfrecord", [good, bad])
  message = _type_error(readers.YT8MAggregatedFeatureReader(5, "mean_rgb",
                                                            "4"),
                        str(tmp_path / "*.tfrecord"))
  assert message.startswith(f"file {path}: video 'ints': feature 'mean_rgb' "
                            "holds integers (int64), but its values must be "
                            "floats")
  frames = tf.train.SequenceExample(
      context=tf.train.Features(feature={
          "id": _feature("bytes_list", [b"intframes"]),
          "labels": _feature("int64_list", [1])}),
      feature_lists=tf.train.FeatureLists(feature_list={
          "rgb": tf.train.FeatureList(feature=[_feature("int64_list", [1])] *
                                      3)})).SerializeToString()
  path = records.write(tmp_path / "frames.tfrecord", [frames])
  message = _type_error(readers.YT8MFrameFeatureReader(5, "rgb", "4"), path)
  assert message.startswith(f"file {path}: video 'intframes': feature 'rgb' "
                            "holds integers (int64), but its frames must be "
                            "bytes")


def test_a_file_named_with_glob_characters_is_read_as_it_is(tmp_path):
  directory = tmp_path / "exp[lr=0.01]"
  directory.mkdir()
  path = records.write(directory / "part[1].tfrecord", [
      records.video_record("v", [1], {"mean_rgb": [0.5] * 4})])
  assert tfrecords.list_files(path) == [path]
  out = read_all(readers.make_dataset(
      readers.YT8MAggregatedFeatureReader(5, "mean_rgb", "4"), path, 2))
  assert [v.decode() for v in out["video_ids"]] == ["v"]


@pytest.mark.parametrize("chunk_bytes", [None, 2 * 300 * 16 + 100])
def test_batches_padded_to_their_longest_video(tmp_path, monkeypatch,
                                               chunk_bytes):
  if chunk_bytes:  # chunks of two videos, all padded to the batch's length
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk_bytes)
  counts = [1, 5, 33, 2, 61, 7, 301, 3]
  rng = np.random.default_rng(1)
  videos = [(f"p{i}", rng.integers(1, 256, (n, 16), dtype=np.uint8),
             rng.integers(1, 256, (n, 8), dtype=np.uint8))
            for i, n in enumerate(counts)]
  pattern = records.write(tmp_path / "short.tfrecord", [
      records.frame_record(v, [1], {"rgb": rgb, "audio": audio})
      for v, rgb, audio in videos])

  size = 4 if chunk_bytes else 2

  def batches(pad_to_longest):
    reader = readers.YT8MFrameFeatureReader(
        7, "rgb,audio", "16,8", raw=True, pad_to_longest=pad_to_longest)
    return list(readers.make_dataset(reader, pattern, size, num_readers=1))

  short, full = batches(True), batches(False)
  lengths = [raw_frames.feature_parts(b["video_matrix"])[0].shape[1]
             for b in short]
  # Longest video rounded up to a multiple of 30, at most 300 frames.
  longest = [max(counts[i:i + size]) for i in range(0, len(counts), size)]
  assert lengths == [min(-(-n // readers.PAD_MULTIPLE) *
                         readers.PAD_MULTIPLE, 300) for n in longest]
  for a, b in zip(short, full):
    for part, whole in zip(raw_frames.feature_parts(a["video_matrix"]),
                           raw_frames.feature_parts(b["video_matrix"])):
      t = part.shape[1]
      np.testing.assert_array_equal(part.numpy(), whole.numpy()[:, :t])
      assert not whole.numpy()[:, t:].any()  # only padding was left out
    np.testing.assert_array_equal(a["num_frames"], b["num_frames"])
