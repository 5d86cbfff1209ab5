"""One MirroredStrategy step on 2 logical CPUs vs. a summed single-device step.

Prints a JSON object of the largest weight differences. Run as a separate
process: logical devices must be configured before TensorFlow initializes.
"""

import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from youtube8m import models  # pylint: disable=g-import-not-at-top
from youtube8m.models import losses  # pylint: disable=g-import-not-at-top
from youtube8m.training import \
    trainer as trainer_lib  # pylint: disable=g-import-not-at-top

MODEL, CLIP, OPTIMIZER = sys.argv[1], float(sys.argv[2]), sys.argv[3]
# Optional: model flags as a JSON object (no dropout: replicas draw their
# own masks).
MODEL_FLAGS = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
HALF, DIM, CLASSES = 8, 12, 6
rng = np.random.default_rng(0)
FRAME = models.get_model_class(MODEL).frame_level


def make_half():
  """Video level: float [HALF, DIM]. Frame level: the raw reader's form for
  two features, uint8 [HALF, 4, 8] in two batch row chunks (as big batches
  come) and [HALF, 4, DIM - 8]."""
  if FRAME:
    frames = rng.integers(0, 256, size=(HALF, 4, DIM), dtype=np.uint8)
    matrix = ((tf.constant(frames[:5, :, :8]), tf.constant(frames[5:, :, :8])),
              tf.constant(frames[..., 8:]))
    num_frames = tf.constant(rng.integers(1, 5, HALF), tf.int32)
  else:
    matrix = tf.constant(rng.normal(size=(HALF, DIM)), tf.float32)
    num_frames = tf.ones([HALF], tf.int32)
  return {"video_matrix": matrix, "num_frames": num_frames,
          "labels": tf.constant(rng.random((HALF, CLASSES)) < 0.3, tf.float32)}


halves = [make_half() for _ in range(2)]
flags = dict(models.model_flag_defaults(), moe_num_mixtures=2, l2_penalty=1e-3,
             **MODEL_FLAGS)


def new_model():
  tf.keras.utils.set_random_seed(1)  # identical initial weights
  model = models.build_model(MODEL, CLASSES, **flags)
  model.create_variables(DIM)
  return model


loss_fn = losses.get_loss("CrossEntropyLoss")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  model = new_model()
  optimizer = trainer_lib.make_optimizer(OPTIMIZER, 0.1)
  optimizer.build(model.trainable_variables)
step_runner = trainer_lib.Trainer(model, loss_fn, optimizer, strategy,
                            regularization_penalty=1.0,
                            clip_gradient_norm=CLIP)
sizes = []


def replica_half(context):
  sizes.append(context.replica_id_in_sync_group)
  return halves[context.replica_id_in_sync_group]


batch = strategy.experimental_distribute_values_from_function(replica_half)
seen = [int(tf.shape(v)[0]) for v in
        strategy.experimental_local_results(batch["labels"])]
step_runner.step(batch)

# Reference: one device, gradient = sum of the two half-batch gradients,
# then per-tensor clipping, then the same optimizer.
reference = new_model()
summed = None
for half in halves:
  with tf.GradientTape() as tape:
    predictions = reference(half, training=True)["predictions"]
    loss = (loss_fn.calculate_loss(predictions, half["labels"]) +
            losses.regularization_loss(reference))
  # Dense: a gathered table's gradient comes as IndexedSlices.
  grads = [tf.convert_to_tensor(g) for g in
           tape.gradient(loss, reference.trainable_variables)]
  summed = grads if summed is None else [a + b for a, b in zip(summed, grads)]
if CLIP > 0:
  summed = [tf.clip_by_norm(g, CLIP) for g in summed]
ref_optimizer = trainer_lib.make_optimizer(OPTIMIZER, 0.1)
ref_optimizer.apply(summed, reference.trainable_variables)

initial = new_model()
diffs, moved = [], []
for got, want, start in zip(model.trainable_variables,
                            reference.trainable_variables,
                            initial.trainable_variables):
  diffs.append(float(np.max(np.abs(got.numpy() - want.numpy()))))
  moved.append(float(np.max(np.abs(want.numpy() - start.numpy()))))
print(json.dumps({"replica_batch_sizes": seen, "max_diff": max(diffs),
                  "min_update": min(moved), "replicas":
                  strategy.num_replicas_in_sync,
                  "unmoved": [v.path for v, m in zip(
                      reference.trainable_variables, moved) if m <= 1e-6]}))
