"""Distillation from a teacher: `train.py --teacher=EXPORT --distill_weight=W`.

Knowledge distillation (Hinton, Vinyals and Dean, "Distilling the Knowledge
in a Neural Network", arXiv:1503.02531, 2015): a student model learns from
a teacher's scores as well as from the labels. Each training batch's loss
targets become

    targets = (1 - W) * labels + W * teacher(batch)        float32 [B, C]

where teacher(batch) is the teacher's predictions on the same videos,
computed on the fly by an exported SavedModel (export_model.py; an
`--ensemble` export distills an ensemble into one model, as YouTube-8M
teams did under the 2018 size limit, e.g. Axon AI, arXiv:1809.07895). The
--label_loss is taken against these targets (cross entropy with soft
targets for the default CrossEntropyLoss); multi-label sigmoid outputs
need no temperature. The batch's hard labels still give the training log's
Hit@1, PERR and GAP, and eval is unchanged.

The teacher must read the student's records the same way and predict the
same classes (equal --frame_features, --feature_names, --feature_sizes,
--num_classes, from its model_flags.json). It runs outside the
XLA-compiled step, once per replica, in float32; its cost is one forward
pass per batch. --teacher and --distill_weight are training settings, not
recorded in model_flags.json: a restarted run must be given them again.
"""

from absl import logging
import tensorflow as tf

from youtube8m.common import utils
from youtube8m.models import model_config
from youtube8m.serving import members

TARGETS = "targets"  # the batch key the train step takes its targets from
# What teacher and student must agree on (the records read, the classes).
SHARED_FLAGS = ("frame_features", "feature_names", "feature_sizes",
                "num_classes")


class Teacher:
  """Soft targets from an exported model.

  Args:
    export_dir: a SavedModel written by export_model.py (or training).
    weight: W in [0, 1].
    student_flags: the student's resolved model flags.
  """

  def __init__(self, export_dir, weight, student_flags):
    if not members.is_saved_model(export_dir):
      raise utils.Yt8mError(
          f"--teacher={export_dir} is not an exported SavedModel (no "
          "saved_model.pb): export the teacher first with export_model.py")
    flags = model_config.load(export_dir)
    if flags is None:
      raise utils.Yt8mError(f"--teacher={export_dir} has no "
                            f"{model_config.FILENAME}; export it again")
    for name in SHARED_FLAGS:
      if flags[name] != student_flags[name]:
        raise utils.Yt8mError(
            f"--teacher={export_dir} has --{name}={flags[name]} but the "
            f"student has --{name}={student_flags[name]}; the teacher must "
            "read the same features and predict the same classes")
    self.weight = float(weight)
    self.model = members.SavedModelMember(export_dir)

  def add_targets(self, batch):
    """The batch with `targets` [B, C] float32 added (see the docstring)."""
    scores = self.model({"video_matrix": batch["video_matrix"],
                         "num_frames": batch["num_frames"]})
    labels = tf.cast(batch["labels"], tf.float32)
    return dict(batch, **{TARGETS: (1.0 - self.weight) * labels +
                          self.weight * scores})


class DistillingTrainer:
  """A trainer_lib.Trainer whose batches get the teacher's targets first."""

  def __init__(self, trainer, teacher):
    self.trainer, self.teacher = trainer, teacher
    self.strategy = trainer.strategy
    self._targets = tf.function(lambda batch: self.strategy.run(
        teacher.add_targets, args=(batch,)))

  def step(self, batch, with_metrics=False):
    return self.trainer.step(self._targets(batch), with_metrics)


def wrap(trainer, config, flags):
  """`trainer`, distilling from config.teacher when one is given.

  Raises:
    Yt8mError: the teacher is no export, or reads other features or
      classes than the student (before anything is written).
  """
  if not config.teacher:
    return trainer
  teacher = Teacher(config.teacher, config.distill_weight, flags)
  logging.info("Distilling from %s: targets = %g x labels + %g x the "
               "teacher's scores", config.teacher, 1 - teacher.weight,
               teacher.weight)
  return DistillingTrainer(trainer, teacher)
