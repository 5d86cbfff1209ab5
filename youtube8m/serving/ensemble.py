"""The members of `export_model.py --ensemble=DIR1,DIR2 --ensemble_weights=...`.

Every top YouTube-8M entry was an ensemble; under the 2018 challenge's 1 GB
limit, teams put their models into one TensorFlow graph (Liu and Liu,
arXiv:1808.06739: four gated NetVLADs in one graph, weights in float16).
Here each member is a train_dir (its latest checkpoint, rebuilt from its
model_flags.json) or an exported SavedModel; the export's scores are the
weighted mean of the members' (export.ServingModule).

The members must read the same records the same way and predict the same
classes: equal --frame_features, --feature_names, --feature_sizes and
--num_classes. The export's model_flags.json holds these (copied from the
first member, whose other entries come along); its model_size.json sums the
members and lists each with its weight.
"""

import math

from youtube8m.common import utils
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.serving import members

# What the members must agree on: the records they read and the classes.
SHARED_FLAGS = ("frame_features", "feature_names", "feature_sizes",
                "num_classes")


def member_dirs(text):
  """The --ensemble directories, in order (at least two, none repeated)."""
  dirs = [d.strip() for d in text.split(",") if d.strip()]
  if len(dirs) < 2:
    raise utils.Yt8mError(f"--ensemble={text}: give at least two train_dirs "
                          "or exports, comma-separated")
  repeated = sorted({d for d in dirs if dirs.count(d) > 1})
  if repeated:
    raise utils.Yt8mError(f"--ensemble: {repeated[0]} is given twice (give "
                          "it a larger weight instead)")
  return dirs


def parse_weights(text, count, flag="--ensemble_weights"):
  """`count` weights >= 0 scaled to sum to 1 (equal when `text` is empty).

  Raises:
    Yt8mError: not `count` numbers, a negative or non-finite one, or all 0.
  """
  if not text.strip():
    return [1.0 / count] * count
  items = [item.strip() for item in text.split(",")]
  weights = []
  for item in items:
    try:
      weight = float(item)
    except ValueError:
      weight = math.nan
    if not (math.isfinite(weight) and weight >= 0):
      raise utils.Yt8mError(f"{flag}={text}: '{item}' is not a finite number "
                            ">= 0")
    weights.append(weight)
  if len(weights) != count:
    raise utils.Yt8mError(f"{flag}={text}: {len(weights)} weights for "
                          f"{count} members")
  total = math.fsum(weights)
  if total <= 0:
    raise utils.Yt8mError(f"{flag}={text}: the weights sum to 0")
  return [w / total for w in weights]


def load_members(dirs, wrap_model):
  """(members, flags) of the --ensemble directories.

  Args:
    dirs: train_dirs and/or SavedModel exports.
    wrap_model: (model, flags) -> member, for the train_dirs' models (how
      they are stored: members.ModelMember with its options).

  Returns:
    The members in order, and the first member's flags.

  Raises:
    Yt8mError: a directory that is neither, a member without
      model_flags.json, or members that disagree on SHARED_FLAGS.
  """
  scorers, all_flags = [], []
  for path in dirs:
    if members.is_saved_model(path):
      flags = model_config.load(path)
      if flags is None:
        raise utils.Yt8mError(
            f"--ensemble: the export {path} has no {model_config.FILENAME} "
            "(export it again with export_model.py)")
      scorers.append(members.SavedModelMember(path))
    else:
      model, flags, _ = checkpoints.load_trained_model(
          path, model_config.all_defaults(), frozenset())
      scorers.append(wrap_model(model, flags))
    all_flags.append(flags)
  _check_agree(dirs, all_flags)
  return scorers, all_flags[0]


def _check_agree(dirs, all_flags):
  first = all_flags[0]
  for path, flags in zip(dirs[1:], all_flags[1:]):
    for name in SHARED_FLAGS:
      if flags[name] != first[name]:
        raise utils.Yt8mError(
            f"--ensemble: {path} has --{name}={flags[name]} but {dirs[0]} "
            f"has --{name}={first[name]}; the members must read the same "
            "features and predict the same classes")
