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

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

import tensorflow as tf  # pylint: disable=g-import-not-at-top

from youtube8m.common import cli
from youtube8m.common import utils
from youtube8m.features import extraction_pipeline
from youtube8m.features import feature_records
from youtube8m.features import model_files


def define_flags():
  """The original extractor's flags (same defaults), then ours."""
  flags.DEFINE_string("output_tfrecords_file", None,
                      "The TFRecord file written (with --num_shards > 1, "
                      "the prefix of PATH-00000-of-0000N).")
  flags.DEFINE_string("input_videos_csv", None,
                      "CSV file of lines \"<video_file>,<labels>\", labels "
                      "being integers joined with \";\".")
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
  flags.DEFINE_integer("num_shards", 1,
                       "Split the output into this many files "
                       "PATH-00000-of-0000N, consecutive CSV rows each; each "
                       "appears when its videos are done.")
  flags.DEFINE_integer("batch_size", 32,
                       "Frames per Inception batch.")
  model_files.define_flags()


def read_videos_csv(path):
  """[(video_file, sorted labels)] from the CSV; Yt8mError on a bad line."""
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
  extractor = extraction_pipeline.Extractor.from_model_dir(
      **model_files.options_from_flags(FLAGS))
  print(f"{len(videos)} videos; "
        f"{extractor.describe_audio(FLAGS.insert_zero_audio_features)}",
        flush=True)
  keys = feature_records.Keys(FLAGS.video_file_feature_key,
                              FLAGS.labels_feature_key,
                              FLAGS.image_feature_key)
  summary = extraction_pipeline.extract(
      videos, extractor, FLAGS.output_tfrecords_file, FLAGS.frames_per_second,
      FLAGS.max_frames, FLAGS.num_shards, keys,
      FLAGS.insert_zero_audio_features,
      not FLAGS.skip_frame_level_features, FLAGS.batch_size,
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
