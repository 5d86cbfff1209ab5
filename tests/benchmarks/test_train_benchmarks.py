"""The training benchmarks run for the models that read frames in order."""

import json

import pytest

from support import workflow_helpers as wh

SMALL = ["--batch_size=4", "--num_frames=12", "--feature_size=16",
         "--num_classes=5", "--steps=1"]


def _last_json(result):
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("model", ["TransformerModel", "GruModel"])
def test_train_step_benchmark(model):
  out = _last_json(wh.run_script(
      ["-m", "youtube8m.benchmark", "train_step", f"--model={model}",
       "--frame_features", "--trials=1",
       '--model_flags={"transformer_width": 16, "transformer_heads": 2, '
       '"gru_cells": 8}'] + SMALL))
  assert out["train_ex_per_s"] > 0 and out["matmul_bound_ex_per_s"] > 0
  # The Transformer's work is matmuls and einsums the bound counts.
  if model == "TransformerModel":
    assert out["forward_gflop_per_example"] > 0


@pytest.mark.slow
def test_train_memory_benchmark():
  result = wh.run_script(
      ["-m", "youtube8m.benchmark", "train_memory", "--model=TransformerModel",
       '--model_flags={"transformer_width": 16, "transformer_heads": 2}']
      + SMALL)
  out = _last_json(result)
  assert out["device"] in ("CPU", "GPU") and out["parameters"] > 0
  # uint8 frames [4, 12, 16], int32 frame counts [4], float32 labels [4, 5].
  assert out["batch_bytes"] == 4 * 12 * 16 + 4 * 4 + 4 * 5 * 4
  assert out["peak_bytes"] >= 0
  assert "the batch itself" in result.stdout
