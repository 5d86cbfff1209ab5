"""MediaPipe's YouTube-8M feature SequenceExamples -> dataset records."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import convert_mediapipe
from youtube8m.features import mediapipe_records
from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.features import feature_networks
from youtube8m.features import feature_records

from support import one_line

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def mediapipe_sequence(rgb, audio, data_path="/videos/cat.mp4", labels=(5, 2),
                       order=None, audio_start_us=0):
  """What MediaPipe's feature_extraction graph writes (MediaSequence keys)."""
  sequence = tf.train.SequenceExample()
  context = sequence.context.feature
  context["clip/data_path"].bytes_list.value.append(data_path.encode())
  context["clip/start/timestamp"].int64_list.value.append(0)
  if labels is not None:
    context["clip/label/index"].int64_list.value.extend(labels)
  lists = sequence.feature_lists.feature_list
  order = range(len(rgb)) if order is None else order
  for k in order:
    lists["RGB/feature/floats"].feature.add().float_list.value.extend(rgb[k])
    lists["RGB/feature/timestamp"].feature.add().int64_list.value.append(
        k * 1000000)
  if audio is not None:
    for k, row in enumerate(audio):
      lists["AUDIO/feature/floats"].feature.add().float_list.value.extend(row)
      lists["AUDIO/feature/timestamp"].feature.add().int64_list.value.append(
          audio_start_us + k * 1000000)
  return sequence


def features(frames, seed=0):
  rng = np.random.RandomState(seed)
  return (rng.uniform(-2.5, 2.5, [frames, 1024]).astype(np.float32),
          rng.uniform(-2.5, 2.5, [frames + 1, 128]).astype(np.float32))


def parse(path):
  return [tf.train.SequenceExample.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(str(path))]


def frame_bytes(example, key):
  return np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8)
                   for f in example.feature_lists.feature_list[key].feature])


def test_round_trip_through_the_dataset_layout(tmp_path):
  rgb, audio = features(4)
  order = [2, 0, 3, 1]  # MediaPipe writes in time order; sorting is checked
  raw = tmp_path / "features.pb"
  raw.write_bytes(mediapipe_sequence(rgb, audio, order=order)
                  .SerializeToString())
  many = tmp_path / "more.tfrecord"
  with tf.io.TFRecordWriter(str(many)) as writer:
    for i in range(2):
      writer.write(mediapipe_sequence(rgb, audio, f"v{i}.mp4", labels=None)
                   .SerializeToString())
  out = tmp_path / "out" / "converted.tfrecord"
  count = mediapipe_records.convert_files([str(raw), str(many)], str(out))
  assert count == 3 and os.listdir(out.parent) == ["converted.tfrecord"]
  first, second, _ = parse(out)
  context = first.context.feature
  assert context["id"].bytes_list.value == [b"/videos/cat.mp4"]
  assert list(context["labels"].int64_list.value) == [2, 5]
  assert list(second.context.feature["labels"].int64_list.value) == []
  assert sorted(first.feature_lists.feature_list) == ["audio", "rgb"]
  np.testing.assert_array_equal(frame_bytes(first, "rgb"),
                                utils.quantize(rgb))
  # The extra audio frame at the end is dropped.
  np.testing.assert_array_equal(frame_bytes(first, "audio"),
                                feature_networks.quantize_audio(audio[:4]))
  np.testing.assert_allclose(context["mean_rgb"].float_list.value,
                             rgb.mean(axis=0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(context["mean_audio"].float_list.value,
                             audio[:4].mean(axis=0), rtol=1e-5, atol=1e-6)
  # Dequantized, the features come back to within a quantization step.
  back = utils.dequantize_np(frame_bytes(first, "rgb"))
  assert np.abs(back - np.clip(rgb, -2, 2)).max() <= 4 / 255
  # Exactly what extract_features writes for the same floats.
  same = tf.train.SequenceExample.FromString(feature_records.video_record(
      "/videos/cat.mp4", [5, 2], rgb, audio[:4]))
  assert (first.SerializeToString(deterministic=True) ==
          same.SerializeToString(deterministic=True))
  reader = readers.get_reader(True, 10, "rgb,audio", "1024,128")
  (batch,) = list(readers.make_dataset(reader, str(out), batch_size=3))
  np.testing.assert_array_equal(batch["num_frames"], [4, 4, 4])
  np.testing.assert_array_equal(batch["video_matrix"][0, :4, :1024], back)


def test_short_audio_is_padded_and_frames_capped(tmp_path):
  rgb, audio = features(6)
  sequence = mediapipe_sequence(rgb, audio[:3])
  record = mediapipe_records.convert(sequence, "x.pb", max_frames=5)
  example = tf.train.SequenceExample.FromString(record)
  assert frame_bytes(example, "rgb").shape == (5, 1024)
  got = frame_bytes(example, "audio")
  np.testing.assert_array_equal(got[:3],
                                feature_networks.quantize_audio(audio[:3]))
  assert (got[3:] == 0).all()
  np.testing.assert_allclose(
      example.context.feature["mean_audio"].float_list.value,
      audio[:3].mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.feature_lists.feature_list.pop("AUDIO/feature/floats"),
     "x.pb: no feature list 'AUDIO/feature/floats'"),
    (lambda s: s.feature_lists.feature_list.pop("RGB/feature/floats"),
     "x.pb: no feature list 'RGB/feature/floats'"),
    (lambda s: s.feature_lists.feature_list["RGB/feature/floats"].feature[1]
     .float_list.value.pop(), "x.pb: 'RGB/feature/floats' frame 1 has 1023 "
     "values, expected 1024"),
    (lambda s: s.feature_lists.feature_list["AUDIO/feature/floats"].feature[0]
     .float_list.value.append(1.0), "x.pb: 'AUDIO/feature/floats' frame 0 has "
     "129 values, expected 128"),
    (lambda s: s.feature_lists.feature_list["RGB/feature/timestamp"].feature
     .pop(), "x.pb: 'RGB/feature/timestamp' has 2 frames but "
     "'RGB/feature/floats' has 3"),
    (lambda s: s.context.feature.pop("clip/data_path"),
     "x.pb: no video id"),
])
def test_bad_input_names_file_and_key(change, message):
  rgb, audio = features(3)
  sequence = mediapipe_sequence(rgb, audio)
  change(sequence)
  with pytest.raises(utils.Yt8mError) as raised:
    mediapipe_records.convert(sequence, "x.pb")
  assert str(raised.value).startswith(message)
  assert "\n" not in str(raised.value)


def test_missing_audio_allowed_and_id_feature():
  rgb, _ = features(2)
  sequence = mediapipe_sequence(rgb, None)
  sequence.context.feature["example/id"].bytes_list.value.append(b"abc")
  example = tf.train.SequenceExample.FromString(mediapipe_records.convert(
      sequence, "x.pb", allow_missing_audio=True))
  assert example.context.feature["id"].bytes_list.value == [b"abc"]
  assert (frame_bytes(example, "audio") == 0).all()
  example = tf.train.SequenceExample.FromString(mediapipe_records.convert(
      sequence, "x.pb", id_feature="clip/data_path",
      allow_missing_audio=True))
  assert example.context.feature["id"].bytes_list.value == [
      b"/videos/cat.mp4"]


@pytest.mark.slow
def test_cli_errors_are_one_line_and_leave_no_output(tmp_path):
  good = tmp_path / "a.pb"
  good.write_bytes(mediapipe_sequence(*features(2)).SerializeToString())
  bad = tmp_path / "b.pb"
  bad.write_bytes(b"\xff\xfe not a proto")
  out = tmp_path / "out.tfrecord"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  result = subprocess.run(
      [sys.executable, "-m", "youtube8m.convert_mediapipe",
       f"--input={tmp_path}/*.pb", f"--output={out}"],
      capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
  assert result.returncode == 1
  assert one_line.stderr_error(result.stderr) == (
      f"error: {bad}: neither a TFRecord file nor a serialized "
      "SequenceExample")
  assert sorted(os.listdir(tmp_path)) == ["a.pb", "b.pb"]


def test_output_is_whole_and_stale_temporaries_go(tmp_path):
  good = tmp_path / "a.pb"
  good.write_bytes(mediapipe_sequence(*features(2)).SerializeToString())
  out = tmp_path / "out" / "converted.tfrecord"
  out.parent.mkdir()
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()  # a pid no longer running: its run was killed
  stale = out.parent / outputs.temp_path(out.name).replace(
      f"-{os.getpid()}", f"-{child.pid}")
  stale.write_bytes(b"half a file")
  bad = tmp_path / "b.pb"
  bad.write_bytes(b"\xff\xfe not a proto")
  with pytest.raises(utils.Yt8mError, match="b.pb: neither"):
    mediapipe_records.convert_files([str(good), str(bad)], str(out))
  assert os.listdir(out.parent) == []  # nothing half-written, stale gone
  assert mediapipe_records.convert_files([str(good)], str(out)) == 1
  assert os.listdir(out.parent) == ["converted.tfrecord"]


def test_the_command_names_the_keys_the_library_reads():
  # The command's help cites them without importing the library (TensorFlow).
  assert convert_mediapipe.ID_KEYS == mediapipe_records.ID_KEYS
  assert convert_mediapipe.LABELS_KEY == mediapipe_records.LABELS_KEY
