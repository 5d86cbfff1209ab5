r"""Labels video files with a trained model: its top classes, and over time.

  python -m youtube8m.label_video --train_dir=$MODEL_DIR \
      --model_dir=$HOME/yt8m cat.mp4 [dog.mkv ...] [--timeline_png=PNG]

The model: --train_dir (latest checkpoint + model_flags.json), or
--saved_model_dir (export_model.py's SavedModel), or --input_model_tgz.
The features: extract_features' pipeline, one frame a second, the first
--max_frames, with the model files of --model_dir (downloaded when missing;
VGGish optional: without it, audio is zeros). For each video it prints a
block: the --top_k classes with their names (--vocabulary_file) and, with a
frame-level model, the best --segment_classes classes of every 5-second
segment; --timeline_png draws the video's best --timeline_classes classes'
segment scores against time. A video that cannot be read is reported in one
line and the others are labelled; the exit status is then 1.
"""

import contextlib
import os
import sys

from absl import logging

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

# pylint: disable=g-import-not-at-top
from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.prediction import inference_config

settings.define_flags(inference_config.LabelConfig)
# The libraries below load TensorFlow: they are imported where they are used,
# after the command line has passed every check.


def _name(names, cls):
  return names.get(int(cls)) or f"class {int(cls)}"


def draw_timeline(path, labels, names, classes, model_name):
  from youtube8m.common import outputs
  from youtube8m.prediction import label_video_lib
  from youtube8m.prediction import timeline
  series = [timeline.Series(f"{_name(names, c)} ({c})", labels.scores[c],
                            labels.segment_scores[:, c]) for c in classes]
  title = f"{os.path.basename(labels.path)}: {model_name} scores over time"
  png = timeline.png(title, labels.segment_starts, series,
                     label_video_lib.SEGMENT_SECONDS,
                     end_seconds=labels.frames)  # 1 frame a second
  outputs.write_file(path, lambda f: f.write(png), mode="wb")


def block(labels, names, config, png=None):
  """The printed lines of one video."""
  from youtube8m.prediction import label_video_lib
  audio = "audio" if labels.audio else "zero audio"
  lines = [f"{labels.path}: {labels.frames} frames (1 a second), {audio}",
           f"  top {config.top_k} classes (score, class):"]
  for cls in label_video_lib.top_classes(labels.scores, config.top_k):
    lines.append(f"    {labels.scores[cls]:.3f}  {_name(names, cls)} ({cls})")
  if labels.segment_scores is not None and config.segment_classes:
    lines.append(f"  {label_video_lib.SEGMENT_SECONDS}-second segments (start"
                 f", best {config.segment_classes} classes):")
    for start, scores in zip(labels.segment_starts, labels.segment_scores):
      best = label_video_lib.top_classes(scores, config.segment_classes)
      items = " | ".join(f"{_name(names, c)} {scores[c]:.3f}" for c in best)
      lines.append(f"    {start // 60}:{start % 60:02d}  {items}")
  if png:
    lines.append(f"  timeline: {png}")
  return lines


def main(argv):
  videos = argv[1:]
  if not videos:
    raise cli.UsageError("no video: python -m youtube8m.label_video "
                         "--train_dir=DIR VIDEO [VIDEO ...]")
  if not settings.given("verbosity"):
    logging.set_verbosity(logging.WARNING)  # the blocks are the output
  config = settings.validate(settings.from_flags(
      inference_config.LabelConfig))
  if config.max_frames > inference_config.READER_FRAMES:
    raise cli.UsageError(f"--max_frames={config.max_frames}: the readers "
                         f"take at most {inference_config.READER_FRAMES}")
  from youtube8m.common import outputs
  from youtube8m.features import extraction_pipeline
  from youtube8m.features import model_files
  from youtube8m.prediction import label_video_lib
  from youtube8m.serving import predictors
  model = label_video_lib.VideoModel(config)
  model.check_features()
  predictors.check_top_k(config.top_k, model.num_classes)
  if config.timeline_png and not model.frame_level:
    raise cli.UsageError(
        f"--timeline_png needs a frame-level model; {model.flags['model']} "
        "reads video-level features (one score a video)")
  names = utils.load_vocabulary(config.vocabulary_file or None)
  extractor = extraction_pipeline.Extractor.from_model_dir(
      **model_files.options(config))
  level = "frame" if model.frame_level else "video"
  print(f"model: {model.flags['model']} ({level} level) from {model.source};"
        f" {extractor.describe_audio()}", flush=True)
  if model.reads_audio and not extractor.has_audio:
    print("note: the model reads audio, which is zeros here: its predictions "
          "suffer (see docs/own_videos.md, 'Without an audio model')",
          flush=True)
  pngs = label_video_lib.timeline_paths(config.timeline_png, videos) if (
      config.timeline_png) else None
  if pngs:  # a PNG must never overwrite a video being labelled
    outputs.check_distinct(
        {f"--timeline_png (for {video})": png
         for video, png in zip(videos, pngs)},
        [("a video to label", videos)])
  classes = min(config.timeline_classes, model.num_classes)
  failed = []
  with contextlib.closing(extraction_pipeline.video_features(
      [(video, []) for video in videos], extractor, 1.0, config.max_frames,
      config.batch_size)) as results:
    for features in results:
      if features.error:
        failed.append(features.error)
        print(f"skipped {features.error}", file=sys.stderr, flush=True)
        continue
      labels = label_video_lib.label(model, extractor, features)
      png = pngs[features.index] if pngs else None
      if png:
        draw_timeline(png, labels, names, label_video_lib.top_classes(
            labels.scores, classes), model.flags["model"])
      print("\n".join(block(labels, names, config, png)), flush=True)
  if failed:
    raise utils.Yt8mError(
        f"{len(failed)} of {len(videos)} videos could not be read (listed "
        "above)" + (f"; the other {len(videos) - len(failed)} were labelled"
                    if len(failed) < len(videos) else ""))


if __name__ == "__main__":
  cli.run(main)
