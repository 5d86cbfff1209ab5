r"""Trains a YouTube-8M model: `python train.py --train_data_pattern=...`.

  python train.py --train_data_pattern='/data/video/train*.tfrecord' \
      --model=LogisticModel --train_dir=/tmp/yt8m_model/video_level_logistic

Same flags as the original starter code; the loop lives in train_lib.
"""

from absl import flags

from youtube8m import cli
from youtube8m import job_env
from youtube8m import train_lib

FLAGS = flags.FLAGS
_D = train_lib.TrainConfig()

flags.DEFINE_string("train_dir", _D.train_dir,
                    "Checkpoints, summaries, model_flags.json and exports.")
flags.DEFINE_string("train_data_pattern", "",
                    "Glob of training TFRecords (local or gs://).")
flags.DEFINE_bool("start_new_model", _D.start_new_model,
                  "Remove this train_dir's checkpoints and start afresh.")
flags.DEFINE_integer("num_gpu", None,
                     "Most GPUs to use (default: every visible GPU).")
flags.DEFINE_integer("batch_size", _D.batch_size,
                     "Examples per replica (each GPU gets a full batch).")
flags.DEFINE_float("regularization_penalty", _D.regularization_penalty,
                   "Weight of the regularization loss.")
flags.DEFINE_float("base_learning_rate", _D.base_learning_rate,
                   "Learning rate before decay.")
flags.DEFINE_float("learning_rate_decay", _D.learning_rate_decay,
                   "Decay factor per --learning_rate_decay_examples.")
flags.DEFINE_integer("learning_rate_decay_examples",
                     _D.learning_rate_decay_examples,
                     "Examples between learning rate decays (staircase).")
flags.DEFINE_integer("num_epochs", _D.num_epochs,
                     "Passes over the data (0 or less: no limit).")
flags.DEFINE_integer("max_steps", None, "Stop after this many steps.")
flags.DEFINE_integer("export_model_steps", _D.export_model_steps,
                     "Checkpoint and export every this many steps.")
flags.DEFINE_float("save_checkpoint_secs", _D.save_checkpoint_secs,
                   "Also checkpoint after this many seconds.")
flags.DEFINE_integer("num_readers", _D.num_readers,
                     "Files read in parallel.")
flags.DEFINE_string("optimizer", _D.optimizer,
                    "AdamOptimizer, AdagradOptimizer, MomentumOptimizer, "
                    "GradientDescentOptimizer or RMSPropOptimizer.")
flags.DEFINE_float("clip_gradient_norm", _D.clip_gradient_norm,
                   "Clip each gradient tensor to this norm (<= 0: off).")
flags.DEFINE_bool("log_device_placement", False,
                  "Log the device of every op.")
flags.DEFINE_integer("seed", None, "Seed for shuffling and initialization.")
flags.DEFINE_float("collective_timeout_secs", _D.collective_timeout_secs,
                   "Multi-worker (TF_CONFIG) only: fail with an error when "
                   "an all-reduce has waited this long for the other "
                   "workers (<= 0: wait forever). A dead peer is detected "
                   "sooner, by missed heartbeats; this catches a stuck one. "
                   "Keep it above the longest checkpoint/export time.")
flags.DEFINE_bool("segment_labels", _D.segment_labels,
                  "Train on the rated 5-frame segments of 2019 frame-level "
                  "records (segment_labels/segment_start_times/"
                  "segment_scores); the loss counts only rated classes.")
flags.DEFINE_string("init_from_checkpoint", _D.init_from_checkpoint,
                    "Start this (new) train_dir from the model weights and "
                    "model_flags.json of another train_dir or checkpoint "
                    "prefix, e.g. to fine-tune a video-level model on "
                    "segments. Ignored once train_dir has its own checkpoint.")
cli.define_model_flags()


def main(argv):
  cli.check_no_positional_args(argv)
  if not FLAGS.train_data_pattern:
    raise cli.UsageError("--train_data_pattern is required")
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  tf.debugging.set_log_device_placement(FLAGS.log_device_placement)
  if FLAGS.seed is not None:
    tf.keras.utils.set_random_seed(FLAGS.seed)
  values, explicit = cli.model_flags_given()
  dirs = job_env.resolve(FLAGS.train_dir, FLAGS["train_dir"].present)
  config = train_lib.TrainConfig(
      train_dir=dirs.train_dir, summary_dir=dirs.summary_dir,
      final_export_dir=dirs.model_dir,
      train_data_pattern=FLAGS.train_data_pattern, model_flags=values, explicit_flags=frozenset(explicit),
      start_new_model=FLAGS.start_new_model, num_gpu=FLAGS.num_gpu,
      batch_size=FLAGS.batch_size,
      regularization_penalty=FLAGS.regularization_penalty,
      base_learning_rate=FLAGS.base_learning_rate,
      learning_rate_decay=FLAGS.learning_rate_decay,
      learning_rate_decay_examples=FLAGS.learning_rate_decay_examples,
      num_epochs=FLAGS.num_epochs if FLAGS.num_epochs > 0 else None,
      max_steps=FLAGS.max_steps, export_model_steps=FLAGS.export_model_steps,
      save_checkpoint_secs=FLAGS.save_checkpoint_secs,
      num_readers=FLAGS.num_readers, optimizer=FLAGS.optimizer,
      clip_gradient_norm=FLAGS.clip_gradient_norm, seed=FLAGS.seed,
      segment_labels=FLAGS.segment_labels,
      init_from_checkpoint=FLAGS.init_from_checkpoint,
      collective_timeout_secs=FLAGS.collective_timeout_secs)
  train_lib.train(config)


if __name__ == "__main__":
  cli.run(main)
