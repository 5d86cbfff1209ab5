r"""Writes a small synthetic dataset in exactly the YouTube-8M layout.

  python -m youtube8m.make_dataset --output_dir=/tmp/yt8m_data

writes
  video/{train,validate,test}NNNN.tfrecord   tf.train.Example (video level)
  frame/{train,validate,test}NNNN.tfrecord   tf.train.SequenceExample (frames)
  train_labels.csv, validate_labels.csv      VIDEO_ID,LABEL1 LABEL2 ...
  segment/{validate,test}NNNN.tfrecord       2019 segment-rated frame records
                                             (--segments; see segment_data)
Test records have empty label lists, as in the real test split. How the
videos are made: synthetic.py. `--hidden_classes=N` makes classes 0..N-1
invisible to frame averaging (their evidence cancels in the mean over
frames but is plain in each frame): data on which learnable pooling can
beat averaging (docs/models.md). `--order_classes=M` makes the next M
classes visible only in the order of two patterns (decoy videos show them
reversed): data on which models that read frames in order beat every bag
of frames (docs/models.md). The same --seed writes byte-identical files,
whatever the process.
"""

import dataclasses

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import checks
from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.common import utils


@dataclasses.dataclass
class MakeDatasetConfig:
  """Every make_dataset setting (generate()'s arguments)."""
  output_dir: str = settings.setting("", "Where to write the dataset.",
                                     required=True)
  num_train: int = settings.setting(2000, "Training videos.",
                                    check=checks.non_negative_int)
  num_validate: int = settings.setting(500, "Validation videos.",
                                       check=checks.non_negative_int)
  num_test: int = settings.setting(
      500, "Test videos (written without labels).",
      check=checks.non_negative_int)
  shards: int = settings.setting(4, "TFRecord files per split and level.",
                                 check=checks.positive_int)
  num_classes: int = settings.setting(
      3862, "Label ids are kept below this.", check=checks.positive_int)
  id_key: str = settings.setting(
      "id", "Record key of the video id: 'id' (2018+) or 'video_id' (2017).",
      check=checks.choice(("id", "video_id")))
  min_frames: int = settings.setting(
      20, "Fewest frames (seconds) per video.", check=checks.positive_int)
  max_frames: int = settings.setting(
      60, "Most frames (seconds) per video.", check=checks.positive_int)
  seed: int = settings.setting(
      0, "Random seed; the same seed writes the same files.")
  video_level: bool = settings.setting(True, "Write video-level records.")
  frame_level: bool = settings.setting(True, "Write frame-level records.")
  signal: float = settings.setting(
      0.2, "Scale of the class prototypes (higher is easier to learn).",
      check=checks.finite)
  segments: bool = settings.setting(
      True, "Also write the 2019 segment-rated frame records under segment/ "
      "(validate with ratings, test without).")
  num_segment_validate: int = settings.setting(
      300, "Segment-rated validate videos (--segments).",
      check=checks.non_negative_int)
  num_segment_test: int = settings.setting(
      300, "Segment test videos, unrated (--segments).",
      check=checks.non_negative_int)
  hidden_classes: int = settings.setting(
      0, "Classes 0..N-1 (the most frequent) whose evidence cancels in the "
      "mean over frames but is plain in each frame: invisible to frame "
      "averaging and to mean_rgb/mean_audio. Segment records ignore it.",
      check=checks.non_negative_int)
  order_classes: int = settings.setting(
      0, "The next N classes (after the hidden ones) whose evidence is only "
      "the order of two patterns, first half then second half; decoy videos "
      "show them reversed. Invisible to any bag of frames. Segment records "
      "ignore it.", check=checks.non_negative_int)


def generate(output_dir, num_train=2000, num_validate=500, num_test=500,
             shards=4, num_classes=3862, id_key="id", min_frames=20,
             max_frames=60, seed=0, video_level=True, frame_level=True,
             signal=0.2, segments=False, num_segment_validate=300,
             num_segment_test=300, hidden_classes=0, order_classes=0):
  """Writes the whole dataset; returns {split: {video_id: labels}}.

  With `segments`, also the 2019 segment splits (youtube8m.data.segment_data),
  returned as {"segment_validate"/"segment_test": {video_id: ratings}}.
  """
  if id_key not in ("id", "video_id"):
    raise utils.Yt8mError(f"--id_key must be 'id' or 'video_id', not {id_key!r}")
  if not 1 <= min_frames <= max_frames:
    raise utils.Yt8mError("--min_frames and --max_frames need "
                          f"1 <= min <= max, got {min_frames}, {max_frames}")
  # pylint: disable=g-import-not-at-top
  from youtube8m.data import segment_data  # TensorFlow loads here
  from youtube8m.data import synthetic
  gen = synthetic.Generator(num_classes, seed, signal,
                            hidden_classes=hidden_classes,
                            order_classes=order_classes)
  frame_range = (min_frames, max_frames)
  result = synthetic.generate_videos(
      gen, output_dir, num_train, num_validate, num_test, shards, id_key,
      frame_range, video_level, frame_level)
  if segments:
    result.update(segment_data.generate_segments(
        gen, output_dir, num_segment_validate, num_segment_test, shards,
        num_classes, id_key, frame_range, seed,
        taken_ids=[v for split in result.values() for v in split]))
  return result


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(MakeDatasetConfig))
  counts = generate(**dataclasses.asdict(config))
  print(f"wrote {', '.join(f'{len(v)} {k}' for k, v in counts.items())} "
        f"videos to {config.output_dir}")


def define_flags():
  """The generator's flags (not defined on import: tests and other tools
  import generate() next to scripts whose flags share these names)."""
  settings.define_flags(MakeDatasetConfig)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
