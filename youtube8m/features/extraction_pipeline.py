"""From video files to YouTube-8M features: decoding, networks, records.

`Extractor` holds the networks (Inception + PCA, optionally VGGish + PCA).
`video_features` decodes videos in a thread ahead of the networks and yields
each video's float features in order; `extract` writes them as records
(extract_features' command line), and label_video builds the same records in
memory with `Extractor.record`, so both see the same features.

The decoding thread hands frames over in small chunks while it decodes
ahead; the chunks of a video are joined into network batches of batch_size
frames cut at fixed places (`_Queue`), so a video's features are the same
bytes on every run.
"""

import collections
import contextlib
import queue
import sys
import threading
import time

import numpy as np
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.features import feature_networks
from youtube8m.features import feature_records
from youtube8m.features import model_files

CHUNK_FRAMES = 4
CHUNK_BYTES = 16 << 20
# The most bytes of frames in a network batch (32 frames of 1080p fit; 4K
# frames go 10 a batch).
BATCH_BYTES = 256 << 20

# One video's features: rgb float32 [T, 1024] and audio float32 [T, 128] or
# None; or `error` (a message naming the file) and no features.
# no_audio_stream: an audio model is used but the video has no audio.
VideoFeatures = collections.namedtuple(
    "VideoFeatures", "index path labels rgb audio error no_audio_stream")

Summary = collections.namedtuple(
    "Summary", "written failed frames seconds paths zero_audio")


def log(message):
  print(message, file=sys.stderr, flush=True)


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
    paths = model_files.locate(model_dir, vggish_model, vggish_pca_params,
                               download, urls)
    pca = feature_networks.VisualPca.load(model_dir)
    inception = feature_networks.InceptionNetwork.load(model_dir, batch=batch,
                                                       log=log, pca=pca)
    vggish = audio_pca = None
    if paths.vggish_model:
      audio_pca = feature_networks.AudioPca.load(paths.vggish_pca_params)
      vggish = feature_networks.VggishNetwork(paths.vggish_model)
    return cls(inception, pca, vggish, audio_pca)

  @property
  def has_audio(self):
    return self.vggish is not None

  def describe_audio(self, zero_audio=True):
    if self.has_audio:
      return f"audio from {self.vggish.source}"
    if zero_audio:
      return "no VGGish model: audio is 128 zero bytes a frame"
    return "no VGGish model: no audio features"

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

  def record(self, video, keys=feature_records.DEFAULT_KEYS, zero_audio=True,
             frame_level=True):
    """The serialized record of a VideoFeatures, as extract writes it.

    Without VGGish, zero_audio writes zero audio (else none); with VGGish a
    video without audio stream always gets zero audio.
    """
    return feature_records.video_record(
        video.path, video.labels, video.rgb, video.audio, keys,
        zero_audio=zero_audio or self.has_audio, frame_level=frame_level)


def decoder_threading():
  """FFmpeg's threading for the decoder: "SLICE" when the network runs on
  the CPU (its threads take every core; frame threads would only add work),
  "AUTO" (frame and slice threads) when a GPU runs it."""
  return "AUTO" if tf.config.list_physical_devices("GPU") else "SLICE"


_DONE = object()


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
    from youtube8m.features import video_frames  # pylint: disable=g-import-not-at-top
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


class _Queue:
  """The decoder's items, each video's frames regrouped into network batches.

  A video's batches are cut at fixed places: frames [i * B, (i + 1) * B),
  B = batch_size (fewer where the video ends or its frame size changes, or
  where BATCH_BYTES would be passed), whatever the timing. The network's
  float sums depend on the batch they run in (a row's summation order
  follows the kernel's blocking over the batch: the PCA's matmul gives
  other last bits to a frame in a batch of 5 than in one of 8), so batches
  made of "whatever the decoder had queued" gave a video features, and so
  a mean_rgb, that differed in their last bit from run to run.
  """

  def __init__(self, items, batch_size):
    self.items = items
    self.batch_size = batch_size
    self.pending = None  # an item taken from the queue but not used yet

  def next(self):
    if self.pending is not None:
      item, self.pending = self.pending, None
      return item
    return self.items.get()

  def batch(self, index, first):
    """The batch of video `index` starting with the frames `first`."""
    size = min(self.batch_size, max(1, BATCH_BYTES // first[0].nbytes))
    chunks, count = [first], len(first)
    while count < size:
      # Blocks until the decoder has more: it ends every video with an
      # "end" or "error" item, so this wait always ends.
      item = self.next()
      if (item is _DONE or item[:2] != (index, "frames") or
          item[2].shape[1:] != first.shape[1:]):
        self.pending = item
        break
      chunks.append(item[2])
      count += len(item[2])
    frames = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    if len(frames) > size:  # the rest starts the next batch
      self.pending = (index, "frames", frames[size:])
      frames = frames[:size]
    return frames


def video_features(videos, extractor, frames_per_second=1.0, max_frames=300,
                   batch_size=32):
  """Yields a VideoFeatures for each of videos [(path, labels)], in order.

  Decoding runs in a thread ahead of the networks; closing the generator
  stops it.
  """
  items = queue.Queue(maxsize=max(16, 2 * batch_size // CHUNK_FRAMES))
  stop = threading.Event()
  producer = threading.Thread(
      target=_produce, daemon=True,
      args=(videos, items, stop, frames_per_second, max_frames,
            extractor.has_audio, decoder_threading()))
  producer.start()
  period = 1.0 / frames_per_second
  source = _Queue(items, batch_size)
  features = []
  try:
    while True:
      item = source.next()
      if item is _DONE:
        return
      index, kind, payload = item
      if kind == "fatal":
        raise payload
      if kind == "frames":
        features.append(extractor.rgb(source.batch(index, payload)))
        continue
      path, labels = videos[index]
      if kind == "error":
        yield VideoFeatures(index, path, labels, None, None, payload, False)
      else:  # end
        rgb = np.concatenate(features)
        audio, no_audio = None, False
        if extractor.has_audio:
          if payload.audio is not None:
            audio = extractor.audio(payload.audio, len(rgb), period)
          else:
            no_audio = True
        yield VideoFeatures(index, path, labels, rgb, audio, None, no_audio)
      features = []
  finally:
    stop.set()


def format_seconds(seconds):
  seconds = int(round(seconds))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def extract(videos, extractor, output, *, frames_per_second=1.0,
            max_frames=300, num_shards=1, keys=feature_records.DEFAULT_KEYS, zero_audio=True,
            frame_level=True, batch_size=32, report=print):
  """Extracts features of videos [(path, labels)] into output's shards.

  Videos that fail are reported and skipped. Returns a Summary.
  """
  start = time.monotonic()
  count = len(videos)
  writer = feature_records.ShardedWriter(output, count, num_shards)
  written, failed, zero_audio_videos = 0, [], []
  frames_total = 0

  def progress(index, what):
    done = index + 1
    elapsed = time.monotonic() - start
    rate = frames_total / elapsed if elapsed > 0 else 0.0
    eta = elapsed / done * (count - done)
    report(f"[{done}/{count}] {videos[index][0]}: {what} | {rate:.1f} "
           f"frames/s | ETA {format_seconds(eta)}")

  try:
    with contextlib.closing(video_features(
        videos, extractor, frames_per_second, max_frames,
        batch_size)) as results:
      for video in results:
        if video.error:
          failed.append((video.path, video.error))
          log(f"skipped {video.error}")
          progress(video.index, "FAILED")
        else:
          writer.write(video.index, extractor.record(video, keys, zero_audio,
                                                     frame_level))
          written += 1
          frames_total += len(video.rgb)
          note = ", audio" if video.audio is not None else ""
          if video.no_audio_stream:
            zero_audio_videos.append(video.path)
            note = ", no audio stream: zero audio"
          progress(video.index, f"{len(video.rgb)} frames{note}")
        writer.done_through(video.index)
    writer.close()
  except BaseException:
    writer.abort()
    raise
  if not written:
    raise utils.Yt8mError(
        f"none of the {count} videos could be read (the first: "
        f"{failed[0][1] if failed else '?'}); nothing written to {output}")
  return Summary(written, failed, frames_total, time.monotonic() - start,
                 writer.paths, zero_audio_videos)
