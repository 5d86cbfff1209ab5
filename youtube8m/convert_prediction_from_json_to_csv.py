r"""Turns batch-prediction JSON lines into the Kaggle CSV.

  python convert_prediction_from_json_to_csv.py \
      --json_prediction_files_pattern='gs://bucket/prediction.results-*' \
      --csv_output_file=predictions.csv

Each line is an object with `video_id`, `class_indexes` and `predictions`
(the exported model's serving outputs), or Vertex AI's wrapper
`{"instance": ..., "prediction": {...}}` around one.
"""

import json

from absl import flags
import tensorflow as tf

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m import console  # pylint: disable=g-bad-import-order
console.quiet()

from youtube8m import cli
from youtube8m import inference_lib
from youtube8m import outputs
from youtube8m import tfrecords
from youtube8m import utils

FLAGS = flags.FLAGS
flags.DEFINE_string("json_prediction_files_pattern", None,
                    "Glob of batch-prediction JSON-lines files.")
flags.DEFINE_string("csv_output_file", None, "Where the Kaggle CSV goes.")


def _rows(path):
  """(video_id, classes, scores) per line of one JSON-lines file."""
  with tf.io.gfile.GFile(path, "r") as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        item = json.loads(line)
        item = item.get("prediction", item)
        video_id = item["video_id"]
        pairs = sorted(zip(item["class_indexes"], item["predictions"]),
                       key=lambda pair: -pair[1])
      except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise utils.Yt8mError(
            f"{path}:{number}: not a prediction line with video_id, "
            f"class_indexes and predictions ({type(e).__name__}: {e})") from e
      yield (video_id, [int(c) for c, _ in pairs],
             [float(s) for _, s in pairs])


def convert(pattern, output_file):
  """Writes the CSV atomically; returns the number of videos."""
  files = tfrecords.list_files(pattern, "--json_prediction_files_pattern")

  def write(f):
    f.write(inference_lib.CSV_HEADER)
    count = 0
    for path in files:
      for video_id, classes, scores in _rows(path):
        f.write(inference_lib.format_row(video_id, classes, scores))
        count += 1
    return count
  return outputs.write_file(output_file, write)


def main(argv):
  cli.check_no_positional_args(argv)
  if not FLAGS.json_prediction_files_pattern or not FLAGS.csv_output_file:
    raise cli.UsageError("--json_prediction_files_pattern and "
                         "--csv_output_file are required")
  count = convert(FLAGS.json_prediction_files_pattern, FLAGS.csv_output_file)
  print(f"wrote {count} videos to {FLAGS.csv_output_file}")


if __name__ == "__main__":
  cli.run(main)
