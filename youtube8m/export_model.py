r"""Exports a checkpoint as a SavedModel for serving and batch prediction.

  python export_model.py --train_dir=/tmp/yt8m_model/video_level_logistic \
      --output_dir=/tmp/yt8m_model/video_level_logistic/export/final

The model is rebuilt from train_dir/model_flags.json. The SavedModel's
`serving_default` signature takes serialized Example/SequenceExample strings
and returns video ids, the top-k class indexes and their scores.
"""

import os

from absl import flags
from absl import logging

from youtube8m import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("train_dir", "/tmp/yt8m_model/",
                    "Training directory holding checkpoints.")
flags.DEFINE_string("checkpoint", "",
                    "Checkpoint prefix to export (default: the latest).")
flags.DEFINE_string("output_dir", "",
                    "Where to write the SavedModel (default: "
                    "train_dir/export/step_<global step>).")
flags.DEFINE_integer("top_k", 20, "Classes the serving signature returns.")
cli.define_model_flags()


def export_checkpoint(train_dir, output_dir="", checkpoint="", top_k=20,
                      model_flags=None, explicit=()):
  """Restores a checkpoint of train_dir and exports it; returns the path."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from youtube8m import eval_lib  # pylint: disable=import-outside-toplevel
  from youtube8m import export  # pylint: disable=import-outside-toplevel
  from youtube8m import model_config  # pylint: disable=import-outside-toplevel
  from youtube8m import train_lib  # pylint: disable=import-outside-toplevel
  from youtube8m import utils  # pylint: disable=import-outside-toplevel
  flags_, _ = model_config.resolve(
      train_dir, model_flags or model_config.all_defaults(), set(explicit))
  path = checkpoint or tf.train.latest_checkpoint(train_dir)
  if not path:
    raise utils.Yt8mError(f"no checkpoint in --train_dir={train_dir}")
  model, _ = train_lib.build(flags_)
  model.create_variables(train_lib.feature_size(flags_))
  tf.train.Checkpoint(model=model).restore(
      path).expect_partial().assert_existing_objects_matched()
  output_dir = output_dir or os.path.join(
      train_dir, "export", f"step_{eval_lib.checkpoint_step(path)}")
  export.export_saved_model(model, flags_, output_dir, top_k)
  logging.info("Exported %s to %s", path, output_dir)
  return output_dir


def main(argv):
  cli.check_no_positional_args(argv)
  values, explicit = cli.model_flags_given()
  print(export_checkpoint(FLAGS.train_dir, FLAGS.output_dir, FLAGS.checkpoint,
                          FLAGS.top_k, values, explicit))


if __name__ == "__main__":
  cli.run(main)
