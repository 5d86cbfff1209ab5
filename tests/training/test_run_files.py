"""run_files.py: what a run deletes in its train_dir, links never followed."""

import os
import socket

from youtube8m.models import model_config
from youtube8m.training import run_files
from youtube8m.training import train_lib

from support import tiny


def _victim(tmp_path, name="victim"):
  """A directory outside train_dir with a file that must survive."""
  victim = tmp_path / name
  victim.mkdir()
  (victim / "precious.txt").write_text("keep me")
  return victim


def _config(train_dir, **kwargs):
  return train_lib.TrainConfig(train_dir=str(train_dir),
                               model_flags=tiny.video_flags(), **kwargs)


def test_start_new_model_removes_links_not_their_targets(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", step=3)
  victims = {name: _victim(tmp_path, f"victim-{name}")
             for name in ("export", "eval", "ckpt-7")}
  for name, victim in victims.items():
    os.symlink(victim, os.path.join(train_dir, name))
  linked_file = tmp_path / "elsewhere.index"
  linked_file.write_text("keep me too")
  os.symlink(linked_file, os.path.join(train_dir, "ckpt-8.index"))
  run_files.prepare(_config(train_dir, start_new_model=True),
                    tiny.video_flags())
  for victim in victims.values():
    assert (victim / "precious.txt").read_text() == "keep me"
  assert linked_file.read_text() == "keep me too"
  assert sorted(os.listdir(train_dir)) == [model_config.FILENAME]


def test_leftovers_of_killed_runs_removed_as_links(tmp_path):
  train_dir = tmp_path / "run"
  train_dir.mkdir()
  host = socket.gethostname()
  dead = 2 ** 22 + 12345  # above Linux's default pid_max: not running
  temp_victim = _victim(tmp_path, "temp-victim")
  stale_victim = _victim(tmp_path, "stale-victim")
  os.symlink(temp_victim, train_dir / "ckpt-9_temp")
  os.symlink(stale_victim, train_dir / f"export.yt8m-tmp-{host}-{dead}")
  (train_dir / "ckpt-8_temp").mkdir()
  (train_dir / "ckpt-8_temp" / "part-00000-of-00001.index").write_text("x")
  run_files.remove_leftovers(str(train_dir))
  assert os.listdir(train_dir) == []
  assert (temp_victim / "precious.txt").read_text() == "keep me"
  assert (stale_victim / "precious.txt").read_text() == "keep me"

