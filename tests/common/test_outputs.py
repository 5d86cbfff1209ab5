"""outputs.py: whole-or-nothing files and directories, stale temp removal."""

import os
import subprocess
import sys

import pytest

from youtube8m.common import outputs
from youtube8m.common import utils


def test_write_file_appears_whole_or_not_at_all(tmp_path):
  path = str(tmp_path / "sub" / "out.csv")
  def write(f):
    f.write("a,b\n")
    return "rows: 1"
  assert outputs.write_file(path, write) == "rows: 1"
  assert open(path).read() == "a,b\n"

  def fail(f):
    f.write("half")
    raise RuntimeError("disk full")
  with pytest.raises(RuntimeError):
    outputs.write_file(path, fail)
  assert open(path).read() == "a,b\n"  # the older file stays
  assert os.listdir(tmp_path / "sub") == ["out.csv"]  # no temporary left


def test_write_dir_replaces_only_when_complete(tmp_path):
  target = str(tmp_path / "export")

  def fill(text):
    def write(tmp):
      os.makedirs(tmp)
      with open(os.path.join(tmp, "x.txt"), "w") as f:
        f.write(text)
    return write
  outputs.write_dir(target, fill("one"))
  with pytest.raises(ZeroDivisionError):
    outputs.write_dir(target, lambda tmp: (fill("two")(tmp), 1 / 0))
  assert open(os.path.join(target, "x.txt")).read() == "one"
  assert os.listdir(tmp_path) == ["export"]
  outputs.write_dir(target, fill("three"))
  assert open(os.path.join(target, "x.txt")).read() == "three"


def test_copy_file(tmp_path):
  src = tmp_path / "a.bin"
  src.write_bytes(b"\x00\x01")
  outputs.copy_file(str(src), str(tmp_path / "b.bin"))
  assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
  assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.bin"]


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  dead_pid = int(dead.stdout)
  alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    host = os.uname().nodename
    names = {
        f"model_flags.json.yt8m-tmp-{host}-{dead_pid}": True,
        f"predictions.csv.yt8m-tmp-{host}-{alive.pid}": False,
        f"mine.csv.yt8m-tmp-{host}-{os.getpid()}": False,
        f"remote.csv.yt8m-tmp-otherhost-{dead_pid}": False,  # too young
        "notes.tmp-123": False,  # not ours
    }
    for name in names:
      (tmp_path / name).write_text("x")
    export_dir = tmp_path / f"export.yt8m-tmp-{host}-{dead_pid}"
    export_dir.mkdir()
    (export_dir / "saved_model.pb").write_text("x")
    removed = outputs.remove_stale(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == sorted(
        [n for n, stale in names.items() if stale] + [export_dir.name])
    assert sorted(os.listdir(tmp_path)) == sorted(
        n for n, stale in names.items() if not stale)
  finally:
    alive.kill()
  assert outputs.remove_stale(str(tmp_path / "missing")) == []


def test_temp_path_is_recognised(tmp_path):
  tmp = outputs.temp_path(str(tmp_path / "x.csv"))
  assert os.path.basename(tmp).startswith("x.csv.yt8m-tmp-")
  assert tmp.endswith(f"-{os.getpid()}")


def test_remove_never_follows_a_link(tmp_path):
  victim = tmp_path / "victim"
  victim.mkdir()
  (victim / "precious.txt").write_text("keep me")
  inside = tmp_path / "dir"
  inside.mkdir()
  os.symlink(victim, inside / "link")
  outputs.remove(str(inside))  # a tree holding a link to a directory
  assert not inside.exists()
  assert (victim / "precious.txt").exists()
  os.symlink(victim, tmp_path / "top")
  outputs.remove(str(tmp_path / "top"))
  assert not os.path.lexists(tmp_path / "top")
  assert (victim / "precious.txt").exists()
  outputs.remove(str(tmp_path / "missing"))  # nothing there: no error


def _dead_pid():
  dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                        capture_output=True, text=True, check=True)
  return int(dead.stdout)


def test_a_write_removes_its_own_stale_temporaries(tmp_path):
  host, dead = os.uname().nodename, _dead_pid()
  mine = tmp_path / f"out.csv.yt8m-tmp-{host}-{dead}"
  mine.write_text("half a CSV of a killed run")
  theirs = tmp_path / f"other.csv.yt8m-tmp-{host}-{dead}"
  theirs.write_text("another output's: left for its own writer")
  outputs.write_file(str(tmp_path / "out.csv"), lambda f: f.write("x"))
  assert sorted(os.listdir(tmp_path)) == ["other.csv.yt8m-tmp-" +
                                          f"{host}-{dead}", "out.csv"]
  (tmp_path / f"model.tgz.yt8m-tmp-{host}-{dead}").write_text("x")
  outputs.copy_file(str(tmp_path / "out.csv"), str(tmp_path / "model.tgz"))
  os.makedirs(tmp_path / f"export.yt8m-tmp-{host}-{dead}")
  outputs.write_dir(str(tmp_path / "export"), os.makedirs)
  assert sorted(os.listdir(tmp_path)) == sorted([
      theirs.name, "out.csv", "model.tgz", "export"])


def test_write_dir_replaces_a_link_not_its_target(tmp_path):
  victim = tmp_path / "victim"
  victim.mkdir()
  (victim / "precious.txt").write_text("keep me")
  os.symlink(victim, tmp_path / "export")
  outputs.write_dir(str(tmp_path / "export"), os.makedirs)
  assert not os.path.islink(tmp_path / "export")
  assert (victim / "precious.txt").exists()


def test_two_outputs_naming_one_file_are_refused(tmp_path):
  out = str(tmp_path / "a.csv")
  with pytest.raises(utils.Yt8mError, match="--output_file=.*a.csv and "
                     "--readable_output_file=.*a.csv name the same file"):
    outputs.check_distinct({"--output_file": out,
                            "--readable_output_file": str(tmp_path / "x" /
                                                          ".." / "a.csv")})
  os.symlink(out, tmp_path / "link.csv")
  with pytest.raises(utils.Yt8mError, match="name the same file"):
    outputs.check_distinct({"--a": out, "--b": str(tmp_path / "link.csv")})
  with pytest.raises(utils.Yt8mError, match="is also an input"):
    outputs.check_distinct({"--output_file": out},
                           [("--input_data_pattern", [out])])
  outputs.check_distinct({"--a": out, "--b": "", "--c": str(tmp_path / "c")})
