r"""Benchmarks that print figures beside the baseline they beat, in one run.

  python -m youtube8m.benchmark reader --data_pattern=GLOB [--frame_features]
  python -m youtube8m.benchmark metrics
  python -m youtube8m.benchmark train_step --model=LogisticModel
  python -m youtube8m.benchmark train_memory --model=TransformerModel --batch_size=128
  python -m youtube8m.benchmark extract [--model_dir=DIR] [--video=FILE]

Each prints readable lines and, as its last line, one JSON object.
"""

import importlib
import sys

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli

BENCHMARKS = ("reader", "metrics", "train_step", "train_memory", "extract")


def main():
  if len(sys.argv) < 2 or sys.argv[1] not in BENCHMARKS:
    print(f"usage: python -m youtube8m.benchmark {{{','.join(BENCHMARKS)}}} "
          "[--flags]", file=sys.stderr)
    sys.exit(2)
  name = sys.argv.pop(1)
  # Importing the module defines its flags; absl then parses the rest.
  module = importlib.import_module(f"youtube8m.benchmarks.{name}")
  cli.run(module.main)


if __name__ == "__main__":
  main()
