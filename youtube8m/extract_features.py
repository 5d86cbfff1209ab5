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
(written under outputs.temp_path, then renamed); temporaries that killed runs
left in the output directory are removed at start.

This is the command line; the work is done by extraction_pipeline (decoding
thread, networks), feature_records (the records, the output files),
feature_networks and model_files (the models and where they come from).
"""

import csv

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.common import utils
from youtube8m.features import extract_config


def define_flags():
  settings.define_flags(extract_config.ExtractConfig)


def read_videos_csv(path):
  """[(video_file, sorted labels)] from the CSV; Yt8mError on a bad line."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
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


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(extract_config.ExtractConfig))
  # TensorFlow loads here, once the command line has passed every check.
  # pylint: disable=g-import-not-at-top
  from youtube8m.features import extraction_pipeline
  from youtube8m.features import feature_records
  from youtube8m.features import model_files
  videos = read_videos_csv(config.input_videos_csv)
  if not videos:
    raise utils.Yt8mError(f"{config.input_videos_csv}: no videos")
  from youtube8m.common import outputs
  shards = feature_records.shard_names(config.output_tfrecords_file,
                                       config.num_shards)
  outputs.check_distinct(
      {f"--output_tfrecords_file (shard {i})": path
       for i, path in enumerate(shards)},
      [("--input_videos_csv", [config.input_videos_csv]),
       ("a video of --input_videos_csv", [path for path, _ in videos])])
  extractor = extraction_pipeline.Extractor.from_model_dir(
      **model_files.options(config))
  print(f"{len(videos)} videos; "
        f"{extractor.describe_audio(config.insert_zero_audio_features)}",
        flush=True)
  keys = feature_records.Keys(config.video_file_feature_key,
                              config.labels_feature_key,
                              config.image_feature_key)
  summary = extraction_pipeline.extract(
      videos, extractor, config.output_tfrecords_file,
      frames_per_second=config.frames_per_second,
      max_frames=config.max_frames, num_shards=config.num_shards, keys=keys,
      zero_audio=config.insert_zero_audio_features,
      frame_level=not config.skip_frame_level_features,
      batch_size=config.batch_size,
      report=lambda line: print(line, flush=True))
  files = (summary.paths[0] if len(summary.paths) == 1 else
           f"{len(summary.paths)} files {summary.paths[0]} ...")
  rate = summary.frames / summary.seconds if summary.seconds else 0.0
  took = extraction_pipeline.format_seconds(summary.seconds)
  print(f"Successfully encoded {summary.written} out of {len(videos)} videos "
        f"({summary.frames} frames, {rate:.1f} frames/s, {took}) into "
        f"{files}", flush=True)
  if summary.zero_audio:
    print(f"{len(summary.zero_audio)} videos had no audio stream: their "
          "audio is zero bytes", flush=True)
  if summary.failed:
    for _, message in summary.failed:
      extraction_pipeline.log(f"  failed: {message}")
    raise utils.Yt8mError(
        f"{len(summary.failed)} of {len(videos)} videos could not be read "
        f"(listed above); the other {summary.written} were written")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
