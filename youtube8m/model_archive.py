"""The model .tar.gz: a checkpoint and its model_flags.json in one file.

`inference.py --output_model_tgz=model.tgz` packs a train_dir's latest
checkpoint; `--input_model_tgz=model.tgz` predicts with one, extracting it
to --untar_model_dir first. Members that are not plain files or
directories, or that would land outside the target directory, are refused.
"""

import os
import tarfile
import tempfile

from absl import logging
import tensorflow as tf

from youtube8m import builders
from youtube8m import model_config
from youtube8m import outputs
from youtube8m import utils


def safe_extract(tgz_path, target_dir):
  """Extracts a .tar.gz, refusing members that would land outside target."""
  target = os.path.realpath(target_dir)
  os.makedirs(target, exist_ok=True)
  with tf.io.gfile.GFile(tgz_path, "rb") as raw, \
      tarfile.open(fileobj=raw, mode="r:gz") as tar:
    members = tar.getmembers()
    for member in members:
      dest = os.path.realpath(os.path.join(target, member.name))
      if os.path.commonpath([target, dest]) != target or not (
          member.isfile() or member.isdir()):
        raise utils.Yt8mError(
            f"--input_model_tgz={tgz_path}: refusing member '{member.name}' "
            "(it would land outside --untar_model_dir or is a link/device)")
    tar.extractall(target, members=members)
  return target


def make_model_tgz(train_dir, tgz_path):
  """Packs train_dir's latest checkpoint and model_flags.json into a .tar.gz."""
  latest = builders.latest_checkpoint(train_dir)
  with tempfile.TemporaryDirectory() as tmp:
    local = os.path.join(tmp, "model.tar.gz")
    with tarfile.open(local, "w:gz") as tar:
      names = [model_config.FILENAME] + [
          os.path.basename(p) for p in tf.io.gfile.glob(latest + ".*")]
      for name in names:
        copy = os.path.join(tmp, name)
        tf.io.gfile.copy(os.path.join(train_dir, name), copy, overwrite=True)
        tar.add(copy, arcname=name)
      state = os.path.join(tmp, "checkpoint")
      with open(state, "w") as f:
        base = os.path.basename(latest)
        f.write(f'model_checkpoint_path: "{base}"\n'
                f'all_model_checkpoint_paths: "{base}"\n')
      tar.add(state, arcname="checkpoint")
    outputs.copy_file(local, tgz_path)
  logging.info("Wrote %s (%s)", tgz_path, os.path.basename(latest))
