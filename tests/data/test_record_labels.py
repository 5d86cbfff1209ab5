"""record_labels.read: the ids and labels of any YouTube-8M records."""

import numpy as np
import pytest

from youtube8m.common import utils
from youtube8m.data import record_labels

from support import one_line
from support import records


def test_video_and_frame_records_old_and_new_ids(tmp_path):
  records.write(tmp_path / "a.tfrecord", [
      records.video_record("v1", [3, 1, 3], {"mean_rgb": [0.5, 1.5]}),
      records.video_record("v2", [], {"mean_rgb": [0.0, 0.0]},
                           id_key="video_id")])
  records.write(tmp_path / "b.tfrecord", [
      records.frame_record("f1", [0], {"rgb": np.zeros([3, 4], np.uint8)}),
      records.frame_record("f2", [4, 2], {"rgb": np.ones([1, 4], np.uint8)},
                           id_key="video_id")])
  labels = record_labels.read(str(tmp_path / "*.tfrecord"), 5)
  assert labels == {"v1": [1, 3], "v2": [], "f1": [0], "f2": [2, 4]}
  assert list(labels) == ["v1", "v2", "f1", "f2"]  # file order


def _error(call):
  with pytest.raises(utils.Yt8mError) as error:
    call()
  return one_line.message(error.value)


def test_bad_records_name_the_file_and_the_video(tmp_path):
  path = records.write(tmp_path / "a.tfrecord", [
      records.video_record("v1", [7], {"mean_rgb": [0.5]})])
  assert _error(lambda: record_labels.read(path, 5)) == (
      f"file {path}: video 'v1': label id 7 is outside [0, 5) "
      "(num_classes=5; the 2017 data has 4716 classes)")
  twice = records.write(tmp_path / "twice.tfrecord", [
      records.video_record("v1", [1], {}), records.video_record("v1", [2], {})])
  assert _error(lambda: record_labels.read(twice, 5, "labels")) == (
      f"file {twice}: video 'v1' appears twice in labels={twice}")
  no_id = records.write(tmp_path / "no_id.tfrecord", [
      records.video_record("x", [1], {}, id_key="name")])
  assert _error(lambda: record_labels.read(no_id, 5)) == (
      f"file {no_id}: a record has neither an 'id' nor a 'video_id' key")
  text = tmp_path / "text.tfrecord"
  text.write_text("not a TFRecord file at all")
  assert _error(lambda: record_labels.read(str(text), 5)).startswith(
      f"file {text}: not a readable YouTube-8M TFRecord file (")
