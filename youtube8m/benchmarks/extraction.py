"""Feature extraction timed by the benchmarks: a stand-in network of the
real one's cost, a synthetic video, and the rates of the network, the
decoder and the whole pipeline. No flags: the extract benchmark and the
suite share them (extract.py describes the measurement).
"""

import os
import resource
import time

import numpy as np

from youtube8m.common import utils
from youtube8m.features import extraction_pipeline


def _frozen_inception_v3(size):
  """(GraphDef, input name, output name) of Keras' Inception-v3, frozen.

  The architecture of the real graph (Inception-v3, the 2048 average-pooled
  features), with random weights: the same convolutions, hence the same
  multiply-adds, as the 2015 graph.
  """
  import keras  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  # No public API freezes a tf.function's variables into constants.
  from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-direct-tensorflow-import,import-outside-toplevel
  keras.utils.set_random_seed(0)
  model = keras.applications.InceptionV3(weights=None, include_top=False,
                                         pooling="avg",
                                         input_shape=(size, size, 3))
  macs = 0
  for layer in model.layers:
    if isinstance(layer, keras.layers.Conv2D):
      kernel, out = layer.kernel.shape, layer.output.shape
      macs += out[1] * out[2] * kernel[0] * kernel[1] * kernel[2] * kernel[3]
  function = tf.function(lambda x: model(x, training=False))
  function = function.get_concrete_function(
      tf.TensorSpec([None, size, size, 3], tf.float32))
  frozen = convert_to_constants.convert_variables_to_constants_v2(function)
  return (frozen.graph.as_graph_def(), frozen.inputs[0].name,
          frozen.outputs[0].name, macs)


def standin_graph(path, size=299):
  """Writes a GraphDef with the real graph's interface and network.

  DecodeJpeg:0 (uint8 [H, W, 3]) -> Cast, ExpandDims, ResizeBilinear to
  size x size, (x - 128) / 128 -> Inception-v3 -> pool_3 [B, 1, 1, 2048]
  -> pool_3/_reshape [1, 2048], as in classify_image_graph_def.pb.
  Returns the network's multiply-adds a frame (its convolutions).
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  network, input_name, output_name, macs = _frozen_inception_v3(size)
  graph = tf.Graph()
  with graph.as_default():
    frame = tf.compat.v1.placeholder(tf.uint8, [None, None, 3],
                                     name="DecodeJpeg")
    x = tf.expand_dims(tf.cast(frame, tf.float32, name="Cast"), 0,
                       name="ExpandDims")
    x = tf.compat.v1.image.resize_bilinear(x, [size, size],
                                           name="ResizeBilinear")
    x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1 / 128.0, name="Mul")
    (pooled,) = tf.graph_util.import_graph_def(
        network, input_map={input_name: x}, return_elements=[output_name],
        name="inception_v3")
    pooled = tf.reshape(pooled, [-1, 1, 1, 2048], name="pool_3")
    tf.reshape(pooled, [1, 2048], name="pool_3/_reshape")
  with open(path, "wb") as f:
    f.write(graph.as_graph_def().SerializeToString())
  return macs


def standin_pca(model_dir, seed=0):
  rng = np.random.RandomState(seed)
  np.save(os.path.join(model_dir, "mean.npy"),
          rng.normal(0, 0.1, [2048, 1]).astype(np.float32))
  np.save(os.path.join(model_dir, "eigenvals.npy"),
          rng.uniform(0.5, 2, [2048, 1]).astype(np.float32))
  np.save(os.path.join(model_dir, "eigenvecs.npy"),
          (rng.normal(0, 1, [2048, 2048]) / 45).astype(np.float32))


def synthetic_video(path, seconds, fps=30, width=640, height=360):
  """An H.264 clip of a drifting random texture (realistic decoding work)."""
  import av  # pylint: disable=import-outside-toplevel
  rng = np.random.RandomState(0)
  texture = rng.randint(0, 256, [height + 64, width + 64, 3]).astype(np.uint8)
  # Smooth the noise a little so the encoder finds motion, as in real video.
  texture = ((texture.astype(np.uint16) + np.roll(texture, 1, 0) +
              np.roll(texture, 1, 1) + np.roll(texture, 1, (0, 1))) // 4
             ).astype(np.uint8)
  container = av.open(path, "w")
  stream = container.add_stream("libx264", rate=fps)
  stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
  stream.options = {"preset": "veryfast"}
  for i in range(seconds * fps):
    dy, dx = (i // 2) % 64, i % 64
    frame = av.VideoFrame.from_ndarray(
        np.ascontiguousarray(texture[dy:dy + height, dx:dx + width]),
        format="rgb24")
    frame.pts = i
    for packet in stream.encode(frame):
      container.mux(packet)
  for packet in stream.encode():
    container.mux(packet)
  container.close()


def frames_of(path, batch_size):
  from youtube8m.features import video_frames  # pylint: disable=import-outside-toplevel
  decoder = video_frames.VideoDecoder(
      path, audio=False, batch_frames=batch_size,
      thread_type=extraction_pipeline.decoder_threading())
  return list(decoder.batches())


def cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def network_rate(extractor, batches, copies):
  """(frames/s, CPU ms/frame) of the network alone on in-memory frames."""
  start, cpu = time.perf_counter(), cpu_seconds()
  frames = 0
  for _ in range(copies):
    for batch in batches:
      extractor.inception(batch)
      frames += len(batch)
  return (frames / (time.perf_counter() - start),
          (cpu_seconds() - cpu) / frames * 1e3)


def decode_rate(video, copies):
  """(frames/s, CPU ms/frame) of the decoder alone, as the pipeline runs it."""
  start, cpu = time.perf_counter(), cpu_seconds()
  frames = sum(len(batch) for _ in range(copies)
               for batch in frames_of(video,
                                       extraction_pipeline.CHUNK_FRAMES))
  return (frames / (time.perf_counter() - start),
          (cpu_seconds() - cpu) / frames * 1e3)


def pipeline_rate(extractor, video, copies, output, batch_size):
  """(frames/s, CPU ms/frame) of extraction_pipeline.extract."""
  cpu = cpu_seconds()
  summary = extraction_pipeline.extract(
      [(video, [])] * copies, extractor, output,
      batch_size=batch_size, report=lambda line: None)
  if summary.failed:
    raise utils.Yt8mError(f"{video}: {summary.failed[0][1]}")
  return (summary.frames / summary.seconds,
          (cpu_seconds() - cpu) / summary.frames * 1e3)
