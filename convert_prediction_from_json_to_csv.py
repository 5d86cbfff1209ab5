"""Batch-prediction JSON lines to the Kaggle CSV; see the package module.

  python convert_prediction_from_json_to_csv.py \
      --json_prediction_files_pattern='results-*' --csv_output_file=out.csv
"""

from absl import flags

from youtube8m import convert_prediction_from_json_to_csv as convert
from youtube8m.common import cli

# --help lists the flags of the package module, not only --helpfull.
flags.adopt_module_key_flags(convert)

if __name__ == "__main__":
  cli.run(convert.main)
