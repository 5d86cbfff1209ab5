"""train, eval, inference and export with every path on gs://.

The scripts run as subprocesses with `gcs.subprocess_env()`, so TensorFlow's
own gs:// filesystem talks to the local emulator (see tests/gcs_emulator.py
for what that covers and what it does not). Data are generated locally and
uploaded with google-cloud-storage; everything the scripts write goes to the
bucket and is listed with the same client. A local-path inference run of the
same model must write the same CSV, byte for byte.
"""

import os
import re
import subprocess
import sys
import time

import pytest

from youtube8m import make_dataset

from support import workflow_helpers as wh

# Subprocesses and end-to-end runs: the full suite only.
pytestmark = pytest.mark.slow

PREFIX = "workflow"  # objects of this file, in the session's bucket
NUM_CLASSES, NUM_TEST, STEPS = 100, 40, 6
MODEL = ["--model=LogisticModel", f"--num_classes={NUM_CLASSES}"]


def _run_all(gcs, commands, timeout=120, env=None):
  """Runs the scripts at once (their TF imports overlap); asserts exit 0.

  Returns each one's stderr (the absl log).
  """
  full_env = wh.script_env(dict(gcs.env, **(env or {})))
  processes = [subprocess.Popen([sys.executable] + args, cwd=wh.REPO,
                                env=full_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for args in commands]
  deadline, logs = time.time() + timeout, []
  try:
    for args, process in zip(commands, processes):
      _, err = process.communicate(timeout=max(deadline - time.time(), 1))
      assert process.returncode == 0, (
          f"{args} exited {process.returncode}:\n{err[-3000:]}")
      logs.append(err)
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
  return logs


def _objects(gcs, under=""):
  """Object names below gs://bucket/PREFIX/under, relative to it."""
  base = f"{PREFIX}/{under}".rstrip("/") + "/"
  return sorted(blob.name[len(base):] for blob in
                gcs.storage_client().list_blobs(gcs.bucket, prefix=base))


def _read(gcs, name):
  return gcs.storage_client().bucket(gcs.bucket).blob(
      f"{PREFIX}/{name}").download_as_bytes()


@pytest.fixture(name="trained", scope="module")
def _trained(gcs, tmp_path_factory):
  """Local data, its copy in the bucket, and a model trained on gs://."""
  local = str(tmp_path_factory.mktemp("gcs_workflow"))
  data = os.path.join(local, "data")
  make_dataset.generate(data, num_train=192, num_validate=48,
                        num_test=NUM_TEST, shards=2, num_classes=NUM_CLASSES,
                        min_frames=2, max_frames=4, seed=11,
                        frame_level=False)
  bucket = gcs.storage_client().bucket(gcs.bucket)
  for name in sorted(os.listdir(os.path.join(data, "video"))):
    bucket.blob(f"{PREFIX}/data/video/{name}").upload_from_filename(
        os.path.join(data, "video", name))
  train_dir = gcs.path(PREFIX, "train")
  # AIP_MODEL_DIR: where Vertex AI wants the final SavedModel (job_env.py).
  (log,) = _run_all(gcs, [[
      "train.py", f"--train_dir={train_dir}",
      "--train_data_pattern=" + gcs.path(PREFIX, "data/video/train*.tfrecord"),
      "--batch_size=16", "--num_readers=2", f"--max_steps={STEPS}",
      f"--export_model_steps={STEPS // 2}"] + MODEL],
                    env={"AIP_MODEL_DIR": gcs.path(PREFIX, "model") + "/"})
  return {"local": local, "data": data, "train_dir": train_dir, "log": log}


def test_training_writes_checkpoints_summaries_and_exports_to_gcs(trained,
                                                                  gcs):
  assert f"Done training: step {STEPS}" in trained["log"]
  names = _objects(gcs, "train")
  assert "model_flags.json" in names and "checkpoint" in names
  half, full = STEPS // 2, STEPS
  for step in (half, full):
    assert f"ckpt-{step}.index" in names
    assert f"ckpt-{step}.data-00000-of-00001" in names
  events = [n for n in names if re.match(r"events\.out\.tfevents\.", n)]
  assert len(events) == 1
  # The periodic export, and the final one in AIP_MODEL_DIR: whole SavedModels.
  for export in (f"train/export/step_{half}", "model"):
    exported = _objects(gcs, export)
    assert {"saved_model.pb", "model_flags.json",
            "variables/variables.index"} <= set(exported), exported
  checkpoint_state = _read(gcs, "train/checkpoint").decode()
  assert f'model_checkpoint_path: "ckpt-{full}"' in checkpoint_state


def test_eval_inference_and_export_read_and_write_gcs(trained, gcs, tmp_path):
  train_dir, out = trained["train_dir"], gcs.path(PREFIX, "out")
  eval_log, infer_log, _ = _run_all(gcs, [
      ["eval.py", f"--train_dir={train_dir}", "--run_once",
       "--eval_data_pattern=" + gcs.path(PREFIX, "data/video/validate*")],
      ["inference.py", f"--train_dir={train_dir}",
       "--input_data_pattern=" + gcs.path(PREFIX, "data/video/test*"),
       f"--output_file={out}/predictions.csv",
       f"--output_model_tgz={out}/model.tgz"],
      ["export_model.py", f"--train_dir={train_dir}",
       f"--output_dir={out}/saved_model"]])
  assert 0.0 < wh.eval_gap(eval_log) <= 1.0
  assert any(n.startswith("events.out.tfevents.")
             for n in _objects(gcs, "train/eval"))
  assert f"num examples processed: {NUM_TEST}" in infer_log
  assert {"model.tgz", "predictions.csv", "saved_model/saved_model.pb",
          "saved_model/model_flags.json"} <= set(_objects(gcs, "out"))

  # The same model, every path local: the tgz (checkpoint + flags) and the
  # data copied down. The tgz read from gs:// (untarred locally: tarfile
  # needs a local directory). And the exported SavedModel, read from gs://.
  local_tgz = tmp_path / "model.tgz"
  local_tgz.write_bytes(_read(gcs, "out/model.tgz"))
  _run_all(gcs, [
      ["inference.py", f"--input_model_tgz={local_tgz}",
       f"--untar_model_dir={tmp_path}/untarred",
       f"--input_data_pattern={trained['data']}/video/test*",
       f"--output_file={tmp_path}/predictions.csv"],
      ["inference.py", f"--input_model_tgz={out}/model.tgz",
       f"--untar_model_dir={tmp_path}/untarred_from_gcs",
       "--input_data_pattern=" + gcs.path(PREFIX, "data/video/test*"),
       f"--output_file={out}/from_tgz.csv"],
      ["inference.py", f"--saved_model_dir={out}/saved_model",
       "--input_data_pattern=" + gcs.path(PREFIX, "data/video/test*"),
       f"--output_file={out}/from_saved_model.csv"]])
  on_gcs = _read(gcs, "out/predictions.csv")
  assert on_gcs == (tmp_path / "predictions.csv").read_bytes()
  assert on_gcs == _read(gcs, "out/from_tgz.csv")
  (tmp_path / "gcs.csv").write_bytes(on_gcs)
  (tmp_path / "saved.csv").write_bytes(_read(gcs, "out/from_saved_model.csv"))
  rows = wh.read_predictions(tmp_path / "gcs.csv")
  assert len(rows) == NUM_TEST
  assert all(len(pairs) == 20 for pairs in rows.values())
  from_saved = wh.read_predictions(tmp_path / "saved.csv")
  assert sorted(from_saved) == sorted(rows)
  for video_id, pairs in rows.items():
    assert [c for c, _ in from_saved[video_id]] == [c for c, _ in pairs]
    for (_, a), (_, b) in zip(from_saved[video_id], pairs):
      assert a == pytest.approx(b, rel=1e-5, abs=1e-7)

  # Atomic writes left nothing behind: no temporary object anywhere.
  leftovers = [n for n in _objects(gcs) if ".tmp" in n]
  assert not leftovers, leftovers
