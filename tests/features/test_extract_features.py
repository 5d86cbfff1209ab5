"""Feature extraction from video files: frames, networks, records, the CLI.

The videos are written here with PyAV (lossless FFV1 + PCM in .mkv, so the
decoded pixels and samples are known exactly; H.264 + AAC in .mp4), the
networks are stand-ins with the real interfaces (tests/support/media.py).
"""

import contextlib
import functools
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from youtube8m import extract_features
from youtube8m.common import utils
from youtube8m.data import readers
from youtube8m.features import extraction_pipeline
from youtube8m.features import feature_networks
from youtube8m.features import feature_records
from youtube8m.features import model_files
from youtube8m.features import video_frames

from support import media
from support import one_line

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
VISUAL_FILES = ("classify_image_graph_def.pb", "mean.npy", "eigenvals.npy",
                "eigenvecs.npy")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
  """Stand-in model files: visual in `visual`, VGGish beside."""
  root = tmp_path_factory.mktemp("models")
  visual = str(root / "visual")
  weights, bias = media.inception_graph(visual)
  pca = media.pca_files(visual)
  vggish = media.vggish_model(root / "vggish")
  audio_pca = media.vggish_pca(root / "vggish_pca_params.npz")
  return dict(root=str(root), visual=visual, weights=weights, bias=bias,
              pca=pca, vggish=vggish,
              vggish_pca=str(root / "vggish_pca_params.npz"),
              audio_pca=audio_pca)


@pytest.fixture(scope="module")
def visual_extractor(models):
  return extraction_pipeline.Extractor.from_model_dir(models["visual"],
                                                   download=False)


@pytest.fixture(scope="module")
def av_extractor(models):
  return extraction_pipeline.Extractor.from_model_dir(
      models["visual"], vggish_model=models["vggish"],
      vggish_pca_params=models["vggish_pca"], download=False)


def decode(path, **kwargs):
  decoder = video_frames.VideoDecoder(str(path), **kwargs)
  batches = list(decoder.batches())
  return np.concatenate(batches), decoder


def parse(path):
  return [tf.train.SequenceExample.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(str(path))]


def frame_bytes(example, key):
  return np.stack([np.frombuffer(f.bytes_list.value[0], np.uint8)
                   for f in example.feature_lists.feature_list[key].feature])


def context_floats(example, key):
  return np.asarray(example.context.feature[key].float_list.value)


# Frames.


def test_one_frame_a_second_in_rgb_order(tmp_path):
  path = tmp_path / "v.mkv"
  media.write_video(path, fps=10)
  frames, decoder = decode(path)
  assert frames.shape == (5, 48, 64, 3) and decoder.num_frames == 5
  np.testing.assert_array_equal(frames[:, 0, 0], media.COLORS[:5])
  assert (frames == frames[:, :1, :1]).all()  # solid colours, exactly
  # --max_frames keeps the first frames; --frames_per_second=2 takes two.
  frames, _ = decode(path, max_frames=3)
  np.testing.assert_array_equal(frames[:, 0, 0], media.COLORS[:3])
  frames, _ = decode(path, frames_per_second=2)
  np.testing.assert_array_equal(
      frames[:, 0, 0], np.repeat(media.COLORS[:5], 2, axis=0))


def test_nearest_frame_at_other_frame_rates(tmp_path):
  # 3 fps: frames at 0, 1/3, 2/3, 1, ...; 0.4 fps asks for 0, 2.5, 5 s.
  path = tmp_path / "v.mkv"
  colors = [(i * 20, 0, 0) for i in range(9)]
  frames = [np.full([8, 8, 3], c, np.uint8) for c in colors for _ in range(1)]
  media.write_video(path, fps=3, size=(8, 8), frames=frames)
  got, _ = decode(path)
  np.testing.assert_array_equal(got[:, 0, 0, 0], [0, 60, 120])
  got, _ = decode(path, frames_per_second=0.4)
  # 2.5 s lies between frames 7 (2.33 s) and 8 (2.67 s): the nearer, 7.
  np.testing.assert_array_equal(got[:, 0, 0, 0], [0, 140])


def test_skipping_unneeded_frames_changes_nothing(tmp_path):
  # H.264 with B-frames: frames far from the times taken are not decoded
  # when nothing refers to them; the frames taken stay the same.
  path = tmp_path / "v.mp4"
  texture = np.random.RandomState(0).randint(0, 256, [48, 160, 3])
  images = [np.ascontiguousarray(np.roll(texture, 2 * i, 1)[:, :64]).astype(
      np.uint8) for i in range(90)]
  media.write_video(path, fps=30, frames=images)
  for rate in (1, 7):
    full, _ = decode(path, frames_per_second=rate, skip_unneeded=False)
    fast, _ = decode(path, frames_per_second=rate)
    assert full.shape[0] == 3 * rate
    np.testing.assert_array_equal(fast, full)


def test_default_cap_is_300_frames(tmp_path):
  path = tmp_path / "long.mkv"
  images = [np.full([8, 8, 3], i % 256, np.uint8) for i in range(310)]
  media.write_video(path, fps=1, size=(8, 8), frames=images)
  frames, decoder = decode(path, batch_frames=64)
  assert decoder.num_frames == 300 and frames.shape[0] == 300
  np.testing.assert_array_equal(frames[:, 0, 0, 0], np.arange(300) % 256)


# Networks, PCA, quantization and the record.


def test_stand_in_inception_sees_rgb(models, visual_extractor, tmp_path):
  path = tmp_path / "v.mkv"
  media.write_video(path)
  frames, _ = decode(path)
  raw = visual_extractor.inception(frames)
  np.testing.assert_allclose(
      raw, media.inception_expected(media.COLORS[:5], models["weights"],
                                    models["bias"]), atol=2e-5)
  red, blue = raw[0], raw[1]
  assert red[0] > 0.99 and red[2] == -1.0  # features 0-2 are R, G, B
  assert blue[2] > 0.99 and blue[0] == -1.0
  assert visual_extractor.inception.batched


def test_record_matches_numpy_byte_for_byte(models, visual_extractor,
                                            tmp_path):
  video = tmp_path / "v.mkv"
  media.write_video(video)
  out = tmp_path / "out.tfrecord"
  summary = extraction_pipeline.extract([(str(video), [7, 2])],
                                     visual_extractor, str(out),
                                     report=lambda line: None)
  assert summary.written == 1 and not summary.failed
  frames, _ = decode(video)
  raw = visual_extractor.inception(frames).astype(np.float64)
  pca = media.pca_expected(raw, *models["pca"])
  scaled = (np.clip(pca, -2, 2) + 2) * 255 / 4
  rgb = np.rint(scaled).astype(np.uint8)
  assert (rgb == utils.quantize(pca)).all()
  (got,) = parse(out)
  # The pipeline batches frames otherwise than this test: the last float
  # bit may differ, which moves a byte only right at a rounding boundary.
  near = np.abs(scaled % 1 - 0.5) < 1e-4
  got_rgb = frame_bytes(got, "rgb")
  assert ((got_rgb == rgb) | near).all()
  rgb = np.where(near, got_rgb, rgb)
  expected = tf.train.SequenceExample()
  context = expected.context.feature
  context["id"].bytes_list.value.append(str(video).encode())
  context["labels"].int64_list.value.extend([2, 7])
  context["mean_rgb"].float_list.value.extend(
      pca.mean(axis=0).astype(np.float32))
  context["mean_audio"].float_list.value.extend([0.0] * 128)
  lists = expected.feature_lists.feature_list
  for row in rgb:
    lists["rgb"].feature.add().bytes_list.value.append(row.tobytes())
  for _ in range(5):
    lists["audio"].feature.add().bytes_list.value.append(bytes(128))
  # mean_rgb: the mean of float32 features vs of float64 ones here.
  np.testing.assert_allclose(context_floats(got, "mean_rgb"),
                             context_floats(expected, "mean_rgb"), rtol=1e-6,
                             atol=1e-6)
  got.context.feature["mean_rgb"].CopyFrom(context["mean_rgb"])
  assert (got.SerializeToString(deterministic=True) ==
          expected.SerializeToString(deterministic=True))


class _Recording:
  """The extractor, noting the size of each network batch; `delay` seconds
  on the first lets the decoder queue everything meanwhile."""

  def __init__(self, extractor, delay):
    self.extractor, self.delay, self.sizes = extractor, delay, []
    self.has_audio = extractor.has_audio

  def rgb(self, frames):
    if not self.sizes:
      time.sleep(self.delay)
    self.sizes.append(len(frames))
    return self.extractor.rgb(frames)


def test_extraction_is_the_same_bytes_whatever_the_timing(visual_extractor,
                                                          tmp_path):
  """The network's last float bits depend on its batch: batches are cut at
  fixed places, and records keep their map keys sorted."""
  path = tmp_path / "v.mkv"  # 23 s, one frame a second taken
  media.write_video(path, colors=[media.COLORS[i % 5] for i in range(23)],
                    fps=2)
  for batch_size, sizes in ((8, [8, 8, 7]), (3, [3] * 7 + [2])):
    runs = []
    for delay in (0.0, 0.5):
      recording = _Recording(visual_extractor, delay)
      with contextlib.closing(extraction_pipeline.video_features(
          [(str(path), [1])], recording, batch_size=batch_size)) as results:
        (features,) = list(results)
      assert recording.sizes == sizes, (batch_size, delay)
      runs.append(visual_extractor.record(features))
    assert runs[0] == runs[1]
  # The record's bytes are its canonical (sorted-keys) form, the same in
  # every process; protobuf's default map order differs between processes.
  parsed = tf.train.SequenceExample.FromString(runs[0])
  assert runs[0] == parsed.SerializeToString(deterministic=True)
  video_level = visual_extractor.record(features, frame_level=False)
  assert video_level == tf.train.Example.FromString(
      video_level).SerializeToString(deterministic=True)


def test_single_frame_path_gives_the_same_features(models, visual_extractor,
                                                   tmp_path):
  model_dir = tmp_path / "models"
  media.inception_graph(str(model_dir), batchable=False)
  network = feature_networks.InceptionNetwork.load(str(model_dir))
  assert not network.batched
  frames = np.zeros([3, 20, 30, 3], np.uint8)
  frames[:] = np.asarray(media.COLORS[:3], np.uint8)[:, None, None]
  # Solid colours: resized or not, the mean is the colour.
  np.testing.assert_allclose(network(frames),
                             visual_extractor.inception(frames), atol=1e-5)


def test_project_readers_accept_the_output(visual_extractor, tmp_path):
  videos = []
  for i, seconds in enumerate((5, 3)):
    path = tmp_path / f"v{i}.mkv"
    media.write_video(path, colors=media.COLORS[:seconds])
    videos.append((str(path), [i, 4]))
  out = tmp_path / "frame.tfrecord"
  extraction_pipeline.extract(videos, visual_extractor, str(out),
                           report=lambda line: None)
  reader = readers.get_reader(True, 10, "rgb,audio", "1024,128")
  (batch,) = list(readers.make_dataset(reader, str(out), batch_size=2))
  assert [v.decode() for v in batch["video_ids"].numpy()] == [
      v for v, _ in videos]
  np.testing.assert_array_equal(batch["num_frames"], [5, 3])
  np.testing.assert_array_equal(batch["labels"].numpy()[:, [0, 1, 4]],
                                [[1, 0, 1], [0, 1, 1]])
  records = parse(out)
  rgb = utils.dequantize_np(frame_bytes(records[1], "rgb"))
  np.testing.assert_array_equal(batch["video_matrix"][1, :3, :1024], rgb)
  np.testing.assert_array_equal(batch["video_matrix"][1, 3:], 0)
  # Video level: --skip_frame_level_features.
  out = tmp_path / "video.tfrecord"
  extraction_pipeline.extract(videos, visual_extractor, str(out),
                           frame_level=False, report=lambda line: None)
  reader = readers.get_reader(False, 10, "mean_rgb,mean_audio", "1024,128")
  (batch,) = list(readers.make_dataset(reader, str(out), batch_size=2))
  np.testing.assert_allclose(batch["video_matrix"][1, :1024],
                             context_floats(records[1], "mean_rgb"))
  np.testing.assert_array_equal(batch["video_matrix"][:, 1024:], 0)


def test_feature_keys_and_no_audio(visual_extractor):
  rgb = np.linspace(-3, 3, 2 * 1024, dtype=np.float32).reshape(2, 1024)
  keys = feature_records.Keys("path", "classes", "frames")
  record = feature_records.video_record("a.mp4", [3, 1], rgb, None, keys,
                                         zero_audio=False)
  example = tf.train.SequenceExample.FromString(record)
  assert sorted(example.context.feature) == ["classes", "mean_frames", "path"]
  assert list(example.context.feature["classes"].int64_list.value) == [1, 3]
  assert sorted(example.feature_lists.feature_list) == ["frames"]
  np.testing.assert_array_equal(frame_bytes(example, "frames"),
                                utils.quantize(rgb))


# Audio.


def test_audio_is_the_channel_mean_in_one_second_windows(av_extractor,
                                                         models, tmp_path):
  path = tmp_path / "v.mkv"
  amplitudes = [0.2, 0.9, 0.5, 0.0, 0.7]
  written = media.write_video(path, audio=media.tone(
      5, channels=2, amplitudes=amplitudes))
  _, decoder = decode(path)
  mono = (written[0] + written[1]) / 2  # right channel silent
  np.testing.assert_array_equal(decoder.audio, mono.astype(np.float32))
  windows = feature_networks.audio_windows(decoder.audio, 5, 1.0)
  for k in range(5):
    np.testing.assert_array_equal(windows[k], mono[16000 * k:
                                                   16000 * k + 15600])
  out = tmp_path / "out.tfrecord"
  extraction_pipeline.extract([(str(path), [])], av_extractor, str(out),
                           report=lambda line: None)
  (example,) = parse(out)
  embeddings = av_extractor.vggish(windows)
  np.testing.assert_allclose(embeddings, media.vggish_expected(windows),
                             atol=1e-5)
  # Window k sees only second k: mean |tone| = amplitude_k / 2 * 2 / pi.
  np.testing.assert_allclose(
      (embeddings.mean(axis=1) + 1) / media.VGGISH_SCALE,
      np.asarray(amplitudes) / np.pi, atol=2e-3)
  vectors, means = models["audio_pca"]
  pca = (embeddings.astype(np.float64) - means[:, 0]) @ vectors.T
  quantized = np.floor((np.clip(pca, -2, 2) + 2) * 255 / 4).astype(np.uint8)
  np.testing.assert_array_equal(frame_bytes(example, "audio"), quantized)
  np.testing.assert_allclose(context_floats(example, "mean_audio"),
                             pca.mean(axis=0), rtol=1e-5, atol=1e-6)
  assert frame_bytes(example, "rgb").shape == (5, 1024)


def test_audio_resampled_from_aac(tmp_path):
  path = tmp_path / "v.mp4"
  amplitudes = [0.8, 0.1, 0.4]
  media.write_video(path, colors=media.COLORS[:3], audio=media.tone(
      3, rate=44100, channels=1, amplitudes=amplitudes), audio_rate=44100)
  frames, decoder = decode(path)
  assert frames.shape[0] == 3
  assert abs(decoder.audio.shape[0] - 48000) < 1200
  windows = feature_networks.audio_windows(decoder.audio, 3, 1.0)
  # mean |sin| = 2 / pi; away from the edges of each second.
  level = np.abs(windows[:, 2000:13000]).mean(axis=1)
  np.testing.assert_allclose(level, np.asarray(amplitudes) * 2 / np.pi,
                             rtol=0.1)


def test_audio_frames_match_rgb_frames(av_extractor, tmp_path):
  # Audio shorter than the video is padded with silence, longer is cut.
  short = tmp_path / "short.mkv"
  media.write_video(short, audio=media.tone(2.5))
  long = tmp_path / "long.mkv"
  media.write_video(long, colors=media.COLORS[:3], audio=media.tone(7))
  _, decoder = decode(short)
  windows = feature_networks.audio_windows(decoder.audio, 5, 1.0)
  assert np.abs(windows[2, :8000]).max() > 0.4
  assert (windows[2, 8000:] == 0).all() and (windows[3:] == 0).all()
  out = tmp_path / "out.tfrecord"
  extraction_pipeline.extract([(str(short), []), (str(long), [])], av_extractor,
                           str(out), report=lambda line: None)
  first, second = parse(out)
  assert frame_bytes(first, "audio").shape == (5, 128)
  assert frame_bytes(second, "audio").shape == (3, 128)
  assert frame_bytes(second, "rgb").shape == (3, 1024)


def test_video_without_audio_stream_gets_zero_audio(av_extractor, tmp_path):
  path = tmp_path / "silent.mkv"
  media.write_video(path)
  out = tmp_path / "out.tfrecord"
  summary = extraction_pipeline.extract([(str(path), [1])], av_extractor,
                                     str(out), report=lambda line: None)
  assert summary.zero_audio == [str(path)]
  (example,) = parse(out)
  assert (frame_bytes(example, "audio") == 0).all()
  assert (context_floats(example, "mean_audio") == 0).all()


def test_vggish_in_model_dir_is_found(models, tmp_path):
  model_dir = tmp_path / "models"
  model_dir.mkdir()
  for name in VISUAL_FILES:
    os.symlink(os.path.join(models["visual"], name), model_dir / name)
  os.symlink(models["vggish"], model_dir / "vggish")
  with pytest.raises(model_files.ModelError,
                     match=r"vggish_pca_params.npz is missing"):
    extraction_pipeline.Extractor.from_model_dir(str(model_dir), download=False)
  os.symlink(models["vggish_pca"], model_dir / "vggish_pca_params.npz")
  extractor = extraction_pipeline.Extractor.from_model_dir(str(model_dir),
                                                        download=False)
  assert extractor.has_audio


# Bad videos.


def test_bad_videos_are_reported_and_skipped(visual_extractor, tmp_path):
  good = tmp_path / "good.mkv"
  media.write_video(good, colors=media.COLORS[:2])
  garbage = media.write_garbage(tmp_path / "garbage.mp4")
  truncated = tmp_path / "truncated.mp4"
  media.write_video(tmp_path / "whole.mp4")
  with open(tmp_path / "whole.mp4", "rb") as f:
    truncated.write_bytes(f.read()[:600])
  audio_only = tmp_path / "audio_only.mkv"
  container = __import__("av").open(str(audio_only), "w")
  stream = container.add_stream("pcm_s16le", rate=16000, layout="mono")
  frame = __import__("av").AudioFrame.from_ndarray(
      np.zeros([1, 1600], np.int16), format="s16", layout="mono")
  frame.sample_rate = 16000
  for packet in list(stream.encode(frame)) + list(stream.encode()):
    container.mux(packet)
  container.close()
  no_frames = tmp_path / "no_frames.mkv"  # a video stream without frames
  media.write_video(no_frames, frames=[], audio=media.tone(1))
  videos = [(str(p), [1]) for p in (garbage, good, tmp_path / "missing.mp4",
                                     truncated, audio_only, no_frames)]
  out = tmp_path / "out.tfrecord"
  lines = []
  summary = extraction_pipeline.extract(videos, visual_extractor, str(out),
                                     report=lines.append)
  assert summary.written == 1
  failed = dict(summary.failed)
  assert sorted(failed) == sorted(v for v, _ in videos if v != str(good))
  assert "cannot open" in failed[garbage]
  assert "not found" in failed[str(tmp_path / "missing.mp4")]
  assert "no video stream" in failed[str(audio_only)]
  assert "no video frames" in failed[str(no_frames)]
  assert all(message.startswith(path) for path, message in failed.items())
  assert [e.context.feature["id"].bytes_list.value[0].decode()
          for e in parse(out)] == [str(good)]
  assert len(lines) == 6 and lines[1].startswith(f"[2/6] {good}: 2 frames")
  assert "FAILED" in lines[0] and "ETA" in lines[0]


def test_read_videos_csv(tmp_path):
  path = tmp_path / "videos.csv"
  path.write_text('a.mp4,52;3;10\n\n"b,c.mp4",\nd.mkv\n e.mp4 , 7 \n')
  assert extract_features.read_videos_csv(str(path)) == [
      ("a.mp4", [3, 10, 52]), ("b,c.mp4", []), ("d.mkv", []), ("e.mp4", [7])]
  path.write_text("a.mp4,1\nb.mp4,1;x\n")
  with pytest.raises(utils.Yt8mError, match=r"videos.csv: line 2: label 'x'"):
    extract_features.read_videos_csv(str(path))


# Output files.


def test_shards_appear_whole(tmp_path):
  out = str(tmp_path / "out" / "f.tfrecord")
  writer = feature_records.ShardedWriter(out, count=5, num_shards=2)
  assert writer.paths == [out + "-00000-of-00002", out + "-00001-of-00002"]
  for video in range(3):
    writer.write(video, b"r%d" % video)
    writer.done_through(video)
  assert os.listdir(tmp_path / "out") == ["f.tfrecord-00000-of-00002"]
  writer.write(3, b"r3")
  writer.done_through(3)
  assert len(os.listdir(tmp_path / "out")) == 2  # shard 1 in a temp name
  writer.abort()
  assert os.listdir(tmp_path / "out") == ["f.tfrecord-00000-of-00002"]
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      out + "-00000-of-00002")]
  assert records == [b"r0", b"r1", b"r2"]
  # More shards than videos: the extra shards are empty files.
  writer = feature_records.ShardedWriter(out, count=1, num_shards=3)
  writer.write(0, b"x")
  writer.done_through(0)
  writer.close()
  assert sorted(os.listdir(tmp_path / "out"))[1:] == [
      f"f.tfrecord-0000{i}-of-00003" for i in range(3)]


def _dead_pid():
  """The id of a process that has exited."""
  child = subprocess.Popen([sys.executable, "-c", "pass"])
  child.wait()
  return child.pid


def test_temporaries_of_killed_runs_are_removed(visual_extractor, tmp_path):
  # A run killed mid-shard leaves its temporary (outputs.temp_path, another
  # pid); the next run in that directory removes it and writes whole files.
  out = tmp_path / "out" / "f.tfrecord"
  writer = feature_records.ShardedWriter(str(out), count=2)
  writer.write(0, b"partial")
  (temp,) = os.listdir(out.parent)
  assert temp.startswith("f.tfrecord.yt8m-tmp-")
  writer.abort()
  stale = out.parent / temp.replace(f"-{os.getpid()}", f"-{_dead_pid()}")
  stale.write_bytes(b"partial")
  video = tmp_path / "v.mkv"
  media.write_video(video, colors=media.COLORS[:2])
  extraction_pipeline.extract([(str(video), [])], visual_extractor, str(out),
                              report=lambda line: None)
  assert os.listdir(out.parent) == ["f.tfrecord"]


# Model files.


def _closed_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_missing_model_files_offline(tmp_path):
  port = _closed_port()
  urls = {"pca": f"http://127.0.0.1:{port}/yt8m_pca.tgz",
          "inception": f"http://127.0.0.1:{port}/inception-2015-12-05.tgz"}
  with pytest.raises(model_files.ModelError) as raised:
    extraction_pipeline.Extractor.from_model_dir(str(tmp_path / "m"), urls=urls)
  message = str(raised.value)
  assert "\n" not in message
  assert message.startswith(str(tmp_path / "m" / "mean.npy") + " is missing")
  assert f"http://127.0.0.1:{port}/yt8m_pca.tgz cannot be fetched" in message
  with pytest.raises(model_files.ModelError,
                     match="mean.npy is missing: download"):
    extraction_pipeline.Extractor.from_model_dir(str(tmp_path / "m"),
                                              download=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

  def log_message(self, *args):  # pylint: disable=arguments-differ
    pass


@contextlib.contextmanager
def _serve(directory):
  """An HTTP server of `directory` on 127.0.0.1 (a free port)."""
  server = http.server.ThreadingHTTPServer(
      ("127.0.0.1", 0),
      functools.partial(_QuietHandler, directory=str(directory)))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}"
  finally:
    server.shutdown()
    server.server_close()


def test_missing_model_files_are_downloaded(models, tmp_path, capfd):
  site = tmp_path / "site"
  site.mkdir()
  for archive, names in (("yt8m_pca.tgz", VISUAL_FILES[1:]),
                         ("inception-2015-12-05.tgz", VISUAL_FILES[:1])):
    with tarfile.open(site / archive, "w:gz") as tar:
      for name in names:
        tar.add(os.path.join(models["visual"], name), arcname=name)
  model_dir = tmp_path / "m"
  with _serve(site) as url:
    extractor = extraction_pipeline.Extractor.from_model_dir(
        str(model_dir), urls={"pca": url + "/yt8m_pca.tgz",
                              "inception": url + "/inception-2015-12-05.tgz"})
  assert sorted(os.listdir(model_dir)) == sorted(VISUAL_FILES)
  out, err = capfd.readouterr()
  # keras.utils.get_file's lines go to stderr: stdout is the command's.
  assert f"Downloading data from {url}/inception-2015-12-05.tgz" in err
  assert "Downloading" not in out
  frames = np.zeros([1, 8, 8, 3], np.uint8)
  assert extractor.rgb(frames).shape == (1, 1024)


def test_downloads_are_checked_against_their_sha256(models, tmp_path):
  site = tmp_path / "site"
  site.mkdir()
  with tarfile.open(site / "yt8m_pca.tgz", "w:gz") as tar:
    for name in VISUAL_FILES[1:]:
      tar.add(os.path.join(models["visual"], name), arcname=f"pca/{name}")
  digest = hashlib.sha256((site / "yt8m_pca.tgz").read_bytes()).hexdigest()
  url = (site / "yt8m_pca.tgz").as_uri()  # file://: no server needed
  names = VISUAL_FILES[1:]
  wrong = "0" * 64
  with pytest.raises(model_files.ModelError) as raised:
    model_files.fetch_model_files(str(tmp_path / "m"), names,
                                  f"{url}#sha256={wrong}")
  assert str(raised.value) == (
      f"{tmp_path / 'm' / names[0]} is missing and {url} is not the expected "
      f"file (its SHA-256 is not {wrong}); download {url} and unpack it "
      f"into {tmp_path / 'm'}")
  assert os.listdir(tmp_path / "m") == []  # nothing unpacked
  model_files.fetch_model_files(str(tmp_path / "m"), names,
                                f"{url}#sha256={digest.upper()}")
  for name in names:  # from the archive's folder, into model_dir
    assert (tmp_path / "m" / name).read_bytes() == open(
        os.path.join(models["visual"], name), "rb").read()
  # Present files are not fetched again (the URL is gone now).
  os.remove(site / "yt8m_pca.tgz")
  model_files.fetch_model_files(str(tmp_path / "m"), names, url)
  with pytest.raises(model_files.ModelError, match="cannot be fetched"):
    model_files.fetch_model_files(str(tmp_path / "m"), ["other.npy"], url)


# The command line.


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  return subprocess.run([sys.executable, "-m", "youtube8m.extract_features",
                         *args], capture_output=True, text=True, env=env,
                        cwd=REPO, timeout=120)


@pytest.mark.slow
def test_cli_writes_shards_and_fails_on_a_bad_video(models, tmp_path):
  videos = []
  for i in range(3):
    path = tmp_path / f"v{i}.mkv"
    media.write_video(path, colors=media.COLORS[:2 + i])
    videos.append(path)
  bad = media.write_garbage(tmp_path / "bad.mp4")
  csv_path = tmp_path / "videos.csv"
  csv_path.write_text(f"{videos[0]},3;1\n{bad},2\n{videos[1]},\n"
                      f"{videos[2]},5\n")
  out = tmp_path / "out" / "features.tfrecord"
  result = _run(f"--input_videos_csv={csv_path}",
                f"--output_tfrecords_file={out}",
                f"--model_dir={models['visual']}", "--num_shards=2")
  assert result.returncode == 1, result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      "error: 1 of 4 videos could not be read (listed above); the other 3 "
      "were written")
  assert f"skipped {bad}: cannot open" in result.stderr
  assert "Successfully encoded 3 out of 4 videos" in result.stdout
  assert "[4/4]" in result.stdout and "frames/s" in result.stdout
  assert sorted(os.listdir(out.parent)) == [
      "features.tfrecord-00000-of-00002", "features.tfrecord-00001-of-00002"]
  ids = [[e.context.feature["id"].bytes_list.value[0].decode()
          for e in parse(f"{out}-0000{i}-of-00002")] for i in range(2)]
  assert ids == [[str(videos[0])], [str(videos[1]), str(videos[2])]]


@pytest.mark.slow
def test_cli_offline_error_is_one_line(tmp_path):
  csv_path = tmp_path / "videos.csv"
  csv_path.write_text("a.mp4,1\n")
  port = _closed_port()
  result = _run(f"--input_videos_csv={csv_path}",
                f"--output_tfrecords_file={tmp_path / 'out.tfrecord'}",
                f"--model_dir={tmp_path / 'm'}",
                f"--pca_url=http://127.0.0.1:{port}/yt8m_pca.tgz")
  assert result.returncode == 1
  last = one_line.stderr_error(result.stderr)
  assert last.startswith(f"error: {tmp_path / 'm' / 'mean.npy'} is missing "
                         f"and http://127.0.0.1:{port}/yt8m_pca.tgz cannot "
                         "be fetched")
  assert not os.path.exists(tmp_path / "out.tfrecord")


def test_gcs_model_dir_videos_and_output(gcs, models, tmp_path):
  """Model files, videos and the output on gs:// (local GCS emulator)."""
  video = tmp_path / "v.mkv"
  media.write_video(video, colors=media.COLORS[:2], audio=media.tone(2))
  gcs.apply_to_current_process()
  try:
    model_dir = gcs.path("extract", "models")
    for name in VISUAL_FILES:
      tf.io.gfile.copy(os.path.join(models["visual"], name),
                       f"{model_dir}/{name}", overwrite=True)
    remote_video = gcs.path("extract", "videos", "v.mkv")
    tf.io.gfile.copy(str(video), remote_video, overwrite=True)
    csv_path = gcs.path("extract", "videos.csv")
    with tf.io.gfile.GFile(csv_path, "w") as f:
      f.write(f"{remote_video},4\n")
    extractor = extraction_pipeline.Extractor.from_model_dir(model_dir,
                                                          download=False)
    out = gcs.path("extract", "out", "features.tfrecord")
    summary = extraction_pipeline.extract(
        extract_features.read_videos_csv(csv_path), extractor, out,
        report=lambda line: None)
    assert summary.written == 1, summary.failed
    (example,) = parse(out)
    assert example.context.feature["id"].bytes_list.value == [
        remote_video.encode()]
    assert frame_bytes(example, "rgb").shape == (2, 1024)
    assert tf.io.gfile.listdir(gcs.path("extract", "out")) == [
        "features.tfrecord"]
  finally:
    gcs.restore_current_process()


@pytest.mark.slow
def test_inference_reads_the_output(visual_extractor, tmp_path):
  """train.py on generated frame data, then inference.py on extracted videos."""
  videos = []
  for i in range(2):
    path = tmp_path / f"v{i}.mkv"
    media.write_video(path, colors=media.COLORS[i:i + 3])
    videos.append((str(path), []))
  features = tmp_path / "features.tfrecord"
  extraction_pipeline.extract(videos, visual_extractor, str(features),
                           report=lambda line: None)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  data, model = tmp_path / "data", tmp_path / "model"
  for command in (
      ["-m", "youtube8m.make_dataset", f"--output_dir={data}",
       "--num_train=32", "--num_validate=4", "--num_test=4", "--shards=1",
       "--min_frames=3", "--max_frames=6", "--novideo_level"],
      ["train.py", f"--train_data_pattern={data}/frame/train*",
       "--frame_features", "--model=FrameLevelLogisticModel",
       "--feature_names=rgb,audio", "--feature_sizes=1024,128",
       "--batch_size=16", "--max_steps=2", f"--train_dir={model}",
       "--start_new_model"],
      ["inference.py", f"--input_data_pattern={features}",
       f"--train_dir={model}", f"--output_file={tmp_path / 'pred.csv'}"]):
    result = subprocess.run([sys.executable, *command], capture_output=True,
                            text=True, env=env, cwd=REPO, timeout=300)
    assert result.returncode == 0, (command[0], result.stderr[-2000:])
  lines = (tmp_path / "pred.csv").read_text().splitlines()
  assert lines[0] == "VideoId,LabelConfidencePairs"
  assert sorted(line.split(",")[0] for line in lines[1:]) == [
      v for v, _ in videos]


@pytest.mark.slow
def test_extract_benchmark_runs(tmp_path):
  """python -m youtube8m.benchmark extract: its stand-in and its JSON line."""
  import json  # pylint: disable=import-outside-toplevel
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
  result = subprocess.run(
      [sys.executable, "-m", "youtube8m.benchmark", "extract",
       "--video_seconds=3", "--copies=1", "--trials=1"], capture_output=True,
      text=True, env=env, cwd=tmp_path, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.strip().splitlines()
  assert lines[0].startswith("a stand-in: Inception-v3 with random weights, "
                             "5.71 GMAC a frame (batched)")
  figures = json.loads(lines[-1])
  assert figures["real_graph"] is False
  assert 0 < figures["ratio"] and 0 < figures["cpu_ceiling"] < 1


@pytest.mark.parametrize("num_shards", [1, 2])
def test_when_every_video_fails_nothing_is_written(visual_extractor, tmp_path,
                                                   num_shards):
  garbage = media.write_garbage(tmp_path / "g.mp4")
  videos = [(str(garbage), [1]), (str(tmp_path / "missing.mp4"), [2])]
  out = tmp_path / "out.tfrecord"
  older = feature_records.shard_names(str(out), num_shards)
  for path in older:
    with open(path, "wb") as f:
      f.write(b"an older run's output")
  with pytest.raises(utils.Yt8mError, match=(
      f"none of the 2 videos could be read \\(the first: {garbage}: .*\\); "
      f"nothing written to {out}")):
    extraction_pipeline.extract(videos, visual_extractor, str(out),
                                num_shards=num_shards, report=lambda _: None)
  for path in older:
    assert open(path, "rb").read() == b"an older run's output"
  assert sorted(os.listdir(tmp_path)) == sorted(
      ["g.mp4"] + [os.path.basename(p) for p in older])


@pytest.mark.slow
def test_cli_never_writes_over_its_inputs(tmp_path):
  video = tmp_path / "v.mkv"
  video.write_bytes(b"a video")
  csv_path = tmp_path / "videos.csv"
  csv_path.write_text(f"{video},1\n")
  for output, culprit in [(csv_path, "--input_videos_csv"),
                          (video, "a video of --input_videos_csv")]:
    result = _run(f"--input_videos_csv={csv_path}",
                  f"--output_tfrecords_file={output}",
                  f"--model_dir={tmp_path / 'm'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --output_tfrecords_file (shard 0)={output} is also an input "
        f"({culprit}); writing it would destroy that input: give another "
        "path")
  assert video.read_bytes() == b"a video"
  assert csv_path.read_text() == f"{video},1\n"
