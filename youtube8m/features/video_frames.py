"""Frames and audio of a video file, decoded with PyAV (FFmpeg in the wheel).

`VideoDecoder(path).batches()` yields the frames the YouTube-8M features are
computed from, as uint8 RGB arrays [B, H, W, 3] in time order, and afterwards
holds the audio track as a mono 16 kHz float waveform (`.audio`).

Which frames: frame k is the decoded frame whose presentation time is nearest
to t0 + k / frames_per_second (t0: the first frame's time; ties go to the
earlier frame), for k = 0, 1, ... while that time lies before the end of the
video (last frame's time plus one frame duration), at most `max_frames`
frames. A 5 s clip at any frame rate gives 5 frames at 1 frame per second.
Every frame is decoded (later frames depend on earlier ones) except those
that no other frame refers to and that lie more than 1.5 frame durations
from every time taken: FFmpeg skips those (skip_frame=NONREF, set packet by
packet), which changes no frame taken and saved a fifth of the decoding of
an H.264 clip with B-frames here. Only the frames taken become RGB.

Audio: the first audio stream, every channel resampled to 16 kHz by FFmpeg
and then averaged (mono = the mean of the channels, as MediaPipe's
YouTube-8M graph does; FFmpeg's own downmix weighs channels differently).
Sample 0 of the waveform is at t0, the first video frame's time: audio that
starts later is preceded by silence, audio before t0 is dropped.
"""

import fractions
import math

import av
import numpy as np

from youtube8m.common import utils

SAMPLE_RATE = 16000
# FFmpeg decoder threading: "AUTO" (frame and slice threads) or "SLICE".
THREAD_TYPE = "AUTO"


class VideoError(utils.Yt8mError):
  """A video that cannot be decoded; the message names the file."""


def _open(path):
  """An open av container; gs:// and other remote paths through tf.io.gfile."""
  if "://" in path and not path.startswith(("http://", "https://")):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if not tf.io.gfile.exists(path):
      raise VideoError(f"{path}: not found")
    return av.open(tf.io.gfile.GFile(path, "rb"))
  return av.open(path)


def _fraction(value):
  return fractions.Fraction(str(value)).limit_denominator(1000000)


class _Waveform:
  """Collects decoded audio frames into a mono 16 kHz float32 waveform."""

  def __init__(self):
    self.resampler = None
    self.pieces = []
    self.samples = 0
    self.start = None  # time of the first decoded sample (Fraction seconds)
    self.source_rate = None
    self.channels = None
    self.done = False  # the audio needed is in

  def decode(self, packet, t0, end):
    """Adds a packet's audio; done once it reaches `end` seconds after t0
    (the first video frame's time; None: not decoded yet)."""
    for frame in packet.decode():
      t = _time(frame, (self.start or 0) + fractions.Fraction(
          self.samples, SAMPLE_RATE))
      self.add(frame, t)
      if t0 is not None and t - t0 >= end:
        self.done = True
        return

  def add(self, frame, time):
    if self.start is None:
      self.start = time
      self.source_rate = frame.sample_rate
      self.channels = len(frame.layout.channels)
    out = []
    if self.resampler is not None:
      try:
        out = self.resampler.resample(frame)
      except ValueError:  # layout or rate changed mid-stream: start anew
        out = self.resampler.resample(None)
        self.resampler = None
    if self.resampler is None:
      # layout=None keeps the frame's channels: they are averaged below.
      self.resampler = av.AudioResampler(format="fltp", layout=None,
                                         rate=SAMPLE_RATE)
      out = list(out) + list(self.resampler.resample(frame))
    self._keep(out)

  def _keep(self, frames):
    for frame in frames:
      planes = frame.to_ndarray()  # [channels, samples] float32
      mono = planes.mean(axis=0, dtype=np.float64).astype(np.float32)
      self.pieces.append(mono)
      self.samples += mono.shape[0]

  def finish(self, t0):
    """The waveform with sample 0 at time t0 (seconds, Fraction)."""
    if self.resampler is not None:
      self._keep(self.resampler.resample(None))
    wave = (np.concatenate(self.pieces) if self.pieces
            else np.zeros([0], np.float32))
    if self.start is not None:
      offset = int(round((self.start - t0) * SAMPLE_RATE))
      if offset > 0:
        wave = np.concatenate([np.zeros([offset], np.float32), wave])
      elif offset < 0:
        wave = wave[-offset:]
    return wave


class VideoDecoder:
  """Decodes one video: `batches()` first, then `.audio` and the counts.

  Args:
    path: a local file, http(s) URL, or gs:// (or other tf.io.gfile) path.
    frames_per_second, max_frames: which frames (see the module docstring).
    audio: whether to decode the audio track.
    audio_window_seconds: audio is decoded up to this long after the last
      frame's time (VGGish's window).
    batch_frames, batch_bytes: the most frames, and bytes, of a batch.
    thread_type: FFmpeg's decoder threading, "AUTO" (frame and slice
      threads) or "SLICE"; default THREAD_TYPE.
    skip_unneeded: skip decoding unneeded non-reference frames.

  Attributes set by `batches()`:
    num_frames: frames yielded.
    has_audio_stream: whether the file has an audio stream.
    audio: float32 [samples] mono 16 kHz waveform starting at the first
      frame's time, or None (no audio stream, or audio=False).
  """

  def __init__(self, path, frames_per_second=1.0, max_frames=300, audio=True,
               audio_window_seconds=0.975, batch_frames=32,
               batch_bytes=64 << 20, thread_type=None, skip_unneeded=True):
    if frames_per_second <= 0:
      raise utils.Yt8mError(
          f"--frames_per_second must be positive, not {frames_per_second}")
    self.path = path
    self.period = 1 / _fraction(frames_per_second)
    self.max_frames = int(max_frames)
    self.want_audio = audio
    self.batch_frames = max(1, int(batch_frames))
    self.batch_bytes = batch_bytes
    self.num_frames = 0
    self.has_audio_stream = False
    self.audio = None
    self.audio_window = _fraction(audio_window_seconds)
    self.thread_type = thread_type or THREAD_TYPE
    self.skip_unneeded = skip_unneeded

  def batches(self):
    """Yields uint8 [B, H, W, 3] RGB frames (same H, W within a batch)."""
    try:
      container = _open(self.path)
    except VideoError:
      raise
    except (av.FFmpegError, OSError, ValueError) as e:
      raise VideoError(f"{self.path}: cannot open: {_reason(e)}") from None
    try:
      yield from self._decode(container)
    except VideoError:
      raise
    except (av.FFmpegError, OSError, ValueError, RuntimeError) as e:
      raise VideoError(f"{self.path}: cannot decode: {_reason(e)}") from None
    finally:
      container.close()

  def _decode(self, container):
    """Demuxes the streams: video packets to the frame selector, whose
    frames the batcher yields; audio packets to the waveform."""
    video, audio = self._streams(container)
    selector = FrameSelector(
        self.period, self.max_frames,
        1 / video.average_rate if video.average_rate else None)
    batcher = Batcher(self.batch_frames, self.batch_bytes)
    waveform = _Waveform() if audio is not None else None
    # Audio is needed up to the last frame that may be taken, plus a window.
    audio_end = max(self.max_frames - 1, 0) * self.period + self.audio_window
    skip = "DEFAULT"  # the decoder's skip_frame setting
    streams = [video] + ([audio] if audio is not None else [])
    for packet in container.demux(streams):
      if packet.stream is video:
        if selector.done:
          continue
        if self.skip_unneeded:
          wanted = "DEFAULT" if selector.needed(packet) else "NONREF"
          if wanted != skip:
            video.codec_context.skip_frame = skip = wanted
        for frame in packet.decode():
          for taken in selector.take(frame):
            yield from batcher.add(taken)
          if selector.done:
            break
      elif waveform is not None and not waveform.done:
        waveform.decode(packet, selector.t0, audio_end)
      if selector.done and (waveform is None or waveform.done):
        break
    for taken in selector.at_end(video.time_base):
      yield from batcher.add(taken)
    yield from batcher.flush()
    self.num_frames = selector.k
    if selector.k == 0:
      raise VideoError(f"{self.path}: no video frames")
    if waveform is not None:
      self.audio = waveform.finish(selector.t0)

  def _streams(self, container):
    """(video stream, audio stream or None); the audio only if wanted."""
    if not container.streams.video:
      raise VideoError(f"{self.path}: no video stream")
    video = container.streams.video[0]
    video.thread_type = self.thread_type
    audio = container.streams.audio[0] if container.streams.audio else None
    self.has_audio_stream = audio is not None
    return video, audio if self.want_audio else None


class FrameSelector:
  """Which decoded frames are taken (see the module docstring).

  Fed the decoded frames in order (`take`), it returns the frames taken:
  frame k is the decoded frame nearest to t0 + k * period. Times are
  Fractions of a second.

  Args:
    period: seconds between frames taken.
    max_frames: the most frames taken.
    default_duration: one frame's duration from the stream's average rate
      (None if unknown), until two frames show the real one.
  """

  def __init__(self, period, max_frames, default_duration):
    self.period = period
    self.max_frames = max_frames
    self.default_duration = default_duration
    self.t0 = None  # the first frame's time
    self.k = 0  # the next frame index to take
    self.prev = None  # (frame, time) of the last decoded frame
    self.step = None  # the shortest time between two decoded frames

  @property
  def done(self):
    return self.k >= self.max_frames

  def _duration(self):
    return self.step or self.default_duration

  def take(self, frame):
    """The frames to take now that `frame` is decoded ([] or more).

    Every target time up to frame's is served, by frame or by the previous
    frame, whichever is nearer (ties: the earlier).
    """
    t = _time(frame, self.prev[1] + (self._duration() or 0)
              if self.prev else 0)
    if self.t0 is None:
      self.t0 = t
    taken = []
    while not self.done and self.t0 + self.k * self.period <= t:
      target = self.t0 + self.k * self.period
      use_prev = self.prev is not None and target - self.prev[1] <= t - target
      taken.append(self.prev[0] if use_prev else frame)
      self.k += 1
    if self.prev is not None and t > self.prev[1]:
      self.step = t - self.prev[1] if self.step is None else min(
          self.step, t - self.prev[1])
    self.prev = (frame, t)
    return taken

  def needed(self, packet):
    """False for a packet whose frame cannot be one of the frames taken.

    Such frames are not decoded when no other frame refers to them
    (FFmpeg's skip_frame=NONREF; reference frames are always decoded).
    Frames within 1.5 frame durations of a target time are decoded, so the
    nearest frame to every target is among the decoded ones.
    """
    duration = self._duration()
    if (self.t0 is None or packet.pts is None or packet.time_base is None or
        not duration):
      return True
    t = fractions.Fraction(packet.pts) * packet.time_base - self.t0
    window = duration * 3 / 2
    first = max(self.k, math.ceil((t - window) / self.period))
    last = min(self.max_frames - 1, math.floor((t + window) / self.period))
    return first <= last

  def at_end(self, time_base):
    """At the end of the stream: the last frame again for every target
    before the video's end (the last frame's time plus one duration)."""
    if self.done or self.prev is None:
      return []
    # Timestamps are rounded to the time base (mkv: 1 ms): allow for it.
    slack = max(fractions.Fraction(time_base or 0),
                fractions.Fraction(1, 1000))
    end = self.prev[1] + (self._duration() or 0) - slack
    taken = []
    while not self.done and self.t0 + self.k * self.period < end:
      taken.append(self.prev[0])
      self.k += 1
    return taken


class Batcher:
  """Turns the frames taken into uint8 RGB batches [B, H, W, 3].

  A batch holds at most batch_frames frames and batch_bytes bytes, all of
  one size (a video may change resolution). A frame taken several times in
  a row (a rate above the video's) is converted to RGB once.
  """

  def __init__(self, batch_frames, batch_bytes):
    self.batch_frames = batch_frames
    self.batch_bytes = batch_bytes
    self.images = []
    self.bytes = 0
    self._converted = (None, None)  # the last frame converted, its pixels

  def _rgb(self, frame):
    if self._converted[0] is not frame:
      self._converted = (frame, frame.to_ndarray(format="rgb24"))
    return self._converted[1]

  def _take_batch(self):
    batch = np.stack(self.images)
    self.images, self.bytes = [], 0
    return batch

  def add(self, frame):
    """Adds a frame; returns the batches it completed ([] until one is)."""
    image = self._rgb(frame)
    out = []
    if self.images and (image.shape != self.images[0].shape or
                        self.bytes + image.nbytes > self.batch_bytes):
      out.append(self._take_batch())
    self.images.append(image)
    self.bytes += image.nbytes
    if len(self.images) >= self.batch_frames:
      out.append(self._take_batch())
    return out

  def flush(self):
    """The last, partial batch ([] if none)."""
    return [self._take_batch()] if self.images else []


def _time(frame, default):
  """A decoded frame's presentation time in seconds (Fraction)."""
  if frame.pts is not None and frame.time_base is not None:
    return fractions.Fraction(frame.pts) * frame.time_base
  return fractions.Fraction(default)


def _reason(error):
  if isinstance(error, FileNotFoundError):
    return "not found"
  text = (getattr(error, "strerror", None) or str(error)).strip()
  return (text or type(error).__name__).splitlines()[0]
