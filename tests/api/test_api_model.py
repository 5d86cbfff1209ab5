"""api.load and Model: predictions from arrays, datasets and records.

The reference is inference.py: its CSV for the same records and model.
predict_records runs inference.py's batches, so its CSV must be the same
bytes. Arrays go through another path (the notebook's own arrays, padded
to their longest video instead of the reader's 300 frames, in other batch
shapes), so their scores are compared to float32 tolerance: the same
model on the same values, where only the order of float sums may differ.
"""

import os
import sys
import tarfile
import tempfile

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import api
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.models import builders
from youtube8m.prediction import inference_lib

from support import one_line
from support import workflow_helpers
from support.api_world import frame_bytes
from support.api_world import NUM_CLASSES
from support.api_world import video_features

KINDS = ("train_dir", "saved_model", "archive")


def _inference_csv(world, level, kind, output):
  """inference.py's CSV (its library, in process) for one model form."""
  path = getattr(world, level)[kind]
  source = {"train_dir": {"train_dir": path},
            "saved_model": {"saved_model_dir": path},
            "archive": {"input_model_tgz": path,
                        "untar_model_dir": f"{output}.untar"}}[kind]
  inference_lib.infer(inference_lib.InferenceConfig(
      input_data_pattern=world.pattern(level, "test"), output_file=output,
      batch_size=16, **source))
  with open(output, encoding="utf-8") as f:
    return f.read()


def _same_predictions(got, expected):
  assert list(got.ids) == list(expected.ids)
  np.testing.assert_array_equal(got.class_ids, expected.class_ids)
  np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-6,
                             atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.slow
def test_numpy_frames_score_as_inference_py(world, kind, tmp_path):
  model = api.load(world.frame[kind])
  assert model.frame_level and model.kind == kind
  records = model.predict_records(world.pattern("frame", "test"))
  records.to_csv(str(tmp_path / "api.csv"))
  assert (tmp_path / "api.csv").read_text() == _inference_csv(
      world, "frame", kind, str(tmp_path / "inference.csv"))
  ids, videos = [], []
  for path in world.files("frame", "test"):
    file_ids, file_videos = frame_bytes(path)
    ids += file_ids
    videos += file_videos
  # uint8 bytes as one padded array with num_frames, and as a list.
  longest = max(len(v) for v in videos)
  padded = np.zeros([len(videos), longest, 1152], np.uint8)
  for i, v in enumerate(videos):
    padded[i, :len(v)] = v
  lengths = [len(v) for v in videos]
  _same_predictions(model.predict(padded, num_frames=lengths, ids=ids,
                                  batch_size=5), records)
  _same_predictions(model.predict(videos, ids=ids), records)
  # Float features: the bytes dequantized by the dataset's formula, in
  # float64 here (an independent computation of the model's dequantize).
  floats = [v * (4.0 / 255.0) + (4.0 / 512.0 - 2.0) for v in videos]
  _same_predictions(model.predict(floats, ids=ids), records)


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_video_features_score_as_inference_py(world, kind, tmp_path):
  model = api.load(world.video[kind])
  assert not model.frame_level
  records = model.predict_records(world.pattern("video", "test"))
  records.to_csv(str(tmp_path / "api.csv"))
  assert (tmp_path / "api.csv").read_text() == _inference_csv(
      world, "video", kind, str(tmp_path / "inference.csv"))
  ids, rows = [], []
  for path in world.files("video", "test"):
    file_ids, file_rows = video_features(path)
    ids += file_ids
    rows.append(file_rows)
  _same_predictions(model.predict(np.concatenate(rows), ids=ids,
                                  batch_size=7), records)


@pytest.mark.slow
def test_predict_records_writes_the_csv_of_the_inference_script(world,
                                                               tmp_path):
  output = tmp_path / "inference.csv"
  workflow_helpers.run_script([
      "inference.py", f"--train_dir={world.frame['train_dir']}",
      f"--input_data_pattern={world.pattern('frame', 'test')}",
      f"--output_file={output}"])
  model = api.load(world.frame["train_dir"])
  model.predict_records(world.pattern("frame", "test")).to_csv(
      str(tmp_path / "api.csv"))
  assert (tmp_path / "api.csv").read_bytes() == output.read_bytes()


@pytest.mark.parametrize("kind", ("train_dir", "saved_model"))
@pytest.mark.slow
def test_datasets_of_records_and_of_batches(world, kind):
  model = api.load(world.frame[kind], top_k=4)
  records = model.predict_records(world.pattern("frame", "test"))
  files = world.files("frame", "test")
  _same_predictions(model.predict(tf.data.TFRecordDataset(files)), records)
  _same_predictions(model.predict(tf.data.TFRecordDataset(files).batch(5)),
                    records)
  reader = builders.make_reader(model.flags)  # uint8 frames, as training's
  batches = readers.make_dataset(reader, world.pattern("frame", "test"), 7,
                                 num_readers=1)
  _same_predictions(model.predict(batches), records)
  no_ids = batches.map(lambda b: {"video_matrix": b["video_matrix"],
                                  "num_frames": b["num_frames"]})
  numbered = model.predict(no_ids)
  assert list(numbered.ids) == [str(i) for i in range(len(records))]
  np.testing.assert_array_equal(numbered.class_ids, records.class_ids)


def test_scores_are_every_class_and_predict_keeps_the_top_k(world):
  model = api.load(world.video["train_dir"], top_k=3)
  ids, rows = video_features(world.files("video", "test")[0])
  scores = model.scores(rows)
  assert scores.shape == (len(ids), NUM_CLASSES)
  assert scores.dtype == np.float32
  top = model.predict(rows, ids=ids)
  assert top.class_ids.shape == top.scores.shape == (len(ids), 3)
  np.testing.assert_array_equal(top.class_ids,
                                np.argsort(-scores, axis=1)[:, :3])
  np.testing.assert_array_equal(
      top.scores, np.take_along_axis(scores, top.class_ids, 1))
  vocabulary = utils.load_vocabulary()
  assert top.names[0] == [vocabulary[c] for c in top.class_ids[0]]


def test_names_come_from_a_given_vocabulary(world, tmp_path):
  path = tmp_path / "vocabulary.csv"
  path.write_text("Index,Name\n" + "".join(
      f"{c},class {c}\n" for c in range(NUM_CLASSES - 1)))
  model = api.load(world.video["archive"], top_k=NUM_CLASSES,
                   vocabulary_file=str(path))
  prediction = model.predict(video_features(world.files("video", "test")[0]
                                            )[1][:1])
  names = dict(zip(prediction.class_ids[0], prediction.names[0]))
  assert names[NUM_CLASSES - 1] == ""  # not in this vocabulary
  assert all(names[c] == f"class {c}" for c in range(NUM_CLASSES - 1))


def test_an_archive_leaves_nothing_behind(world, monkeypatch, tmp_path):
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  model = api.load(world.frame["archive"])
  assert os.listdir(tmp_path) == []
  assert model.source == f"archive {world.frame['archive']}"
  _, videos = frame_bytes(world.files("frame", "test")[0])
  assert model.predict(videos).class_ids.shape == (len(videos), 20)


def test_an_archive_never_runs_a_module_it_names(world, tmp_path,
                                                 monkeypatch):
  marker = tmp_path / "ran"
  (tmp_path / "evil_yt8m_model.py").write_text(
      f"open({str(marker)!r}, 'w').close()\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  archive = tmp_path / "evil.tar.gz"
  flags = tmp_path / "model_flags.json"
  flags.write_text('{"model": "evil_yt8m_model.Model", "num_classes": 4}')
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(flags, arcname="model_flags.json")
  with pytest.raises(api.Yt8mError) as error:
    api.load(str(archive))
  assert str(error.value).startswith(f"path={archive}: ")
  assert "not a registered model" in str(error.value)
  assert not marker.exists() and "evil_yt8m_model" not in sys.modules


def _error(call):
  with pytest.raises(api.Yt8mError) as error:
    call()
  return one_line.message(error.value)


def test_a_notebooks_mistakes_are_one_line_errors_naming_the_argument(
    world, tmp_path):
  video = api.load(world.video["train_dir"])
  frame = api.load(world.frame["train_dir"])
  rows = np.zeros([2, 1152], np.float32)
  frames = np.zeros([2, 5, 1152], np.uint8)
  assert _error(lambda: video.predict(rows[:, :1000])) == (
      "features: 1000 values per video, but LogisticModel reads 1152 "
      "(mean_rgb 1024 + mean_audio 128)")
  assert _error(lambda: frame.predict(frames)).startswith(
      "num_frames is required with frame features")
  assert _error(lambda: frame.predict(frames, num_frames=[5, 6])) == (
      "num_frames[1]=6: expected 1..5 (the frames given)")
  assert _error(lambda: frame.predict(frames, num_frames=[5])).startswith(
      "num_frames: expected 2 integers")
  assert _error(lambda: frame.predict(rows)).startswith(
      "features: shape (2, 1152), but DbofModel reads frame features")
  assert _error(lambda: video.predict(rows.astype(np.int64))).startswith(
      "features: dtype int64")
  assert _error(lambda: video.predict(frames.astype(np.float32))).startswith(
      "features: shape (2, 5, 1152), but LogisticModel reads video-level")
  assert _error(lambda: video.predict([rows[0], rows[1, :5]])).startswith(
      "features: not an array (")
  assert _error(lambda: video.predict(rows, ids=["a"])) == (
      "ids: 1 ids for 2 videos")
  assert _error(lambda: frame.predict([frames[0], rows[:1, :100]])).startswith(
      "features[1]: 100 values per frame")
  assert _error(lambda: video.predict(tf.data.Dataset.range(3))).startswith(
      "features (a tf.data.Dataset): expected elements")
  single = tf.data.Dataset.from_tensor_slices({"video_matrix": rows})
  assert _error(lambda: video.predict(single)) == (
      "features (a tf.data.Dataset): its elements are single videos "
      "(video_matrix (1152,)); batch it: dataset.batch(n)")
  assert _error(lambda: video.predict(rows, batch_size=0)) == (
      "batch_size=0: expected a positive integer")
  assert _error(lambda: video.predict_records(str(tmp_path / "*.x"))) == (
      f"data_pattern '{tmp_path}/*.x' matches no file")
  nan = rows.copy()
  nan[1, 3] = np.nan
  assert _error(lambda: video.predict(nan, ids=["a", "b"])).startswith(
      "video 'b': the model's scores are NaN or infinite")


def test_a_path_that_is_not_a_model(world, tmp_path):
  (tmp_path / "empty").mkdir()
  (tmp_path / "notes.txt").write_text("hello")
  assert _error(lambda: api.load(str(tmp_path / "empty"))).startswith(
      f"api.load(path='{tmp_path / 'empty'}'): not a model: expected a "
      "train_dir")
  assert _error(lambda: api.load(str(tmp_path / "missing"))) == (
      f"api.load(path='{tmp_path / 'missing'}'): not found")
  assert _error(lambda: api.load(str(tmp_path / "notes.txt"))).startswith(
      f"path={tmp_path / 'notes.txt'}: not a complete gzip-compressed tar")
  assert _error(lambda: api.load(world.video["train_dir"], top_k=0)) == (
      "top_k=0 is invalid: expected a positive integer")
  assert _error(lambda: api.load(world.video["train_dir"], top_k=99)) == (
      f"top_k=99 is invalid: expected 1..{NUM_CLASSES} (the model's classes)")
  assert _error(lambda: api.load(world.video["saved_model"], top_k=30)) == (
      f"top_k=30 but {world.video['saved_model']} was exported with top 20")
  assert _error(lambda: api.load(world.video["train_dir"],
                                 model="MoeModel")).startswith(
      "model=MoeModel (saved: LogisticModel) contradicts")
  assert _error(lambda: api.load(world.video["train_dir"], modle="x")) == (
      "api.load(modle=...): 'modle' is not a model flag; did you mean model?")
