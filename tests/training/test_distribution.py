"""Multi-replica semantics: each replica a batch, gradients summed, then clipped."""

import json

import pytest

from youtube8m.training import distribution

from support import workflow_helpers as wh


TEMPORAL = {"transformer_width": 16, "transformer_ff_width": 24,
            "transformer_heads": 2, "transformer_dropout": 0.0,
            "gru_cells": 6}


@pytest.mark.slow
@pytest.mark.parametrize("model,clip,optimizer,model_flags", [
    ("LogisticModel", 0.0, "GradientDescentOptimizer", {}),
    # Clipping bites: clip after the sum.
    ("MoeModel", 0.05, "AdamOptimizer", {}),
    # Raw uint8 frames, one matrix per feature, as the frame reader yields.
    ("FrameLevelLogisticModel", 0.0, "AdamOptimizer", {}),
    # Each replica trims its own padding (its longest video). Plain SGD:
    # Adam would blow float noise up to a full step where the true
    # gradient is 0 (attention key biases).
    ("TransformerModel", 0.0, "GradientDescentOptimizer", TEMPORAL),
    ("GruModel", 0.1, "AdamOptimizer", TEMPORAL),
])
def test_mirrored_step_equals_summed_single_device_step(model, clip,
                                                        optimizer,
                                                        model_flags):
  result = wh.run_script(["tests/scripts/multi_replica_step.py", model,
                          str(clip), optimizer, json.dumps(model_flags)])
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["replicas"] == 2
  assert out["replica_batch_sizes"] == [8, 8]
  # Every variable moved, but attention key biases: they shift every
  # score of a query alike, so softmax ignores them (zero gradient).
  assert all(path.endswith("key/bias") for path in out["unmoved"]), out
  assert out["max_diff"] < 1e-6, out


def test_strategy_from_tf_config(monkeypatch):
  monkeypatch.setenv("TF_CONFIG", json.dumps({
      "cluster": {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]},
      "task": {"type": "worker", "index": 0}}))
  assert distribution.num_tasks() == 2
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(distribution.utils.Yt8mError, match="TF_CONFIG"):
    distribution.num_tasks()
  monkeypatch.delenv("TF_CONFIG")
  assert distribution.num_tasks() == 0


def test_vertex_output_directories(monkeypatch):
  from youtube8m.vertex import \
      job_env  # pylint: disable=import-outside-toplevel
  monkeypatch.setenv("AIP_CHECKPOINT_DIR", "gs://b/job/checkpoints/")
  monkeypatch.setenv("AIP_TENSORBOARD_LOG_DIR", "gs://b/job/logs/")
  monkeypatch.setenv("AIP_MODEL_DIR", "gs://b/job/model/")
  dirs = job_env.resolve("/tmp/yt8m_model/", train_dir_given=False)
  assert dirs.train_dir == "gs://b/job/checkpoints/"
  assert dirs.summary_dir == "gs://b/job/logs/"
  assert dirs.model_dir == "gs://b/job/model/"
  # An explicit --train_dir wins over AIP_CHECKPOINT_DIR.
  assert job_env.resolve("gs://b/mine", True).train_dir == "gs://b/mine"
  monkeypatch.delenv("AIP_TENSORBOARD_LOG_DIR")
  assert job_env.resolve("gs://b/mine", True).summary_dir == "gs://b/mine"
