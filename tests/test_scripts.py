"""The seed README's command lines, run as written (paths replaced)."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from youtube8m import make_dataset

from support import workflow_helpers as wh

# Subprocesses and end-to-end runs: the full suite only.
pytestmark = pytest.mark.slow


@pytest.fixture(name="data", scope="module")
def _data(tmp_path_factory):
  out = str(tmp_path_factory.mktemp("seed_data"))
  make_dataset.generate(out, num_train=300, num_validate=100, num_test=60,
                        shards=2, min_frames=3, max_frames=12, seed=5)
  return out


def _check_csv(path, num_videos):
  predictions = wh.read_predictions(path)
  assert len(predictions) == num_videos
  assert all(len(pairs) == 20 for pairs in predictions.values())


def test_video_level_audio_visual_seed_commands(data, tmp_path):
  model_dir = tmp_path / "yt8m"
  train_dir = f"{model_dir}/video_level_logistic_model"
  # The README's "Using Audio Features" flags, spaces included.
  audio = ['--feature_names=mean_rgb, mean_audio', "--feature_sizes=1024, 128"]
  wh.run_script(["train.py", f"--train_data_pattern={data}/video/train*.tfrecord",
                 "--model=LogisticModel", f"--train_dir={train_dir}"] + audio)
  assert os.path.exists(f"{train_dir}/model_flags.json")
  result = wh.run_script([
      "eval.py", f"--eval_data_pattern={data}/video/validate*.tfrecord",
      "--model=LogisticModel", f"--train_dir={train_dir}", "--run_once=True"]
                         + audio)
  assert 0.0 < wh.eval_gap(result.stderr) <= 1.0
  result = wh.run_script([
      "inference.py", f"--output_file={train_dir}/predictions.csv",
      f"--input_data_pattern={data}/video/test*.tfrecord",
      f"--train_dir={train_dir}"])
  assert "num examples processed: 60" in result.stderr
  _check_csv(f"{train_dir}/predictions.csv", 60)


def test_frame_level_seed_commands(data, tmp_path):
  frame = ["--frame_features=True", "--model=FrameLevelLogisticModel",
           '--feature_names=rgb', "--feature_sizes=1024",
           f"--train_dir={tmp_path}/frame_level_logistic_model"]
  wh.run_script(["train.py",
                 f"--train_data_pattern={data}/frame/train*.tfrecord"] + frame)
  result = wh.run_script(["eval.py",
                          f"--eval_data_pattern={data}/frame/validate*",
                          "--run_once=True"] + frame)
  assert wh.eval_gap(result.stderr) > 0.0
  out = f"{tmp_path}/frame_level_logistic_model/predictions.csv"
  wh.run_script(["inference.py", f"--output_file={out}",
                 f"--input_data_pattern={data}/frame/test*"] + frame)
  _check_csv(out, 60)


def test_module_form_and_conflicting_flags(data, tmp_path):
  """`python -m youtube8m.train` (Vertex AI's form) and one-line errors."""
  train_dir = str(tmp_path / "moe")
  wh.run_script(["-m", "youtube8m.train", f"--train_dir={train_dir}",
                 f"--train_data_pattern={data}/video/train*",
                 "--model=MoeModel", "--max_steps=2", "--batch_size=32"])
  result = wh.run_script(["-m", "youtube8m.eval", f"--train_dir={train_dir}",
                          f"--eval_data_pattern={data}/video/validate*",
                          "--model=LogisticModel", "--run_once"], check=False)
  assert result.returncode == 1
  error_lines = [l for l in result.stderr.splitlines() if l.startswith("error")]
  assert error_lines == [error_lines[0]] and "--model=LogisticModel (saved: " \
      "MoeModel)" in error_lines[0]
  assert "Traceback" not in result.stderr

  result = wh.run_script(["train.py", f"--train_dir={tmp_path}/x",
                          f"--train_data_pattern={tmp_path}/nothing*"],
                         check=False)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert re.search(r"error: --train_data_pattern '.*nothing\*' matches no file",
                   result.stderr)

  result = wh.run_script(["train.py", f"--train_dir={tmp_path}/y",
                          f"--train_data_pattern={data}/video/train*",
                          "--feature_names=mean_rgb,mean_audio",
                          "--feature_sizes=1024"], check=False)
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert "--feature_names has 2 items" in result.stderr


def _last_checkpoint(train_dir):
  """Step of the checkpoint train_dir/checkpoint names; 0 before the first."""
  try:
    with open(f"{train_dir}/checkpoint") as f:
      text = f.read()
  except FileNotFoundError:
    return 0
  # The state file is replaced by a rename, so it is never read half-written.
  match = re.search(r'model_checkpoint_path: "ckpt-(\d+)"', text)
  return int(match.group(1)) if match else 0


def test_training_resumes_after_sigkill(data, tmp_path):
  train_dir = str(tmp_path / "killed")
  args = [sys.executable, "train.py", f"--train_dir={train_dir}",
          f"--train_data_pattern={data}/video/train*", "--batch_size=16",
          "--num_epochs=1000", "--export_model_steps=5",
          "--save_checkpoint_secs=1e9", "--log_every_steps=1"]
  process = subprocess.Popen(args + ["--max_steps=100000"], cwd=wh.REPO,
                             env=wh.script_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  try:
    # Kill once the checkpoint state file names step 15 or later. (A
    # ckpt-15.index alone is not enough: the state file is updated after
    # the shard files, and a kill in between rightly resumes at step 10.)
    deadline = time.time() + 240
    while _last_checkpoint(train_dir) < 15:
      assert time.time() < deadline and process.poll() is None
      time.sleep(0.2)
    process.send_signal(signal.SIGKILL)  # no chance to clean up
  finally:
    process.kill()
    process.wait()
  saved = json.load(open(f"{train_dir}/model_flags.json"))
  assert saved["model"] == "LogisticModel"
  last = _last_checkpoint(train_dir)
  assert last >= 15 and last % 5 == 0
  result = wh.run_script(args[1:] + [f"--max_steps={last + 3}"])
  assert re.search(rf"Restored .*ckpt-{last} at step {last}\b", result.stderr)
  assert f"training step {last + 1}/{last + 3} |" in result.stderr
  assert f"Done training: step {last + 3}" in result.stderr


def test_convert_prediction_json_to_csv(tmp_path):
  lines = [{"video_id": "b", "class_indexes": [3, 7], "predictions": [0.2, 0.9]},
           {"instance": {}, "prediction": {
               "video_id": "a", "class_indexes": [1], "predictions": [0.5]}}]
  (tmp_path / "results-0").write_text(
      "\n".join(json.dumps(line) for line in lines) + "\n")
  out = tmp_path / "out.csv"
  wh.run_script(["convert_prediction_from_json_to_csv.py",
                 f"--json_prediction_files_pattern={tmp_path}/results-*",
                 f"--csv_output_file={out}"])
  assert out.read_text() == ("VideoId,LabelConfidencePairs\n"
                             "b,7 0.9 3 0.2\na,1 0.5\n")
  (tmp_path / "results-1").write_text("{not json\n")
  result = wh.run_script(["convert_prediction_from_json_to_csv.py",
                          f"--json_prediction_files_pattern={tmp_path}/res*",
                          f"--csv_output_file={tmp_path}/bad.csv"],
                         check=False)
  assert result.returncode == 1 and "results-1:1:" in result.stderr
  assert not (tmp_path / "bad.csv").exists()


POOLING_MODELS = [
    ("NetVLADModel", ["--netvlad_cluster_size=4", "--netvlad_hidden_size=8",
                      "--iterations=4", "--gating", "--moe_prob_gating"]),
    ("NetFVModel", ["--fv_cluster_size=4", "--fv_hidden_size=8",
                    "--iterations=4"]),
    ("SoftDbofModel", ["--dbof_cluster_size=8", "--dbof_hidden_size=8",
                       "--iterations=4"]),
    ("NeXtVLADModel", ["--nextvlad_cluster_size=4", "--groups=2",
                       "--nextvlad_hidden_size=8"]),
    ("MixNeXtVLADModel", ["--nextvlad_cluster_size=4", "--groups=2",
                          "--nextvlad_hidden_size=8", "--mix_number=2"]),
]


# The models that read frames in order; their exports store float16
# weights, and the Transformer trains a weight average (--ema_decay), which
# eval, inference and the export then use.
TEMPORAL_MODELS = [
    ("TransformerModel", ["--transformer_width=16", "--transformer_heads=2",
                          "--transformer_ff_width=24", "--ema_decay=0.9"]),
    ("GruModel", ["--gru_cells=8", "--gru_layers=2", "--sampled_frames=6"]),
    ("AttentionLstmModel", ["--attention_lstm_cells=8",
                            "--video_level_classifier_model=LogisticModel"]),
]


@pytest.mark.parametrize("model, flags", POOLING_MODELS + TEMPORAL_MODELS,
                         ids=[m for m, _ in POOLING_MODELS + TEMPORAL_MODELS])
def test_pooling_models_through_the_scripts(data, tmp_path, model, flags):
  """train.py (then a restart), eval.py, inference.py, export_model.py."""
  float16 = model in dict(TEMPORAL_MODELS)
  train_dir = str(tmp_path / model)
  common = ["--frame_features", f"--model={model}", "--feature_names=rgb",
            "--feature_sizes=1024", f"--train_dir={train_dir}"]
  train = ["train.py", f"--train_data_pattern={data}/frame/train*",
           "--batch_size=32", "--export_model_steps=0"] + common + flags
  wh.run_script(train + ["--max_steps=3"])
  wh.run_script(train + ["--max_steps=5"])  # resumes at step 3
  assert json.load(open(f"{train_dir}/model_flags.json"))["model"] == model
  assert os.path.exists(f"{train_dir}/ckpt-5.index")
  result = wh.run_script(["eval.py", f"--eval_data_pattern={data}/frame/validate*",
                          f"--train_dir={train_dir}", "--run_once"])
  # Five steps of a random start: the GAP (printed to 3 places) may round to
  # 0.000, so the check is a finite loss and a GAP in range.
  assert 0.0 <= wh.eval_gap(result.stderr) <= 1.0
  assert math.isfinite(wh.eval_loss(result.stderr))
  out = f"{train_dir}/predictions.csv"
  wh.run_script(["inference.py", f"--train_dir={train_dir}", f"--output_file={out}",
                 f"--input_data_pattern={data}/frame/test*"])
  _check_csv(out, 60)
  export = wh.run_script(["export_model.py", f"--train_dir={train_dir}"] +
                         (["--export_float16"] if float16 else []))
  export_dir = export.stdout.strip().splitlines()[-1]
  sm_out = f"{train_dir}/sm_predictions.csv"
  wh.run_script(["inference.py", f"--saved_model_dir={export_dir}",
                 f"--output_file={sm_out}",
                 f"--input_data_pattern={data}/frame/test*"])
  served, restored = wh.read_predictions(sm_out), wh.read_predictions(out)
  assert served.keys() == restored.keys()
  if float16:  # float16 weights: scores within rounding of the weights
    for video_id, pairs in restored.items():
      scores = dict(served[video_id])
      common = [(c, s) for c, s in pairs if c in scores]
      assert len(common) >= 15
      assert all(abs(scores[c] - s) < 1e-2 for c, s in common)
