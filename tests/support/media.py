"""Short test videos written with PyAV, and tiny stand-ins of the networks.

The stand-ins have the real interfaces, so the extractor cannot tell them
from the real files:
  inception_graph   a frozen GraphDef fed a uint8 [H, W, 3] frame at
                    DecodeJpeg:0 (Cast, ExpandDims, ResizeBilinear, Sub, Mul
                    as in the 2015 graph) with pool_3 [B, 1, 1, 2048] and
                    pool_3/_reshape [1, 2048]; features = mean of the
                    preprocessed pixels (x - 128) / 128 @ W + b.
  pca_files         mean.npy, eigenvals.npy, eigenvecs.npy of the real shapes.
  vggish_model      a SavedModel with the TF Hub vggish signature: 1-D float32
                    waveform -> [floor(len / 15360), 128]; row j holds the
                    mean |sample| of 128 runs of 120 samples of chunk j,
                    scaled (see `vggish_expected`).
  vggish_pca        vggish_pca_params.npz (pca_eigen_vectors, pca_means).
"""

import os

import av
import numpy as np
import tensorflow as tf

COLORS = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 255),
          (10, 20, 30), (200, 100, 50)]
VGGISH_CHUNK = 15360
VGGISH_SCALE = 8.0


def tone(seconds, rate=16000, channels=1, frequency=440.0, amplitudes=None):
  """float [channels, samples] sine; amplitudes[k] holds in second k.

  Channel 0 is the tone; other channels are silent, so the mono mean is the
  tone divided by `channels`.
  """
  n = int(round(seconds * rate))
  t = np.arange(n) / rate
  amplitude = np.full(n, 0.5)
  if amplitudes is not None:
    amplitude = np.asarray(amplitudes, np.float64)[np.minimum(
        (t).astype(int), len(amplitudes) - 1)]
  wave = np.zeros([channels, n])
  wave[0] = amplitude * np.sin(2 * np.pi * frequency * t)
  return wave


def write_video(path, colors=COLORS[:5], fps=10, size=(64, 48), audio=None,
                audio_rate=16000, video_codec=None, audio_codec=None,
                frames=None):
  """Writes `path`: second k shows colors[k] (RGB) for `fps` frames.

  .mkv: lossless FFV1 (bgr0) video and 16-bit PCM audio, so decoded pixels
  and samples are known exactly; .mp4: H.264 (yuv420p) and AAC.
  audio: float [channels, samples] in [-1, 1] at audio_rate, or None.
  frames: optional uint8 [N, H, W, 3] to write instead of the colours.
  Returns the audio as the decoder will give it (float32 [channels,
  samples]; exact for PCM) or None.
  """
  mkv = str(path).endswith(".mkv")
  video_codec = video_codec or ("ffv1" if mkv else "libx264")
  audio_codec = audio_codec or ("pcm_s16le" if mkv else "aac")
  container = av.open(str(path), "w")
  video = container.add_stream(video_codec, rate=fps)
  video.width, video.height = size
  video.pix_fmt = "bgr0" if video_codec == "ffv1" else "yuv420p"
  stream_audio = None
  if audio is not None:
    audio = np.atleast_2d(np.asarray(audio, np.float64))
    layout = {1: "mono", 2: "stereo"}[audio.shape[0]]
    stream_audio = container.add_stream(audio_codec, rate=audio_rate,
                                        layout=layout)
  if frames is None:
    frames = []
    for color in colors:
      image = np.zeros([size[1], size[0], 3], np.uint8)
      image[:] = color
      frames.extend([image] * fps)
  for i, image in enumerate(frames):
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image),
                                       format="rgb24")
    frame.pts = i
    for packet in video.encode(frame):
      container.mux(packet)
  for packet in video.encode():
    container.mux(packet)
  decoded = None
  if stream_audio is not None:
    fmt = stream_audio.codec_context.codec.audio_formats[0].name
    layout = stream_audio.codec_context.layout.name
    chunk = 1024
    pieces = []
    for start in range(0, audio.shape[1], chunk):
      part = audio[:, start:start + chunk]
      if fmt == "s16":
        ints = np.clip(np.round(part * 32767), -32768, 32767).astype(np.int16)
        pieces.append(ints.astype(np.float32) / 32768.0)
        array = np.ascontiguousarray(ints.T.reshape(1, -1))
      else:
        array = np.ascontiguousarray(part.astype(np.float32))
        pieces.append(array)
      frame = av.AudioFrame.from_ndarray(array, format=fmt, layout=layout)
      frame.sample_rate = audio_rate
      frame.pts = start
      for packet in stream_audio.encode(frame):
        container.mux(packet)
    for packet in stream_audio.encode():
      container.mux(packet)
    decoded = np.concatenate(pieces, axis=1)
  container.close()
  return decoded


def write_garbage(path, size=4096):
  with open(path, "wb") as f:
    f.write(np.random.RandomState(1).bytes(size))
  return str(path)


def inception_weights(seed=0):
  """(W [3, 2048], b [2048]) of the stand-in Inception graph."""
  rng = np.random.RandomState(seed)
  weights = rng.normal(0, 1, [3, 2048]).astype(np.float32)
  weights[:, :3] = np.eye(3, dtype=np.float32)  # features 0-2: R, G, B
  bias = rng.normal(0, 0.1, [2048]).astype(np.float32)
  bias[:3] = 0
  return weights, bias


def inception_graph(model_dir, seed=0, size=16, batchable=True):
  """Writes the stand-in classify_image_graph_def.pb; returns (W, b).

  batchable=False leaves out the Cast/ExpandDims/ResizeBilinear chain (the
  graph averages the frame directly), so the extractor must run it one
  frame at a time.
  """
  weights, bias = inception_weights(seed)
  graph = tf.Graph()
  with graph.as_default():
    frame = tf.compat.v1.placeholder(tf.uint8, [None, None, 3],
                                     name="DecodeJpeg")
    images = tf.cast(frame, tf.float32, name="Cast")
    images = tf.expand_dims(images, 0, name="ExpandDims")
    if batchable:
      images = tf.compat.v1.image.resize_bilinear(images, [size, size],
                                                  name="ResizeBilinear")
    images = tf.subtract(images, 128.0, name="Sub")
    images = tf.multiply(images, 1.0 / 128.0, name="Mul")
    mean = tf.reduce_mean(images, axis=[1, 2])
    features = tf.matmul(mean, tf.constant(weights)) + tf.constant(bias)
    pool = tf.reshape(features, [-1, 1, 1, 2048], name="pool_3")
    tf.reshape(pool, [1, 2048], name="pool_3/_reshape")
  os.makedirs(model_dir, exist_ok=True)
  with open(os.path.join(model_dir, "classify_image_graph_def.pb"), "wb") as f:
    f.write(graph.as_graph_def().SerializeToString())
  return weights, bias


def inception_expected(rgb, weights, bias):
  """Stand-in features of frames of solid colour rgb [N, 3]: [N, 2048]."""
  x = (np.asarray(rgb, np.float64) - 128.0) / 128.0
  return x @ weights.astype(np.float64) + bias


def pca_files(model_dir, seed=0):
  """Random mean.npy [2048, 1], eigenvals.npy [2048, 1], eigenvecs.npy.

  Scaled so that the stand-in's PCA features spread over about [-3, 3].
  Returns (mean, eigenvals, eigenvecs).
  """
  rng = np.random.RandomState(seed)
  mean = rng.normal(0, 0.5, [2048, 1]).astype(np.float32)
  eigenvals = rng.uniform(0.5, 4.0, [2048, 1]).astype(np.float32)
  eigenvecs = (rng.normal(0, 1, [2048, 2048]) / 60.0).astype(np.float32)
  os.makedirs(model_dir, exist_ok=True)
  for name, array in (("mean", mean), ("eigenvals", eigenvals),
                      ("eigenvecs", eigenvecs)):
    np.save(os.path.join(model_dir, name + ".npy"), array)
  return mean, eigenvals, eigenvecs


def pca_expected(features, mean, eigenvals, eigenvecs):
  """The dataset's PCA, written out in numpy (float64)."""
  x = np.asarray(features, np.float64) - mean[:, 0].astype(np.float64)
  x = x @ eigenvecs.T[:, :1024].astype(np.float64)
  return x / np.sqrt(eigenvals[:1024, 0].astype(np.float64) + 1e-4)


class _Vggish(tf.Module):

  @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
  def __call__(self, waveform):
    n = tf.shape(waveform)[0] // VGGISH_CHUNK
    chunks = tf.reshape(waveform[:n * VGGISH_CHUNK], [n, 128, 120])
    return tf.reduce_mean(tf.abs(chunks), axis=2) * VGGISH_SCALE - 1.0


def vggish_model(directory):
  """Saves the VGGish stand-in SavedModel into `directory`."""
  tf.saved_model.save(_Vggish(), str(directory))
  return str(directory)


def vggish_expected(windows):
  """Stand-in embeddings of windows [T, >=15360] (float64 [T, 128])."""
  w = np.asarray(windows, np.float64)[:, :VGGISH_CHUNK].reshape(-1, 128, 120)
  return np.abs(w).mean(axis=2) * VGGISH_SCALE - 1.0


def vggish_pca(path, seed=0):
  """Writes vggish_pca_params.npz; returns (eigen_vectors, means)."""
  rng = np.random.RandomState(seed)
  vectors = rng.normal(0, 0.15, [128, 128])
  means = rng.normal(0, 0.1, [128, 1])
  np.savez(str(path), pca_eigen_vectors=vectors, pca_means=means)
  return vectors, means
