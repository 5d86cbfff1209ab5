"""model_archive.py: the model .tar.gz, packed and safely extracted.

The evil archives are built member by member with tarfile, so each test
shows the one thing that is refused or sanitized.
"""

import gzip
import io
import json
import os
import stat
import sys
import tarfile

import pytest

from youtube8m.common import utils
from youtube8m.models import checkpoints
from youtube8m.models import model_config
from youtube8m.prediction import inference_lib
from youtube8m.serving import model_archive
from youtube8m.serving import predictors

from support import tiny

FLAGS_JSON = json.dumps(tiny.video_flags()).encode()


def _file(name, data=b"x", mode=0o644):
  info = tarfile.TarInfo(name)
  info.size, info.mode = len(data), mode
  return info, data


def _special(name, kind, linkname=""):
  info = tarfile.TarInfo(name)
  info.type, info.linkname = kind, linkname
  return info, None


def _archive(path, *members, flags=FLAGS_JSON):
  """A .tar.gz of (TarInfo, data) members plus a model_flags.json."""
  with tarfile.open(path, "w:gz") as tar:
    for info, data in [*members, _file("model_flags.json", flags)]:
      tar.addfile(info, io.BytesIO(data) if data is not None else None)
  return str(path)


def _mode(path):
  return stat.S_IMODE(os.lstat(path).st_mode)


def _leftovers(parent):
  return [n for n in os.listdir(parent) if ".yt8m-untar-" in n]


def test_pack_then_extract_round_trip(tmp_path):
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "run", step=4)
  tgz = str(tmp_path / "model.tgz")
  model_archive.make_model_tgz(train_dir, tgz)
  with tarfile.open(tgz) as tar:
    names = set(tar.getnames())
  assert {"model_flags.json", "checkpoint", "ckpt-4.index"} <= names
  target = model_archive.safe_extract(tgz, str(tmp_path / "untar"))
  assert model_config.load(target) == model_config.load(train_dir)
  assert checkpoints.latest_checkpoint(target).endswith("ckpt-4")
  assert sorted(os.listdir(tmp_path)) == ["model.tgz", "run", "untar"]
  assert _mode(target) == 0o700
  assert os.path.isfile(os.path.join(target, model_archive.MARKER))
  # Again: the earlier extraction is replaced.
  assert model_archive.safe_extract(tgz, target + "/") == target


@pytest.mark.parametrize("plain", [False, True])
def test_modes_are_sanitized(tmp_path, plain, monkeypatch):
  if plain:  # the route of Pythons without tarfile's data filter
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
  directory = tarfile.TarInfo("sub")
  directory.type, directory.mode = tarfile.DIRTYPE, 0o777
  root = tarfile.TarInfo(".")
  root.type, root.mode = tarfile.DIRTYPE, 0o777
  tgz = _archive(tmp_path / "m.tgz", (root, None), (directory, None),
                 _file("sub/setuid", mode=0o4755), _file("shared", mode=0o666),
                 _file("sticky", mode=0o1777))
  target = model_archive.safe_extract(tgz, str(tmp_path / "out"))
  assert _mode(target) == 0o700  # the '.' member left it alone
  assert _mode(os.path.join(target, "sub")) == 0o755
  for name in ("sub/setuid", "shared", "sticky", "model_flags.json"):
    assert _mode(os.path.join(target, name)) == 0o644, name
  with open(os.path.join(target, "sub", "setuid"), "rb") as f:
    assert f.read() == b"x"


@pytest.mark.parametrize("member, message", [
    (_special("link", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link"),
    (_special("link", tarfile.SYMTYPE, "model_flags.json"),
     "is a symbolic link"),
    (_special("hard", tarfile.LNKTYPE, "model_flags.json"), "is a hard link"),
    (_special("tty", tarfile.CHRTYPE), "is a character device"),
    (_special("disk", tarfile.BLKTYPE), "is a block device"),
    (_special("pipe", tarfile.FIFOTYPE), "is a FIFO"),
    (_file("../escaped.txt"), "refusing member '../escaped.txt'"),
    (_file("a/../../escaped.txt"), "outside --untar_model_dir"),
    (_file("/tmp/absolute.txt"), "refusing member '/tmp/absolute.txt'"),
    (_file("C:/windows.txt"), "outside --untar_model_dir"),
    (_file("../new\nline"), r"refusing member '../new\\nline'"),
])
def test_evil_members_are_refused(tmp_path, member, message):
  tgz = _archive(tmp_path / "evil.tgz", member)
  with pytest.raises(utils.Yt8mError, match=message) as error:
    model_archive.safe_extract(tgz, str(tmp_path / "out"))
  assert "\n" not in str(error.value) and "evil.tgz" in str(error.value)
  assert sorted(os.listdir(tmp_path)) == ["evil.tgz"]


def test_sizes_are_capped_before_extraction(tmp_path):
  tgz = _archive(tmp_path / "big.tgz", _file("weights", b"0" * 5000))
  with pytest.raises(utils.Yt8mError, match=r"--untar_max_bytes=4096"):
    model_archive.safe_extract(tgz, str(tmp_path / "out"), max_bytes=4096)
  # Exactly the members' bytes pass (the flags file grows with the flags).
  assert model_archive.safe_extract(tgz, str(tmp_path / "out"),
                                    max_bytes=5000 + len(FLAGS_JSON))
  # A header declaring 5 GiB, without the data: refused from the header.
  huge = tarfile.TarInfo("weights")
  huge.size = 5 * 1024 ** 3
  with gzip.open(tmp_path / "huge.tgz", "wb") as f:
    f.write(huge.tobuf())
  with pytest.raises(utils.Yt8mError, match="more than 4294967296 bytes"):
    model_archive.safe_extract(str(tmp_path / "huge.tgz"),
                               str(tmp_path / "out2"))
  assert not (tmp_path / "out2").exists() and not _leftovers(tmp_path)


def test_a_gzip_bomb_in_a_header_is_cut_off(tmp_path):
  # 30 MB of pax header (a few KB compressed): never read into memory.
  bomb = tmp_path / "bomb.tgz"
  with tarfile.open(bomb, "w:gz", format=tarfile.PAX_FORMAT) as tar:
    info, data = _file("x")
    info.pax_headers = {"comment": "a" * 30_000_000}
    tar.addfile(info, io.BytesIO(data))
  assert bomb.stat().st_size < 100_000
  with pytest.raises(utils.Yt8mError, match="bomb.tgz: a tar header of more"):
    model_archive.safe_extract(str(bomb), str(tmp_path / "out"))
  # Many small members: the decompressed stream is cut off past the cap.
  with tarfile.open(bomb, "w:gz") as tar:
    for n in range(3000):
      info = tarfile.TarInfo(f"d{n}")
      info.type = tarfile.DIRTYPE
      tar.addfile(info)
  with pytest.raises(utils.Yt8mError, match="--untar_max_bytes=1024"):
    model_archive.safe_extract(str(bomb), str(tmp_path / "out"),
                               max_bytes=1024)


def test_not_gzip_and_truncated_archives_are_one_line(tmp_path):
  text = tmp_path / "notes.tgz"
  text.write_text("not an archive\n")
  with pytest.raises(utils.Yt8mError, match=r"notes.tgz: not a complete gzip"):
    model_archive.safe_extract(str(text), str(tmp_path / "out"))
  whole = _archive(tmp_path / "whole.tgz", _file("weights", os.urandom(20000)))
  with open(whole, "rb") as f:
    data = f.read()
  cut = tmp_path / "cut.tgz"
  for end in (len(data) // 2, len(data) - 4):  # in the data; in gzip's trailer
    cut.write_bytes(data[:end])
    with pytest.raises(utils.Yt8mError, match=r"cut.tgz: not a complete") as e:
      model_archive.safe_extract(str(cut), str(tmp_path / "out"))
    assert "\n" not in str(e.value)
  with pytest.raises(utils.Yt8mError, match="missing.tgz: not found"):
    model_archive.safe_extract(str(tmp_path / "missing.tgz"),
                               str(tmp_path / "out"))
  no_flags = tmp_path / "empty.tgz"
  with tarfile.open(no_flags, "w:gz") as tar:
    info, data = _file("weights")
    tar.addfile(info, io.BytesIO(data))
  with pytest.raises(utils.Yt8mError, match="holds no model_flags.json"):
    model_archive.safe_extract(str(no_flags), str(tmp_path / "out"))
  assert not (tmp_path / "out").exists() and not _leftovers(tmp_path)


def test_the_target_directory_is_checked(tmp_path):
  tgz = _archive(tmp_path / "m.tgz", _file("weights"))
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  (elsewhere / "keep").write_text("mine")
  link = tmp_path / "link"
  link.symlink_to(elsewhere)
  with pytest.raises(utils.Yt8mError, match="is a symbolic link"):
    model_archive.safe_extract(tgz, str(link))
  with pytest.raises(utils.Yt8mError, match="is a symbolic link"):
    model_archive.safe_extract(tgz, str(link) + "/")
  assert os.listdir(elsewhere) == ["keep"] and link.is_symlink()
  with pytest.raises(utils.Yt8mError, match="is not empty and was not made"):
    model_archive.safe_extract(tgz, str(elsewhere))
  (tmp_path / "file").write_text("x")
  with pytest.raises(utils.Yt8mError, match="is not a directory"):
    model_archive.safe_extract(tgz, str(tmp_path / "file"))
  # An empty directory, then an earlier extraction, are replaced.
  empty = tmp_path / "empty"
  empty.mkdir(mode=0o777)
  target = model_archive.safe_extract(tgz, str(empty))
  assert _mode(target) == 0o700
  (empty / "stale").write_text("from an earlier archive")
  model_archive.safe_extract(tgz, str(empty))
  assert sorted(os.listdir(empty)) == [model_archive.MARKER,
                                       "model_flags.json", "weights"]
  assert not _leftovers(tmp_path)


def _config(tmp_path, tgz, **kwargs):
  return inference_lib.InferenceConfig(
      input_model_tgz=tgz, untar_model_dir=str(tmp_path / "out"), **kwargs)


def _model_archive(tmp_path, flags=None, state=None, members=()):
  """A real model archive (tiny checkpoint) with edited model_flags.json,
  `checkpoint` state file and extra (TarInfo, data) members."""
  train_dir, _ = tiny.checkpoint_dir(tmp_path / "src", step=4)
  path = str(tmp_path / "m.tgz")
  with tarfile.open(path, "w:gz") as tar:
    for name in sorted(os.listdir(train_dir)):
      if name.startswith("ckpt-4."):
        tar.add(os.path.join(train_dir, name), arcname=name)
    for name, data in [
        ("model_flags.json", json.dumps(flags or tiny.video_flags())),
        ("checkpoint", state or 'model_checkpoint_path: "ckpt-4"\n')]:
      info, data = _file(name, data.encode())
      tar.addfile(info, io.BytesIO(data))
    for info, data in members:
      tar.addfile(info, io.BytesIO(data))
  return path


def test_archives_never_import_code(tmp_path):
  for name in ("json.JSONDecoder", "os.system"):
    tgz = _model_archive(tmp_path, dict(tiny.video_flags(), model=name))
    with pytest.raises(utils.Yt8mError, match=(
        f"names model '{name}', which is not a registered model.*never has "
        "its code imported")):
      model_archive.extract_for_prediction(_config(tmp_path, tgz))
  # A module file of the archive's choosing is never imported, whichever
  # flag names it, and whatever the command line says.
  payload = b"import pathlib; pathlib.Path('ran').touch()\nclass Model: pass\n"
  members = [_file("u/__init__.py", b""), _file("u/pwn.py", payload)]
  cases = [dict(tiny.video_flags(), model="u.pwn.Model"),
           dict(tiny.video_flags(), model="DbofModel", frame_features=True,
                feature_names="rgb", video_level_classifier_model=(
                    "u.pwn.Model"))]
  monkey_path = str(tmp_path)
  sys.path.insert(0, monkey_path)
  cwd = os.getcwd()
  os.chdir(tmp_path)  # the untar dir's parent is importable from here
  try:
    for flags in cases:
      tgz = _model_archive(tmp_path, flags, members=members)
      for typed in (frozenset(), frozenset({"model",
                                            "video_level_classifier_model"})):
        given = dict(model_config.all_defaults(), **flags)
        config = inference_lib.InferenceConfig(
            input_model_tgz=tgz, untar_model_dir=str(tmp_path / "u"),
            model_flags=given, explicit_flags=typed)
        with pytest.raises(utils.Yt8mError, match="'u.pwn.Model', which is "
                           "not a registered model"):
          predictors.make_predictor(config)
        assert not (tmp_path / "ran").exists()
        assert "u.pwn" not in sys.modules
  finally:
    os.chdir(cwd)
    sys.path.remove(monkey_path)
  tgz = _model_archive(tmp_path, dict(tiny.video_flags(), model="MoeModel"))
  with pytest.raises(utils.Yt8mError, match="does not hold the model"):
    predictors.make_predictor(_config(tmp_path, tgz))  # registered: built


@pytest.mark.parametrize("edit, message", [
    (dict(num_classes=10 ** 11), "--num_classes=100000000000 is invalid: "
     "expected an integer in 1..1048576"),
    (dict(num_classes="6"), "'num_classes' is '6', expected an integer"),
    (dict(moe_num_mixtures=2.5), "'moe_num_mixtures' is 2.5, expected an "
     "integer"),
    (dict(frame_features="yes"), "'frame_features' is 'yes', expected true "
     "or false"),
    (dict(feature_names="mean_rgb,mean_audio", feature_sizes="1024,99999999"),
     "--feature_sizes=99999999"),
    (dict(feature_names=["mean_rgb"]), "'feature_names' is \\['mean_rgb'\\], "
     "expected a string"),
    (dict(lstm_cells=1 << 30), "--lstm_cells=1073741824 is invalid"),
])
def test_archive_flags_are_typed_and_bounded(tmp_path, edit, message):
  tgz = _model_archive(tmp_path, dict(tiny.video_flags(), **edit))
  with pytest.raises(utils.Yt8mError, match=f"--input_model_tgz=.*{message}"):
    predictors.make_predictor(_config(tmp_path, tgz))


@pytest.mark.parametrize("state", [
    'model_checkpoint_path: "/etc/ckpt-4"\n',
    'model_checkpoint_path: "../src/ckpt-4"\n',
    'model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "../x"\n',
])
def test_an_archive_checkpoint_must_lie_inside_it(tmp_path, state):
  tgz = _model_archive(tmp_path, state=state)
  with pytest.raises(utils.Yt8mError, match="outside the archive"):
    model_archive.extract_for_prediction(_config(tmp_path, tgz))


def test_an_archive_without_a_complete_checkpoint_is_named(tmp_path):
  tgz = _archive(tmp_path / "m.tgz")
  with pytest.raises(utils.Yt8mError, match="m.tgz: holds no complete "
                     "checkpoint"):
    model_archive.extract_for_prediction(_config(tmp_path, tgz))


def test_packing_needs_a_checkpoint(tmp_path):
  with pytest.raises(utils.Yt8mError, match="no checkpoint"):
    model_archive.make_model_tgz(str(tmp_path), str(tmp_path / "m.tgz"))
  assert not (tmp_path / "m.tgz").exists()
