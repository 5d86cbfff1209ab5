r"""MediaPipe's YouTube-8M features -> the dataset's frame-level records.

  python -m youtube8m.convert_mediapipe --input='/tmp/mediapipe/*.pb' \
      --output=out.tfrecord

MediaPipe's feature extraction graph (mediapipe/graphs/youtube8m/
feature_extraction.pbtxt) writes one serialized SequenceExample a video
(features.pb) holding, in MediaSequence keys,
  RGB/feature/floats       feature list, 1024 floats a frame (Inception-v3
                           pool_3 after the YouTube-8M PCA), 1 frame a second
  RGB/feature/timestamp    feature list, int64 microseconds a frame
  AUDIO/feature/floats     feature list, 128 floats a frame (VGGish after
                           AudioSet's PCA), 0.96 s windows, 1 s hop
  AUDIO/feature/timestamp  feature list, int64 microseconds a frame
and the metadata it was given (clip/data_path, clip/label/index, ...).
The floats are not quantized. --input takes such files, or TFRecord files of
such SequenceExamples, or both (comma-separated globs).

Each input SequenceExample becomes one record laid out as
youtube8m.extract_features writes them (feature_records.video_record):
context `id`, `labels` (sorted), `mean_rgb` and `mean_audio` (means of the
floats), feature lists `rgb`
(utils.quantize: clip to [-2, 2], round) and `audio` (AudioSet's
quantization: clip, truncate). Frames are put in timestamp order, the first
--max_frames kept; audio frames are paired with rgb frames in order, extra
audio frames at the end dropped and missing ones padded with zero bytes.
The work is done by features/mediapipe_records.py. The output is written
under `outputs.temp_path` and renamed at the end, so it
appears whole or not at all; temporaries of killed runs in its directory are
removed first.
"""

import dataclasses

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import checks
from youtube8m.common import cli
from youtube8m.common import settings

# Context keys tried in order for the video id (MediaSequence keys), and the
# labels' (mediapipe_records uses the same).
ID_KEYS = ("example/id", "clip/media_id", "clip/data_path")
LABELS_KEY = "clip/label/index"


@dataclasses.dataclass
class ConvertConfig:
  """Every convert_mediapipe setting."""
  input: str = settings.setting(
      "", "MediaPipe output: files of one serialized SequenceExample "
      "(features.pb) or TFRecords of them; comma-separated globs, local or "
      "gs://.", required=True)
  output: str = settings.setting("", "The TFRecord file written.",
                                 required=True)
  id_feature: str = settings.setting(
      "", "Context key of the video id. Default: the first of "
      f"{', '.join(ID_KEYS)} present.")
  labels_feature: str = settings.setting(
      LABELS_KEY, "Context int64 key of the labels (absent: no labels).")
  max_frames: int = settings.setting(
      300, "Keep at most this many frames.", check=checks.positive_int)
  allow_missing_audio: bool = settings.setting(
      False, "Write zero audio bytes for records without "
      "AUDIO/feature/floats instead of failing.")


def define_flags():
  settings.define_flags(ConvertConfig)


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(ConvertConfig))
  # TensorFlow loads here, once the command line has passed every check.
  # pylint: disable=g-import-not-at-top
  from youtube8m.data import tfrecords
  from youtube8m.features import mediapipe_records
  files = tfrecords.list_files(config.input, "--input")
  count = mediapipe_records.convert_files(
      files, config.output, id_feature=config.id_feature,
      labels_feature=config.labels_feature, max_frames=config.max_frames,
      allow_missing_audio=config.allow_missing_audio)
  print(f"converted {count} videos from {len(files)} files into "
        f"{config.output}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
