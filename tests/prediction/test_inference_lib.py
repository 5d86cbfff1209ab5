"""inference_lib.py: what the Kaggle CSV may hold, and its failures.

Every failure is one Yt8mError line, and the CSV (and the readable file)
never appears: no partial file, no temporary file left behind.
"""

import dataclasses
import json
import os
import resource
import signal

import pytest
import tensorflow as tf

from youtube8m import convert_prediction_from_json_to_csv as convert
from youtube8m.common import utils
from youtube8m.data import submissions
from youtube8m.prediction import inference_lib
from youtube8m.serving import export

from support import one_line
from support import records
from support import tiny


@pytest.fixture(scope="module")
def model(tmp_path_factory):
  """(train_dir, data path) of a tiny 6-class model and 5 videos."""
  root = tmp_path_factory.mktemp("model")
  train_dir, _ = tiny.checkpoint_dir(root / "run")
  path, _ = tiny.video_file(root / "videos.tfrecord", count=5)
  return train_dir, path


def _config(tmp_path, train_dir, data, **kwargs):
  kwargs.setdefault("top_k", 3)  # the tiny model has 6 classes
  return inference_lib.InferenceConfig(
      train_dir=train_dir, input_data_pattern=data,
      output_file=str(tmp_path / "out" / "predictions.csv"), batch_size=2,
      **kwargs)


def _nothing_written(tmp_path):
  out = tmp_path / "out"
  return not out.exists() or not os.listdir(out)


def _example(video_id):
  """A video-level record whose id is the given bytes."""
  feature = {"id": tf.train.Feature(bytes_list=tf.train.BytesList(
      value=[video_id])),
             "labels": tf.train.Feature(int64_list=tf.train.Int64List(
                 value=[1])),
             "mean_rgb": tf.train.Feature(float_list=tf.train.FloatList(
                 value=[0.5] * tiny.FEATURES))}
  return tf.train.Example(features=tf.train.Features(
      feature=feature)).SerializeToString()


def test_top_k_must_fit_the_model(model, tmp_path):
  train_dir, data = model
  tgz = str(tmp_path / "model.tgz")
  for top_k, message in [(7, r"--top_k=7 is invalid: expected 1\.\.6"),
                         (0, "--top_k=0 is invalid")]:
    config = _config(tmp_path, train_dir, data, top_k=top_k,
                     output_model_tgz=tgz)
    with pytest.raises(utils.Yt8mError, match=message):
      inference_lib.infer(config)
    assert _nothing_written(tmp_path) and not os.path.exists(tgz)
  sm = export.export_checkpoint(export.ExportConfig(
      train_dir=train_dir, output_dir=str(tmp_path / "sm"), top_k=6))
  with pytest.raises(utils.Yt8mError, match="--top_k=-1 is invalid"):
    inference_lib.infer(dataclasses.replace(
        _config(tmp_path, train_dir, data, top_k=-1), saved_model_dir=sm))
  assert inference_lib.infer(_config(tmp_path, train_dir, data, top_k=6)) == 5
  with open(tmp_path / "out" / "predictions.csv") as f:
    rows = f.read().splitlines()
  assert rows[0] == "VideoId,LabelConfidencePairs" and len(rows) == 6
  assert all(len(row.split(",")[1].split()) == 12 for row in rows[1:])


@pytest.mark.parametrize("video_id", [b"a,b", b'say "hi"', b"two\nlines",
                                      b"tab\there", b"\xff\xfe", b""])
def test_ids_a_csv_cannot_hold_are_refused(model, tmp_path, video_id):
  train_dir, _ = model
  data = records.write(tmp_path / "ids.tfrecord",
                       [_example(b"fine"), _example(video_id)])
  config = _config(tmp_path, train_dir, data, readable_output_file=str(
      tmp_path / "out" / "readable.tsv"))
  with pytest.raises(utils.Yt8mError, match=(
      "--input_data_pattern=.*ids.tfrecord: video id .* (cannot be written "
      "to the CSV|is not UTF-8)")) as error:
    inference_lib.infer(config)
  assert "\n" not in str(error.value)
  assert repr(video_id)[2:-1].replace("\\", "") in str(error.value).replace(
      "\\", "")
  assert _nothing_written(tmp_path)


def test_non_finite_scores_are_never_written(tmp_path):
  data, _ = tiny.video_file(tmp_path / "v.tfrecord", count=3)
  damaged, _ = tiny.checkpoint_dir(tmp_path / "damaged", scale=float("nan"))
  with pytest.raises(utils.Yt8mError, match=(
      r"video 'v00': the model's scores are NaN or infinite; the model "
      r"\(checkpoint .*damaged.*ckpt-7\) or this video's record")):
    inference_lib.infer(_config(tmp_path, damaged, data))
  assert _nothing_written(tmp_path)
  sm = export.export_checkpoint(export.ExportConfig(
      train_dir=damaged, output_dir=str(tmp_path / "sm"), top_k=3))
  with pytest.raises(utils.Yt8mError, match=r"video 'v00'.*\(SavedModel"):
    inference_lib.infer(dataclasses.replace(
        _config(tmp_path, damaged, data), saved_model_dir=sm))
  assert _nothing_written(tmp_path)
  with pytest.raises(utils.Yt8mError, match="'v1' has a score that is NaN"):
    submissions.check_scores("v1", [0.5, float("inf")], "here")


def test_an_input_without_videos_is_an_error(model, tmp_path):
  train_dir, _ = model
  empty = records.write(tmp_path / "empty.tfrecord", [])
  with pytest.raises(utils.Yt8mError, match="empty.tfrecord: the input "
                     "holds no video"):
    inference_lib.infer(_config(tmp_path, train_dir, empty))
  assert _nothing_written(tmp_path)


def test_output_errors_name_the_path(model, tmp_path):
  train_dir, data = model
  (tmp_path / "file").write_text("not a directory")
  config = dataclasses.replace(_config(tmp_path, train_dir, data),
                               output_file=str(tmp_path / "file" / "p.csv"))
  with pytest.raises(utils.Yt8mError, match=(
      r"^--output_file=.*file/p\.csv: cannot write it \(.+\)$")):
    inference_lib.infer(config)
  config = _config(tmp_path, train_dir, data, readable_output_file=str(
      tmp_path / "file" / "readable.tsv"))
  with pytest.raises(utils.Yt8mError, match=(
      r"^--readable_output_file=.*file/readable\.tsv: cannot write it")):
    inference_lib.infer(config)
  assert _nothing_written(tmp_path)


def test_a_full_disk_is_one_line(model, tmp_path):
  train_dir, data = model
  config = _config(tmp_path, train_dir, data)
  os.makedirs(tmp_path / "out")
  # A file size limit makes writes fail as a full disk does (EFBIG).
  handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  limits = resource.getrlimit(resource.RLIMIT_FSIZE)
  resource.setrlimit(resource.RLIMIT_FSIZE, (60, limits[1]))
  try:
    with pytest.raises(utils.Yt8mError, match=(
        r"--output_file=.*predictions\.csv: cannot write it \(.*too large")) as e:
      inference_lib.infer(config)
    one_line.message(e.value)
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    signal.signal(signal.SIGXFSZ, handler)
  assert _nothing_written(tmp_path)


def test_csv_ids_and_scores_of_the_json_converter(tmp_path):
  out = tmp_path / "out" / "p.csv"

  def run(*lines):
    (tmp_path / "r-0").write_text("".join(lines))
    return convert.convert(str(tmp_path / "r-*"), str(out))

  good = json.dumps({"video_id": "v", "class_indexes": [2, 1],
                     "predictions": [0.25, 0.5]}) + "\n"
  assert run(good, "\n", good) == 2
  assert out.read_text().splitlines()[1] == "v,1 0.5 2 0.25"
  os.remove(out)
  for line, message in [
      ({"video_id": "a,b", "class_indexes": [1], "predictions": [0.5]},
       r"r-0:2: video id 'a,b' cannot be written"),
      ({"video_id": "a\nb", "class_indexes": [1], "predictions": [0.5]},
       r"r-0:2: video id 'a\\nb' cannot be written"),
      ('{"video_id": "n", "class_indexes": [1, 2], "predictions": [NaN, 1]}',
       r"r-0:2: video 'n' has a score that is NaN or infinite"),
      ('{"video_id": "i", "class_indexes": [1], "predictions": [Infinity]}',
       r"r-0:2: video 'i' has a score that is NaN"),
      ({"video_id": 7, "class_indexes": [1], "predictions": [0.5]},
       r"r-0:2: not a prediction line.*not a string"),
  ]:
    text = line if isinstance(line, str) else json.dumps(line)
    with pytest.raises(utils.Yt8mError, match=message):
      run(good, text + "\n")
    assert not out.exists()
  with pytest.raises(utils.Yt8mError, match="no prediction line"):
    run("\n")
  (tmp_path / "r-0").write_bytes(b'{"video_id": "\xff"}\n')
  with pytest.raises(utils.Yt8mError, match="r-0:1: not UTF-8"):
    convert.convert(str(tmp_path / "r-*"), str(out))
  (tmp_path / "out").rmdir()
  (tmp_path / "out").write_text("a file")
  with pytest.raises(utils.Yt8mError, match=r"--csv_output_file=.*out/p.csv"):
    run(good)


def test_two_outputs_or_an_input_naming_one_file_are_refused(model, tmp_path):
  train_dir, data = model
  out = str(tmp_path / "out" / "predictions.csv")
  with pytest.raises(utils.Yt8mError, match="--output_file=.* and "
                     "--readable_output_file=.* name the same file"):
    inference_lib.infer(_config(tmp_path, train_dir, data,
                                readable_output_file=out))
  assert _nothing_written(tmp_path)
  before = open(data, "rb").read()
  with pytest.raises(utils.Yt8mError, match="is also an input "
                     "\\(--input_data_pattern\\)"):
    inference_lib.infer(dataclasses.replace(
        _config(tmp_path, train_dir, data), output_file=data))
  assert open(data, "rb").read() == before


def test_stale_temporaries_of_a_killed_run_are_removed(model, tmp_path):
  train_dir, data = model
  out = tmp_path / "out"
  out.mkdir()
  dead = 2 ** 22 + 12345  # above Linux's pid_max: no such process
  host = os.uname().nodename
  stale = [f"predictions.csv.yt8m-tmp-{host}-{dead}",
           f"readable.txt.yt8m-tmp-{host}-{dead}"]
  for name in stale:
    (out / name).write_text("half of a killed run's output")
  inference_lib.infer(_config(tmp_path, train_dir, data,
                              readable_output_file=str(out / "readable.txt")))
  assert sorted(os.listdir(out)) == ["predictions.csv", "readable.txt"]


def test_label_names_cannot_forge_readable_rows(model, tmp_path):
  train_dir, data = model
  vocabulary = tmp_path / "vocabulary.csv"
  rows = ["Index,Name"] + [f'{i},"name{i}\nfake_video\t0.999 1 forged\r"'
                           for i in range(tiny.NUM_CLASSES)]
  vocabulary.write_text("\n".join(rows) + "\n")
  readable = tmp_path / "out" / "readable.txt"
  count = inference_lib.infer(_config(
      tmp_path, train_dir, data, readable_output_file=str(readable),
      vocabulary_file=str(vocabulary)))
  lines = readable.read_text().split("\n")
  assert lines[-1] == "" and len(lines) == count + 2  # header + one a video
  assert all(line.count("\t") == 1 for line in lines[:-1])
  assert "name0\\nfake_video\\t0.999 1 forged" in readable.read_text()


@pytest.mark.parametrize("row, message", [
    ("abc,Foo", "vocabulary.csv:2: Index 'abc' is not an integer"),
    ("-1,Foo", "vocabulary.csv:2: Index '-1' is not an integer >= 0"),
    ("1,Foo\n1,Bar", "vocabulary.csv:3: Index 1 appears twice"),
])
def test_a_bad_vocabulary_is_named_before_any_output(model, tmp_path, row,
                                                     message):
  train_dir, data = model
  vocabulary = tmp_path / "vocabulary.csv"
  vocabulary.write_text(f"Index,Name\n{row}\n")
  with pytest.raises(utils.Yt8mError, match=message):
    inference_lib.infer(_config(
        tmp_path, train_dir, data,
        readable_output_file=str(tmp_path / "out" / "readable.txt"),
        vocabulary_file=str(vocabulary)))
  assert _nothing_written(tmp_path)


def test_the_json_converter_never_reads_its_own_output(tmp_path):
  (tmp_path / "results-0").write_text(json.dumps(
      {"video_id": "a", "class_indexes": [1], "predictions": [0.5]}) + "\n")
  out = tmp_path / "results.csv"
  out.write_text("an earlier CSV")
  with pytest.raises(utils.Yt8mError, match="--csv_output_file=.*results.csv "
                     "is also an input \\(--json_prediction_files_pattern\\)"):
    convert.convert(str(tmp_path / "results*"), str(out))
  assert out.read_text() == "an earlier CSV"
