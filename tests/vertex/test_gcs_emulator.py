"""TensorFlow's gs:// and google-cloud-storage against the local GCS emulator.

TensorFlow runs in child processes, the way `train.py` will run under the
emulator: one gets `gcs.subprocess_env()` before Python starts ("early"), the
other imports TensorFlow first and sets the variables afterwards ("late"),
which pins down what TensorFlow reads at import. Each child pays the ~8 s
TensorFlow import, so all TensorFlow checks share one child. One test also
uses gs:// inside the pytest process.

This file is also the children's entry point:
  python tests/vertex/test_gcs_emulator.py early|late GS_ROOT [ENV_JSON]
"""

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

if __name__ == "__main__":  # A child: find tests/support as pytest would.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from support import gcs_emulator
from support.gcs_emulator import GcsEmulator

# Subprocesses and end-to-end runs: the full suite only.
pytestmark = pytest.mark.slow

CHILD_TIMEOUT = 240
RESULT_PREFIX = "RESULT "
# Written by the Python client before the children start; TF must read it.
CLIENT_OBJECT = "from-client.txt"
CLIENT_TEXT = "written by google-cloud-storage"


def _payload():
  """3 MiB + 7 bytes, deterministic: big enough for a multi-chunk upload."""
  block = hashlib.sha256(b"youtube8m").digest() * 1024  # 32 KiB
  return block * 96 + b"tail..."


# -- child side: everything below runs with TensorFlow imported -------------


def _gfile_section(tf, root):
  gfile = tf.io.gfile
  base = root

  def write(path, data, mode="w"):
    with gfile.GFile(path, mode) as f:
      f.write(data)

  def read(path, mode="r"):
    with gfile.GFile(path, mode) as f:
      return f.read()

  def error_name(fn):
    try:
      fn()
    except Exception as e:  # pylint: disable=broad-except
      return type(e).__name__
    return None

  r = {}
  gfile.makedirs(base + "/made/deep")
  r["isdir_made_deep"] = gfile.isdir(base + "/made/deep")
  write(base + "/one.txt", "first")
  write(base + "/two.txt", "second")
  write(base + "/notes.md", "# notes")
  write(base + "/big.bin", _payload(), "wb")
  r["read_one"] = read(base + "/one.txt")
  r["big_sha256"] = hashlib.sha256(read(base + "/big.bin", "rb")).hexdigest()
  r["big_length"] = gfile.stat(base + "/big.bin").length
  r["exists_one"] = gfile.exists(base + "/one.txt")
  r["exists_missing"] = gfile.exists(base + "/missing.txt")
  r["glob_txt"] = sorted(gfile.glob(base + "/*.txt"))
  r["listdir"] = sorted(gfile.listdir(base))

  gfile.rename(base + "/one.txt", base + "/renamed.txt")
  r["rename_source_exists"] = gfile.exists(base + "/one.txt")
  r["rename_target"] = read(base + "/renamed.txt")
  r["rename_no_overwrite_error"] = error_name(
      lambda: gfile.rename(base + "/renamed.txt", base + "/two.txt"))
  gfile.rename(base + "/renamed.txt", base + "/two.txt", overwrite=True)
  r["rename_overwrite_target"] = read(base + "/two.txt")
  gfile.remove(base + "/two.txt")
  r["removed_exists"] = gfile.exists(base + "/two.txt")

  write(base + "/tree/a.txt", "a")
  write(base + "/tree/sub/b.txt", "b")
  gfile.rename(base + "/tree", base + "/moved")
  r["dir_rename"] = sorted(
      [os.path.relpath(d, base + "/moved").rstrip("/"), sorted(files)]
      for d, _, files in gfile.walk(base + "/moved"))
  r["dir_rename_source_exists"] = gfile.exists(base + "/tree")
  gfile.rmtree(base + "/moved")
  r["rmtree_exists"] = gfile.exists(base + "/moved")
  r["from_client"] = read(base + "/" + CLIENT_OBJECT)
  return r


def _tfrecord_section(tf, root):
  for shard in range(2):
    path = "%s/records/part-%05d.tfrecord" % (root, shard)
    with tf.io.TFRecordWriter(path) as writer:
      for i in range(5):
        feature = tf.train.Feature(
            int64_list=tf.train.Int64List(value=[shard * 100 + i]))
        example = tf.train.Example(
            features=tf.train.Features(feature={"id": feature}))
        writer.write(example.SerializeToString())
  pattern = root + "/records/part-*.tfrecord"
  # list_files globs inside the graph (MatchingFiles op), not via Python.
  files = tf.data.Dataset.list_files(pattern, shuffle=False)
  dataset = tf.data.TFRecordDataset(files).map(
      lambda s: tf.io.parse_single_example(
          s, {"id": tf.io.FixedLenFeature([], tf.int64)})["id"])
  return {"ids": [int(x) for x in dataset],
          "files": [os.path.basename(f) for f in tf.io.gfile.glob(pattern)]}


def _summary_section(tf, root):
  logdir = root + "/logs"
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default():
    for step in range(3):
      tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
      writer.flush()  # Each flush re-uploads the whole object on GCS.
  writer.close()
  events = tf.io.gfile.glob(logdir + "/events.out.tfevents.*")
  values = []
  for path in events:
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == "loss":
          values.append([event.step, float(tf.make_ndarray(value.tensor))])
  return {"event_files": len(events), "loss": values}


def _checkpoint_section(tf, root):
  ckpt_dir = root + "/ckpt"
  weights = tf.Variable([0.0, 0.0])
  step = tf.Variable(0, dtype=tf.int64)
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(weights=weights, step=step), ckpt_dir, max_to_keep=2)
  for i in range(1, 4):
    weights.assign([float(i), -float(i)])
    step.assign(i)
    manager.save(checkpoint_number=i)

  restored_weights = tf.Variable([9.0, 9.0])
  restored_step = tf.Variable(0, dtype=tf.int64)
  latest = tf.train.latest_checkpoint(ckpt_dir)
  tf.train.Checkpoint(weights=restored_weights, step=restored_step).restore(
      latest).assert_consumed()
  return {
      "latest": os.path.basename(latest),
      "kept": [os.path.basename(p) for p in manager.checkpoints],
      "files": sorted(os.path.basename(p)
                      for p in tf.io.gfile.glob(ckpt_dir + "/*")),
      "weights": restored_weights.numpy().tolist(),
      "step": int(restored_step.numpy()),
  }


def _saved_model_section(tf, root):

  class Scale(tf.Module):

    def __init__(self):
      super().__init__()
      self.factor = tf.Variable(3.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
      return x * self.factor

  export_dir = root + "/export/1"
  tf.saved_model.save(Scale(), export_dir)
  loaded = tf.saved_model.load(export_dir)
  serving = loaded.signatures["serving_default"]
  (signature_output,) = serving(x=tf.constant([1.0, 2.0])).values()
  return {
      "call": loaded(tf.constant([1.0, 2.0])).numpy().tolist(),
      "signature": signature_output.numpy().tolist(),
      "has_pb": tf.io.gfile.exists(export_dir + "/saved_model.pb"),
  }


def _freshness_section(tf, root):
  """Overwrites an object behind TF's back, then stats it straight away."""
  from google.cloud import storage  # Child only; honours the emulator env.
  bucket_name, prefix = root[len("gs://"):].split("/", 1)
  blob = storage.Client().bucket(bucket_name).blob(prefix + "/fresh.txt")
  blob.upload_from_string(b"abc")
  before = tf.io.gfile.stat(root + "/fresh.txt").length
  blob.upload_from_string(b"abcde")
  after = tf.io.gfile.stat(root + "/fresh.txt").length
  return {"size_before": before, "size_after_overwrite": after}


def _child_main(argv):
  mode, root = argv[0], argv[1]
  if mode == "late":
    # The parent removed these from our environment; TensorFlow is imported
    # without them and they are set afterwards, as an in-process user would.
    late_env = json.loads(argv[2])
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  if mode == "late":
    os.environ.update(late_env)
    sections = {"freshness": _freshness_section}
  else:
    sections = {"gfile": _gfile_section, "tfrecord": _tfrecord_section,
                "summary": _summary_section, "checkpoint": _checkpoint_section,
                "saved_model": _saved_model_section,
                "freshness": _freshness_section}
  results = {}
  for name, section in sections.items():
    start = time.monotonic()
    try:
      results[name] = section(tf, "%s/%s" % (root, name))
    except Exception as e:  # pylint: disable=broad-except
      # Recorded, not raised: the other sections still report.
      results[name] = {"error": "%s: %s" % (type(e).__name__, e)}
    results[name + "_seconds"] = round(time.monotonic() - start, 2)
  print(RESULT_PREFIX + json.dumps(results), flush=True)


# -- parent side --------------------------------------------------------------


@pytest.fixture(scope="module")
def children(gcs):
  """Runs the early and the late child; returns their results."""
  client = gcs.storage_client()
  client.bucket(gcs.bucket).blob("early/gfile/" + CLIENT_OBJECT) \
      .upload_from_string(CLIENT_TEXT)
  clean_env = {k: v for k, v in os.environ.items() if k not in gcs.env}
  commands = {
      "early": ([sys.executable, __file__, "early", gcs.path("early")],
                gcs.subprocess_env()),
      "late": ([sys.executable, __file__, "late", gcs.path("late"),
                json.dumps(gcs.env)], clean_env),
  }
  results = {}
  for name, (command, env) in commands.items():
    # One at a time: on a 2-core machine two TensorFlow processes side by side
    # took longer than the two in turn.
    process = subprocess.run(command, env=env, capture_output=True, text=True,
                             timeout=CHILD_TIMEOUT, check=False)
    lines = [l for l in process.stdout.splitlines()
             if l.startswith(RESULT_PREFIX)]
    assert process.returncode == 0 and lines, (
        "%s child failed (code %s):\n%s" % (name, process.returncode,
                                            process.stderr[-3000:]))
    results[name] = json.loads(lines[-1][len(RESULT_PREFIX):])
  return results


def _section(children, mode, name):
  result = children[mode][name]
  assert "error" not in result, result["error"]
  return result


def test_gfile_operations(children, gcs):
  r = _section(children, "early", "gfile")
  base = gcs.path("early", "gfile")
  payload = _payload()
  assert r["isdir_made_deep"] is True
  assert r["read_one"] == "first"
  assert r["big_sha256"] == hashlib.sha256(payload).hexdigest()
  assert r["big_length"] == len(payload)
  assert (r["exists_one"], r["exists_missing"]) == (True, False)
  assert r["glob_txt"] == [base + "/from-client.txt", base + "/one.txt",
                           base + "/two.txt"]
  # GCS lists sub-"directories" with a trailing slash.
  assert r["listdir"] == ["big.bin", "from-client.txt", "made/", "notes.md",
                          "one.txt", "two.txt"]
  assert r["rename_source_exists"] is False
  assert r["rename_target"] == "first"
  assert r["rename_no_overwrite_error"] == "AlreadyExistsError"
  assert r["rename_overwrite_target"] == "first"
  assert r["removed_exists"] is False
  assert r["dir_rename"] == [[".", ["a.txt"]], ["sub", ["b.txt"]]]
  assert r["dir_rename_source_exists"] is False
  assert r["rmtree_exists"] is False
  assert r["from_client"] == CLIENT_TEXT


def test_tfrecord_write_then_read_with_glob(children):
  r = _section(children, "early", "tfrecord")
  assert r["files"] == ["part-00000.tfrecord", "part-00001.tfrecord"]
  assert r["ids"] == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]


def test_summary_scalars_round_trip(children):
  r = _section(children, "early", "summary")
  assert r["event_files"] == 1
  assert r["loss"] == [[0, 1.0], [1, 0.5], [2, pytest.approx(1 / 3)]]


def test_checkpoint_manager_save_restore_and_prune(children):
  r = _section(children, "early", "checkpoint")
  assert r["latest"] == "ckpt-3"
  assert r["kept"] == ["ckpt-2", "ckpt-3"]
  # ckpt-1 was deleted from the bucket by max_to_keep.
  assert r["files"] == ["checkpoint", "ckpt-2.data-00000-of-00001",
                        "ckpt-2.index", "ckpt-3.data-00000-of-00001",
                        "ckpt-3.index"]
  assert r["weights"] == [3.0, -3.0]
  assert r["step"] == 3


def test_saved_model_save_and_load(children):
  r = _section(children, "early", "saved_model")
  assert r["has_pb"] is True
  assert r["call"] == [3.0, 6.0]
  assert r["signature"] == [3.0, 6.0]


def test_python_client_sees_tensorflow_objects(children, gcs):
  del children  # Only needed to have run.
  client = gcs.storage_client()
  names = {b.name for b in client.list_blobs(gcs.bucket, prefix="early/")}
  expected = {
      "early/gfile/big.bin", "early/gfile/notes.md",
      # makedirs leaves zero-byte directory markers.
      "early/gfile/made/", "early/gfile/made/deep/",
      "early/tfrecord/records/part-00000.tfrecord",
      "early/checkpoint/ckpt/checkpoint", "early/checkpoint/ckpt/ckpt-3.index",
      "early/saved_model/export/1/saved_model.pb",
      "early/saved_model/export/1/variables/variables.index",
  }
  assert expected <= names, sorted(expected - names)
  gone = {"early/gfile/one.txt", "early/gfile/two.txt",
          "early/gfile/moved/a.txt", "early/checkpoint/ckpt/ckpt-1.index"}
  assert not gone & names
  assert any(n.startswith("early/summary/logs/events.out.tfevents.")
             for n in names)
  data = client.bucket(gcs.bucket).blob("early/gfile/big.bin") \
      .download_as_bytes()
  assert hashlib.sha256(data).digest() == hashlib.sha256(_payload()).digest()


def test_in_process_after_tensorflow_import(gcs):
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  assert gcs.apply_to_current_process() is False  # GCS_* settings too late.
  try:
    path = gcs.path("in-process", "data.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for record in (b"alpha", b"beta"):
        writer.write(record)
    dataset = tf.data.TFRecordDataset(
        tf.io.gfile.glob(gcs.path("in-process", "*.tfrecord")))
    assert [r.numpy() for r in dataset] == [b"alpha", b"beta"]
  finally:
    gcs.restore_current_process()
  assert os.environ.get("CURL_CA_BUNDLE") != gcs.ca_path
  blob = gcs.storage_client().bucket(gcs.bucket).blob(
      "in-process/data.tfrecord")
  assert blob.exists()


# -- lifecycle ----------------------------------------------------------------


def _alive(pid):
  """True if `pid` runs and is not a zombie."""
  try:
    with open("/proc/%d/stat" % pid, "r", encoding="utf-8") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except OSError:
    return False


def test_stop_kills_processes_and_restores_environment(monkeypatch):
  if gcs_emulator.find_binary() is None:
    pytest.skip("fake-gcs-server binary not found")
  monkeypatch.setenv("NO_GCE_CHECK", "previous-value")
  monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
  emulator = GcsEmulator(bucket="lifecycle").start()
  try:
    pids = emulator.pids
    ca_path = emulator.ca_path
    assert all(_alive(pid) for pid in pids)
    emulator.apply_to_current_process()
    assert os.environ["CURL_CA_BUNDLE"] == ca_path
  finally:
    emulator.stop()
  assert not any(_alive(pid) for pid in pids)
  assert os.environ["NO_GCE_CHECK"] == "previous-value"
  assert "CURL_CA_BUNDLE" not in os.environ
  assert not os.path.exists(ca_path)
  emulator.stop()  # Idempotent.


if __name__ == "__main__":
  _child_main(sys.argv[1:])
