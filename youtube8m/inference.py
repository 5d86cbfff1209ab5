r"""Writes Kaggle predictions: `python inference.py --input_data_pattern=...`.

  python inference.py --train_dir=/tmp/yt8m_model/video_level_logistic \
      --input_data_pattern='/data/video/test*.tfrecord' \
      --output_file=/tmp/yt8m_model/video_level_logistic/predictions.csv

The model comes from --train_dir (latest checkpoint), --saved_model_dir (an
export) or --input_model_tgz (made by --output_model_tgz). With
--segment_labels it writes the 2019 `Class,Segments` file instead
(segment_inference). Flags are checked before TensorFlow is imported.
"""

import dataclasses

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.models import model_config
from youtube8m.prediction import inference_config

settings.define_flags(inference_config.SegmentInferenceConfig)
model_config.define_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  config = model_config.from_flags(inference_config.SegmentInferenceConfig)
  if config.output_file and not config.input_data_pattern:
    raise cli.UsageError("--input_data_pattern is required")
  # TensorFlow loads here, once the command line has passed every check.
  # pylint: disable=g-import-not-at-top
  if config.segment_labels:
    from youtube8m.prediction import segment_inference
    segment_inference.infer_segments(config)
  else:
    from youtube8m.prediction import inference_lib
    video_level = {f.name: getattr(config, f.name) for f in
                   dataclasses.fields(inference_config.InferenceConfig)}
    inference_lib.infer(inference_config.InferenceConfig(**video_level))


if __name__ == "__main__":
  cli.run(main)
