r"""Turns batch-prediction JSON lines into the Kaggle CSV.

  python convert_prediction_from_json_to_csv.py \
      --json_prediction_files_pattern='gs://bucket/prediction.results-*' \
      --csv_output_file=predictions.csv

Each line is an object with `video_id`, `class_indexes` and `predictions`
(the exported model's serving outputs), or Vertex AI's wrapper
`{"instance": ..., "prediction": {...}}` around one. As in inference.py,
a video id a CSV cannot hold (comma, quote, newline or other control
character) and a NaN or infinite score are errors naming the file and line,
and the CSV appears whole or not at all.
"""

import dataclasses
import json

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

# pylint: disable=g-import-not-at-top
from youtube8m.common import cli
from youtube8m.common import settings
from youtube8m.common import utils
# The libraries that load TensorFlow are imported where they are used, after
# the command line has passed every check.


@dataclasses.dataclass
class ConvertConfig:
  """The settings of convert_prediction_from_json_to_csv."""
  json_prediction_files_pattern: str = settings.setting(
      "", "Glob of batch-prediction JSON-lines files.", required=True)
  csv_output_file: str = settings.setting(
      "", "Where the Kaggle CSV goes.", required=True)


settings.define_flags(ConvertConfig)


def _lines(path):
  """(line number, text) of one file; a file that is not UTF-8 is an error."""
  import tensorflow as tf
  with tf.io.gfile.GFile(path, "rb") as f:
    for number, line in enumerate(f, 1):
      try:
        yield number, line.decode("utf-8")
      except UnicodeDecodeError as e:
        raise utils.Yt8mError(f"{path}:{number}: not UTF-8 text ({e})") from e


def _rows(path):
  """(video_id, classes, scores) per line of one JSON-lines file."""
  from youtube8m.data import submissions
  for number, line in _lines(path):
    if not line.strip():
      continue
    where = f"{path}:{number}"
    try:
      item = json.loads(line)
      item = item.get("prediction", item)
      video_id = item["video_id"]
      if not isinstance(video_id, str):
        raise TypeError(f"video_id {video_id!r} is not a string")
      scores = [float(s) for s in item["predictions"]]
      classes = [int(c) for c in item["class_indexes"]]
      if len(scores) != len(classes):
        raise ValueError(f"{len(classes)} class_indexes but {len(scores)} "
                         "predictions")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise utils.Yt8mError(
          f"{where}: not a prediction line with video_id, class_indexes "
          f"and predictions ({type(e).__name__}: {e})") from e
    video_id = submissions.csv_video_id(video_id, where)
    submissions.check_scores(video_id, scores, where)
    pairs = sorted(zip(classes, scores), key=lambda pair: -pair[1])
    yield video_id, [c for c, _ in pairs], [s for _, s in pairs]


def convert(pattern, output_file):
  """Writes the CSV atomically; returns the number of videos."""
  from youtube8m.data import submissions
  from youtube8m.data import tfrecords
  from youtube8m.common import outputs
  from youtube8m.prediction import inference_lib
  files = tfrecords.list_files(pattern, "--json_prediction_files_pattern")
  outputs.check_distinct({"--csv_output_file": output_file},
                         [("--json_prediction_files_pattern", files)])

  def write(f):
    f.write(submissions.CSV_HEADER)
    count = 0
    for path in files:
      for video_id, classes, scores in _rows(path):
        f.write(submissions.format_row(video_id, classes, scores))
        count += 1
    if not count:
      raise utils.Yt8mError(f"--json_prediction_files_pattern={pattern}: no "
                            "prediction line in the files; no CSV written")
    return count
  return inference_lib.write_output(output_file, "--csv_output_file", write)


def main(argv):
  cli.check_no_positional_args(argv)
  config = settings.validate(settings.from_flags(ConvertConfig))
  count = convert(config.json_prediction_files_pattern,
                  config.csv_output_file)
  print(f"wrote {count} videos to {config.csv_output_file}")


if __name__ == "__main__":
  cli.run(main)
