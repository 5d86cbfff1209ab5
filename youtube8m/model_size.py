"""A model's size: parameters in total and per top-level layer, and bytes.

train.py logs it at start and writes `train_dir/model_size.json` next to
model_flags.json (chief only; whole or not at all):

  {"parameters": trainable weights (what the papers count),
   "non_trainable": other weights (batch-norm moving statistics),
   "bytes_float32": all weights at 4 bytes (the checkpoint's model part and
                    a SavedModel export's variables),
   "bytes_float16": all weights at 2 bytes (export_model.py --export_float16;
                    the 2018 challenge allowed 1 GB),
   "layers": {top-level layer name: its trainable parameters}}

`python -m youtube8m.model_size --model=NeXtVLADModel ...` prints it for
any model flags without training (docs/models.md has the published
settings' figures).
"""

import dataclasses
import json

# Before TensorFlow is imported: its start-up lines are filtered out.
from youtube8m.common import console  # pylint: disable=g-bad-import-order

console.quiet()

from youtube8m.common import cli
from youtube8m.models import model_config


@dataclasses.dataclass
class SizeConfig:
  """model_size reads the model flags only."""
  model_flags: dict = dataclasses.field(
      default_factory=model_config.all_defaults)
  explicit_flags: frozenset = frozenset()


def main(argv):
  """Prints the size of the model the model flags describe."""
  cli.check_no_positional_args(argv)
  config = model_config.from_flags(SizeConfig)
  # TensorFlow loads here, once the command line has passed every check.
  # pylint: disable=g-import-not-at-top
  from youtube8m.models import builders
  from youtube8m.models import size as size_lib
  model, _ = builders.build_model(model_config.normalize(config.model_flags))
  sizes = size_lib.size(model)
  print(size_lib.describe(sizes))
  print(json.dumps(sizes, sort_keys=True))


if __name__ == "__main__":
  model_config.define_flags()
  cli.run(main)
