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
import tempfile

from absl import flags

from youtube8m.benchmarks import extraction
from youtube8m.common import checks
from youtube8m.common import settings
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
      macs = extraction.standin_graph(os.path.join(
          model_dir, model_files.INCEPTION_GRAPH))
      extraction.standin_pca(model_dir)
      network = (f"a stand-in: Inception-v3 with random weights, "
                 f"{macs / 1e9:.2f} GMAC a frame")
    video = FLAGS.video
    if not video:
      video = os.path.join(temp, "clip.mp4")
      extraction.synthetic_video(video, FLAGS.video_seconds)
      what = f"synthetic {FLAGS.video_seconds} s 640x360 30 fps H.264 clip"
    else:
      what = video
    extractor = extraction_pipeline.Extractor.from_model_dir(model_dir,
                                                          download=False)
    batches = extraction.frames_of(video, FLAGS.batch_size)
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
          ("network", lambda: extraction.network_rate(extractor, batches,
                                                      FLAGS.copies)),
          ("decoding", lambda: extraction.decode_rate(video, FLAGS.copies)),
          ("pipeline", lambda t=trial: extraction.pipeline_rate(
              extractor, video, FLAGS.copies,
              os.path.join(temp, f"out{t}.tfrecord"), FLAGS.batch_size))):
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
