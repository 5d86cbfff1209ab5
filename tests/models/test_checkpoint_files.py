"""checkpoint_files.py: checkpoints written, pruned and found by literal
names."""

import os

import tensorflow as tf

from youtube8m.models import checkpoint_files

from support import tiny


def _save(train_dir, model, step):
  writer = checkpoint_files.Writer(tf.train.Checkpoint(model=model),
                                   str(train_dir), max_to_keep=5)
  return writer.save(step)


def test_a_checkpoint_missing_a_data_shard_is_not_complete(tmp_path):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", step=3)
  _save(train_dir, model, 4)
  os.remove(os.path.join(train_dir, "ckpt-4.data-00000-of-00001"))
  assert checkpoint_files.find_latest(train_dir).endswith("ckpt-3")
  assert checkpoint_files.complete_checkpoints(train_dir) == ["ckpt-3"]


def test_pruning_never_touches_a_directory_the_glob_would_match(tmp_path):
  # tf.train.CheckpointManager deleted old checkpoints with the glob
  # "run[1]*?/ckpt-1.*", which matches run1xy/ckpt-1.index.
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run[1]*?", step=1)
  neighbour, _ = tiny.checkpoint_dir(tmp_path / "run1xy", step=1)
  before = sorted(os.listdir(neighbour))
  writer = checkpoint_files.Writer(tf.train.Checkpoint(model=model),
                                   train_dir, max_to_keep=2)
  for step in (2, 3, 4):
    writer.save(step)
  assert sorted(os.listdir(neighbour)) == before
  assert checkpoint_files.complete_checkpoints(train_dir) == ["ckpt-3",
                                                              "ckpt-4"]
  assert not any(n.startswith(("ckpt-1.", "ckpt-2."))
                 for n in os.listdir(train_dir))


def test_pruning_removes_a_linked_file_not_its_target(tmp_path):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run", step=1)
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  data = "ckpt-1.data-00000-of-00001"
  os.rename(os.path.join(train_dir, data), elsewhere / data)
  os.symlink(elsewhere / data, os.path.join(train_dir, data))
  writer = checkpoint_files.Writer(tf.train.Checkpoint(model=model),
                                   train_dir, max_to_keep=1)
  writer.save(2)
  assert not os.path.lexists(os.path.join(train_dir, data))
  assert (elsewhere / data).exists()


def test_iterate_yields_each_new_checkpoint_once(tmp_path):
  train_dir, model = tiny.checkpoint_dir(tmp_path / "run[1]", step=1)
  seen = []
  for path in checkpoint_files.iterate(train_dir, min_interval_secs=0.01,
                                       timeout=0.2):
    seen.append(os.path.basename(path))
    if len(seen) == 1:
      _save(train_dir, model, 2)
  assert seen == ["ckpt-1", "ckpt-2"]


def test_pruning_on_gcs_stays_in_its_directory(gcs, tmp_path):
  gcs.apply_to_current_process()
  try:
    _, model = tiny.checkpoint_dir(tmp_path / "local", step=1)
    run, neighbour = gcs.path("prune", "run[1]*? ü"), gcs.path("prune",
                                                               "run1xy")
    with tf.io.gfile.GFile(f"{neighbour}/ckpt-1.index", "w") as f:
      f.write("theirs")
    writer = checkpoint_files.Writer(tf.train.Checkpoint(model=model), run,
                                     max_to_keep=2)
    for step in (1, 2, 3):
      writer.save(step)
    assert checkpoint_files.complete_checkpoints(run) == ["ckpt-2", "ckpt-3"]
    assert checkpoint_files.find_latest(run) == f"{run}/ckpt-3"
    with tf.io.gfile.GFile(f"{neighbour}/ckpt-1.index") as f:
      assert f.read() == "theirs"
  finally:
    gcs.restore_current_process()
