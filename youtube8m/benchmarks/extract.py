r"""Feature extraction throughput against the bare network on the same frames.

  python -m youtube8m.benchmark extract [--model_dir=DIR] [--video=FILE]

pipeline  extraction_pipeline.extract on --copies copies of the video, as the
          command runs it: decoding (PyAV, in its own thread), the network,
          PCA, quantization and TFRecord writing; frames/s = frames written
          / wall time.
network   the network alone on the same decoded frames, in memory, in the
          same batches: no pipeline can extract frames faster.
decoding  the decoder alone (the pipeline's settings), for the CPU ceiling:
          where the network alone keeps every core busy, the pipeline
          reaches at most network / (network + decoding) CPU ms a frame.
Trials alternate between them and the best of --trials counts; CPU time a
frame (all threads) is shown beside, steadier on a shared machine, and the
ratio of the CPU times too (equal to the frames/s ratio when both keep every
core busy; other processes on the machine skew frames/s, not CPU times).

The network is the real Inception graph when --model_dir holds
classify_image_graph_def.pb (and mean.npy, eigenvals.npy, eigenvecs.npy);
otherwise a stand-in with the real graph's interface (DecodeJpeg:0 -> Cast,
ExpandDims, ResizeBilinear to 299x299 -> pool_3/_reshape:0) around Keras'
Inception-v3 with random weights, frozen into constants: the real graph's
architecture, so its cost (5.71 GMAC a frame at 299x299, counted over its
convolutions and printed), and random PCA files. The video is --video, or a
synthetic 640x360 30 fps H.264 clip of --video_seconds with moving texture.
Audio is left out (no VGGish). The last line is one JSON object.
"""

import dataclasses
import json
import os
import resource
import tempfile
import time

from absl import flags
import numpy as np

from youtube8m.common import checks
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.features import extraction_pipeline
from youtube8m.features import model_files

@dataclasses.dataclass
class ExtractBenchmarkConfig:
  """Settings of the extraction benchmark."""
  model_dir: str = settings.setting(
      "", "Directory holding the real model files; default: a stand-in "
      "network of similar cost.")
  video: str = settings.setting(
      "", "Video to extract; default: a synthetic 640x360 30 fps H.264 "
      "clip.")
  video_seconds: int = settings.setting(
      30, "Length of the synthetic clip.", check=checks.positive_int)
  copies: int = settings.setting(
      2, "Videos (copies of the clip) a trial.", check=checks.positive_int)
  trials: int = settings.setting(
      3, "Timed trials of each (best counts).", check=checks.positive_int)
  batch_size: int = settings.setting(
      32, "Frames per network batch.", check=checks.positive_int)


settings.define_flags(ExtractBenchmarkConfig)
FLAGS = flags.FLAGS

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


def _frames_of(path, batch_size):
  from youtube8m.features import video_frames  # pylint: disable=import-outside-toplevel
  decoder = video_frames.VideoDecoder(
      path, audio=False, batch_frames=batch_size,
      thread_type=extraction_pipeline.decoder_threading())
  return list(decoder.batches())


def _cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def network_rate(extractor, batches, copies):
  """(frames/s, CPU ms/frame) of the network alone on in-memory frames."""
  start, cpu = time.perf_counter(), _cpu_seconds()
  frames = 0
  for _ in range(copies):
    for batch in batches:
      extractor.inception(batch)
      frames += len(batch)
  return (frames / (time.perf_counter() - start),
          (_cpu_seconds() - cpu) / frames * 1e3)


def decode_rate(video, copies):
  """(frames/s, CPU ms/frame) of the decoder alone, as the pipeline runs it."""
  start, cpu = time.perf_counter(), _cpu_seconds()
  frames = sum(len(batch) for _ in range(copies)
               for batch in _frames_of(video,
                                       extraction_pipeline.CHUNK_FRAMES))
  return (frames / (time.perf_counter() - start),
          (_cpu_seconds() - cpu) / frames * 1e3)


def pipeline_rate(extractor, video, copies, output):
  """(frames/s, CPU ms/frame) of extraction_pipeline.extract."""
  cpu = _cpu_seconds()
  summary = extraction_pipeline.extract(
      [(video, [])] * copies, extractor, output,
      batch_size=FLAGS.batch_size, report=lambda line: None)
  if summary.failed:
    raise utils.Yt8mError(f"{video}: {summary.failed[0][1]}")
  return (summary.frames / summary.seconds,
          (_cpu_seconds() - cpu) / summary.frames * 1e3)


def main(argv):
  del argv
  settings.validate(settings.from_flags(ExtractBenchmarkConfig))
  with tempfile.TemporaryDirectory() as temp:
    real = bool(FLAGS.model_dir) and os.path.exists(
        os.path.join(FLAGS.model_dir, model_files.INCEPTION_GRAPH))
    if real:
      model_dir, network = FLAGS.model_dir, "the real Inception-v3 graph"
    else:
      model_dir = os.path.join(temp, "models")
      os.makedirs(model_dir)
      macs = standin_graph(os.path.join(model_dir,
                                        model_files.INCEPTION_GRAPH))
      standin_pca(model_dir)
      network = (f"a stand-in: Inception-v3 with random weights, "
                 f"{macs / 1e9:.2f} GMAC a frame")
    video = FLAGS.video
    if not video:
      video = os.path.join(temp, "clip.mp4")
      synthetic_video(video, FLAGS.video_seconds)
      what = f"synthetic {FLAGS.video_seconds} s 640x360 30 fps H.264 clip"
    else:
      what = video
    extractor = extraction_pipeline.Extractor.from_model_dir(model_dir,
                                                          download=False)
    batches = _frames_of(video, FLAGS.batch_size)
    frames = sum(len(b) for b in batches)
    mode = ("batched" if extractor.inception.batched
            else "one frame at a time")
    print(f"{network} ({mode}); video: {what}, {frames} frames at 1 fps; "
          f"{FLAGS.copies} copies a trial, {FLAGS.trials} trials")
    extractor.inception(batches[0])  # warm up
    rates = {"pipeline": [], "network": [], "decoding": []}
    cpu = {"pipeline": [], "network": [], "decoding": []}
    for trial in range(FLAGS.trials):
      for name, measure in (
          ("network", lambda: network_rate(extractor, batches, FLAGS.copies)),
          ("decoding", lambda: decode_rate(video, FLAGS.copies)),
          ("pipeline", lambda t=trial: pipeline_rate(
              extractor, video, FLAGS.copies,
              os.path.join(temp, f"out{t}.tfrecord")))):
        rate, millis = measure()
        rates[name].append(rate)
        cpu[name].append(millis)
  best = {name: max(r) for name, r in rates.items()}
  for name, r in rates.items():
    print(f"{name:>9}: {best[name]:7.2f} frames/s, {min(cpu[name]):6.1f} CPU "
          f"ms/frame  (trials: {', '.join(f'{x:.2f}' for x in r)})")
  ratio = best["pipeline"] / best["network"]
  network_ms, decode_ms = min(cpu["network"]), min(cpu["decoding"])
  cpu_ratio = network_ms / min(cpu["pipeline"])
  ceiling = network_ms / (network_ms + decode_ms)
  print(f"pipeline / network = {ratio:.0%} (frames/s); {cpu_ratio:.0%} in CPU "
        "ms a frame, the same where both keep every core busy, and steadier "
        "on a shared machine")
  print(f"CPU ceiling: network / (network + decoding) = {ceiling:.0%}")
  print(json.dumps({"pipeline_frames_per_s": round(best["pipeline"], 2),
                    "network_frames_per_s": round(best["network"], 2),
                    "ratio": round(ratio, 3),
                    "cpu_ratio": round(cpu_ratio, 3),
                    "pipeline_cpu_ms_per_frame": round(min(cpu["pipeline"]),
                                                       1),
                    "network_cpu_ms_per_frame": round(network_ms, 1),
                    "decoding_cpu_ms_per_frame": round(decode_ms, 1),
                    "cpu_ceiling": round(ceiling, 3),
                    "real_graph": real}))


if __name__ == "__main__":
  from youtube8m.common import cli  # pylint: disable=g-import-not-at-top
  cli.run(main)
