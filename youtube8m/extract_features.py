r"""YouTube-8M features of your own videos, as frame-level TFRecords.

  python -m youtube8m.extract_features --input_videos_csv=videos.csv \
      --output_tfrecords_file=out.tfrecord --model_dir=$HOME/yt8m

videos.csv has lines `<video_file>,<labels joined with ;>`, e.g.
`/videos/cat.mp4,52;3;10` (labels may be empty). Every video becomes one
SequenceExample laid out as the dataset's frame-level records:
  context  id (bytes: the video file as written in the CSV), labels (int64,
           sorted), mean_rgb (1024 floats), mean_audio (128 floats)
  lists    rgb (1024 bytes a frame), audio (128 bytes a frame)
readable by this project's frame-level reader (and, with
--skip_frame_level_features, the video-level one). See docs/own_videos.md.

Frames: one a second (--frames_per_second), the first --max_frames (300),
through the 2015 Inception-v3 graph and the YouTube-8M PCA; the model files
come from --model_dir and are downloaded there when missing. Audio: when a
VGGish SavedModel is found (--vggish_model, default <model_dir>/vggish), one
VGGish embedding a frame, from the 0.975 s of audio starting at the frame's
time, then AudioSet's PCA and quantization; without one, 128 zero bytes a
frame (--insert_zero_audio_features) as the original extractor wrote.

A video that cannot be decoded, or has no frames, is reported and skipped;
the exit status is 1 when any was. Each output file appears whole when done
(written under a temporary name, then renamed).
"""

import collections
import csv
import os
import queue
import sys
import threading
import time

from absl import flags
import numpy as np

from youtube8m import cli
from youtube8m import examples
from youtube8m import feature_networks
from youtube8m import utils

AUDIO_KEY = "audio"


def define_flags():
  """The original extractor's flags (same defaults), then ours."""
  flags.DEFINE_string("output_tfrecords_file", None,
                      "The TFRecord file written (with --num_shards > 1, "
                      "the prefix of PATH-00000-of-0000N).")
  flags.DEFINE_string("input_videos_csv", None,
                      "CSV file of lines \"<video_file>,<labels>\", labels "
                      "being integers joined with \";\".")
  flags.DEFINE_string("model_dir", os.path.join(os.path.expanduser("~"),
                                                "yt8m"),
                      "Directory of the model files (local or gs://): "
                      "classify_image_graph_def.pb, mean.npy, eigenvals.npy, "
                      "eigenvecs.npy, downloaded here when missing; "
                      "optionally vggish/ and vggish_pca_params.npz.")
  flags.DEFINE_float("frames_per_second", 1,
                     "This many frames per second are processed.")
  flags.DEFINE_bool("skip_frame_level_features", False,
                    "Write only the video-level features (mean_*), as "
                    "tf.train.Examples the video-level reader accepts.")
  flags.DEFINE_string("labels_feature_key", "labels",
                      "Context key of the labels (int64 list).")
  flags.DEFINE_string("image_feature_key", "rgb",
                      "Feature list key of the visual features (and "
                      "mean_<key> in the context).")
  flags.DEFINE_string("video_file_feature_key", "id",
                      "Context key holding <video_file> as written in the "
                      "CSV.")
  flags.DEFINE_bool("insert_zero_audio_features", True,
                    "Without a VGGish model, write 'audio' as 128 zero bytes "
                    "a frame (and mean_audio zeros), so that models trained "
                    "on rgb and audio accept the records.")
  # Added here.
  flags.DEFINE_integer("max_frames", 300,
                       "At most this many frames (from the start) a video.")
  flags.DEFINE_string("vggish_model", "",
                      "VGGish SavedModel directory (TF Hub vggish "
                      "signature). Default: <model_dir>/vggish, used when "
                      "present.")
  flags.DEFINE_string("vggish_pca_params", "",
                      "AudioSet's vggish_pca_params.npz. Default: "
                      "<model_dir>/vggish_pca_params.npz (downloaded when "
                      "missing and a VGGish model is used).")
  flags.DEFINE_integer("num_shards", 1,
                       "Split the output into this many files "
                       "PATH-00000-of-0000N, consecutive CSV rows each; each "
                       "appears when its videos are done.")
  flags.DEFINE_integer("batch_size", 32,
                       "Frames per Inception batch.")
  flags.DEFINE_bool("download", True,
                    "Fetch missing model files from their published URLs.")
  flags.DEFINE_string("inception_url", feature_networks.INCEPTION_URL,
                      "Where classify_image_graph_def.pb is fetched from.")
  flags.DEFINE_string("pca_url", feature_networks.PCA_URL,
                      "Where mean.npy, eigenvals.npy, eigenvecs.npy are "
                      "fetched from.")
  flags.DEFINE_string("vggish_pca_url", feature_networks.VGGISH_PCA_URL,
                      "Where vggish_pca_params.npz is fetched from.")


Keys = collections.namedtuple("Keys", "video_file labels image")
DEFAULT_KEYS = Keys("id", "labels", "rgb")


def log(message):
  print(message, file=sys.stderr, flush=True)


def read_videos_csv(path):
  """[(video_file, sorted labels)] from the CSV; Yt8mError on a bad line."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if not tf.io.gfile.exists(path):
    raise utils.Yt8mError(f"--input_videos_csv: {path} not found")
  videos = []
  with tf.io.gfile.GFile(path, "r") as f:
    for line, row in enumerate(csv.reader(f), 1):
      if not row or not "".join(row).strip():
        continue
      if len(row) > 2:
        raise utils.Yt8mError(
            f"{path}: line {line}: {len(row)} fields, expected "
            "<video_file>,<labels joined with ;> (quote a file name that "
            "has commas)")
      video = row[0].lstrip("\ufeff").strip()  # a BOM, spaces
      labels = []
      for item in (row[1].split(";") if len(row) > 1 else []):
        if not item.strip():
          continue
        try:
          label = int(item)
        except ValueError:
          label = -1
        if label < 0:
          raise utils.Yt8mError(f"{path}: line {line}: label {item!r} is not "
                                "a non-negative integer")
        labels.append(label)
      if not video:
        raise utils.Yt8mError(f"{path}: line {line}: no video file")
      videos.append((video, sorted(labels)))
  return videos


class Extractor:
  """Inception + PCA (rgb) and, optionally, VGGish + PCA (audio)."""

  def __init__(self, inception, pca, vggish=None, audio_pca=None):
    self.inception = inception
    self.pca = pca
    self.vggish = vggish
    self.audio_pca = audio_pca

  @classmethod
  def from_model_dir(cls, model_dir, vggish_model="", vggish_pca_params="",
                     download=True, urls=None, batch=True):
    """Loads (and fetches, when missing) the models; ModelError if unusable.

    vggish_model: "" means <model_dir>/vggish if it exists, else no audio.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    urls = dict({"inception": feature_networks.INCEPTION_URL,
                 "pca": feature_networks.PCA_URL,
                 "vggish_pca": feature_networks.VGGISH_PCA_URL}, **(urls or {}))
    join = feature_networks.join_path
    feature_networks.fetch_model_files(
        model_dir, feature_networks.PCA_FILES, urls["pca"], download)
    feature_networks.fetch_model_files(
        model_dir, [feature_networks.INCEPTION_GRAPH], urls["inception"],
        download)
    pca = feature_networks.VisualPca.load(model_dir)
    inception = feature_networks.InceptionNetwork.load(model_dir, batch=batch,
                                                       log=log, pca=pca)
    vggish = audio_pca = None
    path = vggish_model or join(model_dir, feature_networks.VGGISH_DIR)
    if vggish_model or tf.io.gfile.isdir(path):
      if not tf.io.gfile.isdir(path):
        raise feature_networks.ModelError(
            f"--vggish_model: {path} is not a directory (a VGGish SavedModel,"
            f" e.g. {feature_networks.VGGISH_MODEL_URL} unpacked)")
      if vggish_pca_params:
        if not tf.io.gfile.exists(vggish_pca_params):
          raise feature_networks.ModelError(
              f"--vggish_pca_params: {vggish_pca_params} not found (get it "
              f"from {feature_networks.VGGISH_PCA_URL})")
        pca_path = vggish_pca_params
      else:
        feature_networks.fetch_model_files(
            model_dir, [feature_networks.VGGISH_PCA_FILE],
            urls["vggish_pca"], download)
        pca_path = join(model_dir, feature_networks.VGGISH_PCA_FILE)
      audio_pca = feature_networks.AudioPca.load(pca_path)
      vggish = feature_networks.VggishNetwork(path)
    return cls(inception, pca, vggish, audio_pca)

  @property
  def has_audio(self):
    return self.vggish is not None

  def rgb(self, frames):
    """uint8 [B, H, W, 3] -> float32 [B, 1024] PCA features."""
    if self.inception.pca is self.pca:
      return self.inception.pca_features(frames)  # one graph run
    return self.pca(self.inception(frames))

  def audio(self, waveform, num_frames, period_seconds):
    """float32 [num_frames, 128] PCA features of the audio frames."""
    windows = feature_networks.audio_windows(waveform, num_frames,
                                             period_seconds)
    return self.audio_pca(self.vggish(windows))


def video_record(video_id, labels, rgb, audio, keys=DEFAULT_KEYS,
                 zero_audio=True, frame_level=True):
  """The serialized record of one video.

  rgb: float32 [T, 1024] PCA features; audio: float32 [T, 128] or None (then
  zero bytes and zero mean_audio when zero_audio, else no audio at all).
  mean_* are means of the float features, before quantization, as the
  original extractor computed mean_rgb.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  frames = {keys.image: utils.quantize(rgb)}
  means = {"mean_" + keys.image: rgb.mean(axis=0, dtype=np.float64)}
  if audio is not None:
    frames[AUDIO_KEY] = feature_networks.quantize_audio(audio)
    means["mean_audio"] = audio.mean(axis=0, dtype=np.float64)
  elif zero_audio:
    frames[AUDIO_KEY] = np.zeros([len(rgb), feature_networks.AUDIO_SIZE],
                                 np.uint8)
    means["mean_audio"] = np.zeros([feature_networks.AUDIO_SIZE])
  context = {name: tf.train.Feature(float_list=tf.train.FloatList(
      value=np.asarray(value, np.float32).tolist()))
             for name, value in means.items()}
  example = examples.frame_example(video_id, sorted(labels),
                                   frames if frame_level else {},
                                   id_key=keys.video_file, context=context)
  if keys.labels != "labels":
    feature = example.context.feature
    feature[keys.labels].CopyFrom(feature["labels"])
    del feature["labels"]
  if not frame_level:
    # The original wrote a SequenceExample with only a context; its bytes
    # are those of this Example, which the video-level reader parses.
    return tf.train.Example(features=example.context).SerializeToString()
  return example.SerializeToString()


def shard_names(output, num_shards):
  if num_shards <= 1:
    return [output]
  return [f"{output}-{i:05d}-of-{num_shards:05d}" for i in range(num_shards)]


class ShardedWriter:
  """Writes records of video i to shard i * num_shards // count.

  Each shard is written under a temporary name and renamed when its last
  video is done; `abort` removes the shard being written.
  """

  def __init__(self, output, count, num_shards=1):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    self._tf = tf
    self.count = count
    self.paths = shard_names(output, int(num_shards))
    self.num_shards = len(self.paths)
    self._next = 0  # the next shard to open
    self._open = None  # (index, writer, temp path)
    directory = os.path.dirname(output)
    if directory:
      tf.io.gfile.makedirs(directory)

  def shard_of(self, video):
    return min(video * self.num_shards // max(self.count, 1),
               self.num_shards - 1)

  def _temp(self, path):
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.tmp-{os.getpid()}")

  def _finish_open(self):
    if self._open is not None:
      _, writer, temp = self._open
      writer.close()
      self._tf.io.gfile.rename(temp, self.paths[self._open[0]],
                               overwrite=True)
      self._open = None

  def _advance(self, shard):
    """Closes shards before `shard` (empty ones written empty), opens it."""
    while self._open is None or self._open[0] < shard:
      self._finish_open()
      if self._next >= self.num_shards:
        return
      temp = self._temp(self.paths[self._next])
      self._open = (self._next, self._tf.io.TFRecordWriter(temp), temp)
      self._next += 1

  def write(self, video, record):
    self._advance(self.shard_of(video))
    self._open[1].write(record)

  def done_through(self, video):
    """Videos up to `video` are processed: finish shards that end there."""
    if video + 1 >= self.count or self.shard_of(video + 1) > self.shard_of(
        video):
      self._advance(self.shard_of(video))
      self._finish_open()

  def close(self):
    self._advance(self.num_shards - 1)
    self._finish_open()

  def abort(self):
    if self._open is not None:
      _, writer, temp = self._open
      self._open = None
      writer.close()
      try:
        self._tf.io.gfile.remove(temp)
      except self._tf.errors.OpError:
        pass


Summary = collections.namedtuple(
    "Summary", "written failed frames seconds paths zero_audio")


def _format_seconds(seconds):
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def decoder_threading():
  """FFmpeg's threading for the decoder: "SLICE" when the network runs on
  the CPU (its threads take every core; frame threads would only add work),
  "AUTO" (frame and slice threads) when a GPU runs it."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  return "AUTO" if tf.config.list_physical_devices("GPU") else "SLICE"


_DONE = object()
# The decoding thread hands frames over in small chunks, so the network
# starts early; chunks waiting in the queue are joined into batches of up to
# --batch_size frames while the network is busy.
CHUNK_FRAMES = 4
CHUNK_BYTES = 16 << 20


def _produce(videos, out, stop, fps, max_frames, audio, thread_type):
  """Decodes the videos in order, putting (index, kind, payload) items."""

  def put(item):
    while not stop.is_set():
      try:
        out.put(item, timeout=0.2)
        return True
      except queue.Full:
        continue
    return False

  try:
    # PyAV is imported here: the record layout needs no decoder.
    from youtube8m import video_frames  # pylint: disable=import-outside-toplevel
    for index, (path, _) in enumerate(videos):
      decoder = video_frames.VideoDecoder(
          path, fps, max_frames, audio=audio,
          audio_window_seconds=feature_networks.VGGISH_WINDOW_SECONDS,
          batch_frames=CHUNK_FRAMES, batch_bytes=CHUNK_BYTES,
          thread_type=thread_type)
      try:
        for batch in decoder.batches():
          if not put((index, "frames", batch)):
            return
      except video_frames.VideoError as e:
        if not put((index, "error", str(e))):
          return
        continue
      if not put((index, "end", decoder)):
        return
  except BaseException as e:  # pylint: disable=broad-except
    put((None, "fatal", e))
    return
  put(_DONE)


def extract(videos, extractor, output, frames_per_second=1.0, max_frames=300,
            num_shards=1, keys=DEFAULT_KEYS, zero_audio=True,
            frame_level=True, batch_size=32, report=print):
  """Extracts features of videos [(path, labels)] into output's shards.

  Decoding runs in a thread ahead of the networks. Videos that fail are
  reported and skipped. Returns a Summary.
  """
  start = time.monotonic()
  count = len(videos)
  writer = ShardedWriter(output, count, num_shards)
  items = queue.Queue(maxsize=max(16, 2 * batch_size // CHUNK_FRAMES))
  stop = threading.Event()
  producer = threading.Thread(
      target=_produce, daemon=True,
      args=(videos, items, stop, frames_per_second, max_frames,
            extractor.has_audio, decoder_threading()))
  producer.start()
  period = 1.0 / frames_per_second
  written, failed, zero_audio_videos = 0, [], []
  frames_total = 0
  current, features = None, []
  pending = []  # an item taken from the queue but not used yet

  def next_item(block=True):
    if pending:
      return pending.pop()
    return items.get() if block else items.get_nowait()

  def more_frames(index, first):
    """first joined with the frames of `index` already queued."""
    chunks, size = [first], len(first)
    while size < batch_size:
      try:
        item = next_item(block=False)
      except queue.Empty:
        break
      if (item is _DONE or item[:2] != (index, "frames") or
          item[2].shape[1:] != first.shape[1:]):
        pending.append(item)
        break
      chunks.append(item[2])
      size += len(item[2])
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

  def progress(index, what):
    done = index + 1
    elapsed = time.monotonic() - start
    rate = frames_total / elapsed if elapsed > 0 else 0.0
    eta = elapsed / done * (count - done)
    report(f"[{done}/{count}] {videos[index][0]}: {what} | {rate:.1f} "
           f"frames/s | ETA {_format_seconds(eta)}")

  try:
    while True:
      item = next_item()
      if item is _DONE:
        break
      index, kind, payload = item
      if kind == "fatal":
        raise payload
      if index != current:
        current, features = index, []
      if kind == "frames":
        features.append(extractor.rgb(more_frames(index, payload)))
        continue
      if kind == "error":
        failed.append((videos[index][0], payload))
        log(f"skipped {payload}")
        progress(index, "FAILED")
      else:  # end
        decoder = payload
        rgb = np.concatenate(features)
        audio, note = None, ""
        if extractor.has_audio:
          if decoder.audio is not None:
            audio = extractor.audio(decoder.audio, len(rgb), period)
            note = ", audio"
          else:
            zero_audio_videos.append(videos[index][0])
            note = ", no audio stream: zero audio"
        record = video_record(
            videos[index][0], videos[index][1], rgb, audio, keys,
            zero_audio=zero_audio or extractor.has_audio,
            frame_level=frame_level)
        writer.write(index, record)
        written += 1
        frames_total += len(rgb)
        progress(index, f"{len(rgb)} frames{note}")
      features = []
      writer.done_through(index)
    writer.close()
  except BaseException:
    stop.set()
    writer.abort()
    raise
  finally:
    stop.set()
  return Summary(written, failed, frames_total, time.monotonic() - start,
                 writer.paths, zero_audio_videos)


def main(argv):
  cli.check_no_positional_args(argv)
  FLAGS = flags.FLAGS  # pylint: disable=invalid-name
  for name in ("input_videos_csv", "output_tfrecords_file"):
    if not FLAGS[name].value:
      raise cli.UsageError(f"--{name} is required")
  if FLAGS.frames_per_second <= 0:
    raise cli.UsageError("--frames_per_second must be positive")
  if FLAGS.max_frames <= 0:
    raise cli.UsageError("--max_frames must be positive")
  if FLAGS.num_shards <= 0:
    raise cli.UsageError("--num_shards must be positive")
  videos = read_videos_csv(FLAGS.input_videos_csv)
  if not videos:
    raise utils.Yt8mError(f"{FLAGS.input_videos_csv}: no videos")
  extractor = Extractor.from_model_dir(
      FLAGS.model_dir, FLAGS.vggish_model, FLAGS.vggish_pca_params,
      download=FLAGS.download,
      urls={"inception": FLAGS.inception_url, "pca": FLAGS.pca_url,
            "vggish_pca": FLAGS.vggish_pca_url})
  if extractor.has_audio:
    audio_text = f"audio from {extractor.vggish.source}"
  elif FLAGS.insert_zero_audio_features:
    audio_text = "no VGGish model: audio is 128 zero bytes a frame"
  else:
    audio_text = "no VGGish model: no audio features"
  print(f"{len(videos)} videos; {audio_text}", flush=True)
  keys = Keys(FLAGS.video_file_feature_key, FLAGS.labels_feature_key,
              FLAGS.image_feature_key)
  summary = extract(
      videos, extractor, FLAGS.output_tfrecords_file, FLAGS.frames_per_second,
      FLAGS.max_frames, FLAGS.num_shards, keys,
      FLAGS.insert_zero_audio_features,
      not FLAGS.skip_frame_level_features, FLAGS.batch_size,
      report=lambda line: print(line, flush=True))
  files = (summary.paths[0] if len(summary.paths) == 1 else
           f"{len(summary.paths)} files {summary.paths[0]} ...")
  rate = summary.frames / summary.seconds if summary.seconds else 0.0
  print(f"Successfully encoded {summary.written} out of {len(videos)} videos "
        f"({summary.frames} frames, {rate:.1f} frames/s, "
        f"{_format_seconds(summary.seconds)}) into {files}", flush=True)
  if summary.zero_audio:
    print(f"{len(summary.zero_audio)} videos had no audio stream: their "
          "audio is zero bytes", flush=True)
  if summary.failed:
    for path, message in summary.failed:
      log(f"  failed: {message}")
    raise utils.Yt8mError(
        f"{len(summary.failed)} of {len(videos)} videos could not be read "
        f"(listed above); the other {summary.written} were written")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
