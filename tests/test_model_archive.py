"""model_archive.py: the model .tar.gz, packed and safely extracted."""

import os
import tarfile

import pytest

from support import tiny
from youtube8m import builders
from youtube8m import model_archive
from youtube8m import model_config
from youtube8m import utils


def test_pack_then_extract_round_trip(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", step=4)
  tgz = str(tmp_path / "model.tgz")
  model_archive.make_model_tgz(train_dir, tgz)
  with tarfile.open(tgz) as tar:
    names = set(tar.getnames())
  assert {"model_flags.json", "checkpoint", "ckpt-4.index"} <= names
  target = model_archive.safe_extract(tgz, str(tmp_path / "untar"))
  assert model_config.load(target) == model_config.load(train_dir)
  assert builders.latest_checkpoint(target).endswith("ckpt-4")
  assert sorted(os.listdir(tmp_path)) == ["model.tgz", "run", "untar"]


def test_members_outside_the_target_are_refused(tmp_path):
  evil = tmp_path / "evil.tgz"
  payload = tmp_path / "payload.txt"
  payload.write_text("x")
  with tarfile.open(evil, "w:gz") as tar:
    tar.add(payload, arcname="../../escaped.txt")
  with pytest.raises(utils.Yt8mError, match="refusing member '../../escaped"):
    model_archive.safe_extract(str(evil), str(tmp_path / "target"))
  assert not (tmp_path / "escaped.txt").exists()


def test_packing_needs_a_checkpoint(tmp_path):
  with pytest.raises(utils.Yt8mError, match="no checkpoint"):
    model_archive.make_model_tgz(str(tmp_path), str(tmp_path / "m.tgz"))
  assert not (tmp_path / "m.tgz").exists()
