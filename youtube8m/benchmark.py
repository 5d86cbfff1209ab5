r"""Benchmarks that print figures beside the baseline they beat, in one run.

  python -m youtube8m.benchmark reader --data_pattern=GLOB [--frame_features]
  python -m youtube8m.benchmark metrics
  python -m youtube8m.benchmark train_step --model=LogisticModel
  python -m youtube8m.benchmark train_memory --model=TransformerModel --batch_size=128
  python -m youtube8m.benchmark extract [--model_dir=DIR] [--video=FILE]
  python -m youtube8m.benchmark suite --output=results.json [--budget_minutes=7]

Each prints readable lines and, as its last line, one JSON object; the suite
runs all that fit a time budget and writes its figures to one JSON file.
"""

import importlib
import sys

from absl import flags

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import checks
from youtube8m.common import cli

BENCHMARKS = ("reader", "metrics", "train_step", "train_memory", "extract",
              "suite")


USAGE = (f"usage: python -m youtube8m.benchmark {{{','.join(BENCHMARKS)}}} "
         "[--flags]  (NAME --help lists a benchmark's flags)")


def main():
  name = sys.argv[1] if len(sys.argv) > 1 else ""
  if name in cli.HELP_ARGS:
    print(__doc__.strip() + "\n\n" + USAGE)
    sys.exit(0)
  if name not in BENCHMARKS:
    what = f"unknown benchmark {name!r}" if name else "no benchmark named"
    print(f"error: {what}{checks.closest(name, BENCHMARKS)}; {USAGE}",
          file=sys.stderr)
    sys.exit(1)
  del sys.argv[1]
  # Importing the module defines its flags; absl then parses the rest.
  module = importlib.import_module(f"youtube8m.benchmarks.{name}")
  flags.adopt_module_key_flags(module)  # its --help lists them
  cli.run(module.main)


if __name__ == "__main__":
  main()
