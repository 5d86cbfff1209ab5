r"""Writes Kaggle predictions: `python inference.py --input_data_pattern=...`.

  python inference.py --train_dir=/tmp/yt8m_model/video_level_logistic \
      --input_data_pattern='/data/video/test*.tfrecord' \
      --output_file=/tmp/yt8m_model/video_level_logistic/predictions.csv

The model comes from --train_dir (latest checkpoint), --saved_model_dir (an
export) or --input_model_tgz (made by --output_model_tgz). With
--segment_labels it writes the 2019 `Class,Segments` file instead
(segment_inference).
"""

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib
from youtube8m.prediction import segment_inference

FLAGS = flags.FLAGS
settings.define_flags(segment_inference.SegmentInferenceConfig)
flags.DEFINE_bool("segment_labels", False,
                  "2019 task: cut frame-level videos into 5-second segments "
                  "and write Class,Segments rows (a frame-level checkpoint).")
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  if FLAGS.output_file and not FLAGS.input_data_pattern:
    raise cli.UsageError("--input_data_pattern is required")
  values, explicit = model_config.flags_given()
  if FLAGS.segment_labels:
    segment_inference.infer_segments(settings.from_flags(
        segment_inference.SegmentInferenceConfig, model_flags=values,
        explicit_flags=frozenset(explicit)))
  else:
    inference_lib.infer(settings.from_flags(
        inference_lib.InferenceConfig, model_flags=values,
        explicit_flags=frozenset(explicit)))


if __name__ == "__main__":
  cli.run(main)
