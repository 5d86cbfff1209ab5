"""The model .tar.gz: a checkpoint and its model_flags.json in one file.

`inference.py --output_model_tgz=model.tgz` packs a train_dir's latest
checkpoint; `--input_model_tgz=model.tgz` predicts with one, extracting it
to --untar_model_dir first. An archive may come from anyone, so extraction
trusts nothing in it:
  - only regular files and directories, named inside the target (no
    absolute path, no '..'); links, devices and FIFOs are refused;
  - the files' declared sizes may total at most --untar_max_bytes, checked
    from the headers before anything is written, and the decompressed
    stream is cut off just above that (gzip bombs, huge tar headers);
  - extraction uses tarfile's "data" filter where Python has it; files get
    mode 0o644 and directories 0o755 (no setuid, nothing world-writable);
  - the archive is extracted into a fresh private (0o700) directory that
    replaces --untar_model_dir only once complete. An existing
    --untar_model_dir is replaced only if it is empty or an earlier
    extraction (it holds MARKER), and never if it is a symbolic link;
  - its model_flags.json may name only registered models, whatever the
    command line says: a dotted path would import (run) a module the
    archive chose, so an archive never has code imported. Its values are
    type-checked and bounded (model_config.check_values) before a model
    is built;
  - its `checkpoint` state file may name only checkpoints inside it, and
    the newest named one must be complete there.
"""

import gzip
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib

from absl import logging
import tensorflow as tf

from youtube8m.common import outputs
from youtube8m.common import utils
from youtube8m.models import checkpoint_files
from youtube8m.models import checkpoints
from youtube8m.models import model_config

DEFAULT_MAX_BYTES = 4 * 1024 ** 3
MARKER = ".yt8m-untar"  # in a directory made by safe_extract
# Tar headers and padding on top of the member data; real archives need KBs.
_HEADER_SLACK = 1024 * 1024
_MAX_READ = 8 * 1024 * 1024
_KINDS = ((tarfile.TarInfo.issym, "a symbolic link"),
          (tarfile.TarInfo.islnk, "a hard link"),
          (tarfile.TarInfo.ischr, "a character device"),
          (tarfile.TarInfo.isblk, "a block device"),
          (tarfile.TarInfo.isfifo, "a FIFO"))


class _Capped:
  """A decompressed stream that refuses to read or seek past `limit` bytes.

  tarfile reads member data in small chunks and skips it by seeking; only
  headers come in one read, so a single read above _MAX_READ is a bomb.
  """

  def __init__(self, stream, limit, error, tgz_path):
    self._stream, self._limit, self._error = stream, limit, error
    self._tgz_path = tgz_path

  def read(self, size=-1):
    # Checked before reading: a huge header never fills memory.
    if size is None or size < 0 or size > _MAX_READ:
      raise _refuse(self._tgz_path, f"a tar header of more than {_MAX_READ} "
                    "bytes: not a model archive")
    if self._stream.tell() + size > self._limit:
      raise self._error
    return self._stream.read(size)

  def drain(self):
    """Reads to the end, so that gzip checks the length and CRC it stored."""
    while self._stream.read(1 << 16):
      if self._stream.tell() > self._limit:
        raise self._error

  def seek(self, offset, whence=os.SEEK_SET):
    target = offset if whence == os.SEEK_SET else (
        self._stream.tell() + offset if whence == os.SEEK_CUR else None)
    if target is None or target > self._limit:
      raise self._error
    return self._stream.seek(target)

  def tell(self):
    return self._stream.tell()


def _refuse(tgz_path, why):
  return utils.Yt8mError(f"--input_model_tgz={tgz_path}: {why}")


def _checked_members(tar, tgz_path, max_bytes):
  """The members, checked from their headers alone (no data read yet)."""
  members, total = [], 0
  for member in tar:
    name = member.name
    kind = next((k for test, k in _KINDS if test(member)), None)
    if kind or not (member.isfile() or member.isdir()):
      raise _refuse(tgz_path, f"member {name!r} is {kind or 'a special file'}"
                    "; a model archive holds only regular files and "
                    "directories")
    parts = name.replace("\\", "/").split("/")
    if (name.startswith(("/", "\\")) or os.path.isabs(name) or
        ".." in parts or (parts[0][1:2] == ":")):
      raise _refuse(tgz_path, f"refusing member {name!r}: it would land "
                    "outside --untar_model_dir (absolute path or '..')")
    if member.isfile():
      total += member.size
      if total > max_bytes:
        raise _too_big(tgz_path, max_bytes)
    members.append(member)
  names = {posixpath.normpath(m.name) for m in members if m.isfile()}
  if model_config.FILENAME not in names:
    raise _refuse(tgz_path, f"holds no {model_config.FILENAME}: not a model "
                  "archive made by --output_model_tgz")
  return members


def _too_big(tgz_path, max_bytes):
  return _refuse(tgz_path, f"its files hold more than {max_bytes} bytes "
                 f"(--untar_max_bytes={max_bytes}); raise --untar_max_bytes "
                 "if you trust this archive")


def _member_filter(member, dest):
  """tarfile's data filter, then fixed modes; the target itself is skipped."""
  if posixpath.normpath(member.name) == ".":
    return None  # a '.' member must not change the target's mode
  member = tarfile.data_filter(member, dest)
  return member.replace(mode=0o644 if member.isfile() else 0o755, deep=False)


def _extract_plainly(tar, members, dest):
  """What extractall(filter=_member_filter) does, for Pythons without it."""
  for member in members:
    name = posixpath.normpath(member.name)
    if name == ".":
      continue
    path = os.path.join(dest, *name.split("/"))
    if member.isdir():
      os.makedirs(path, 0o755, exist_ok=True)
      continue
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                 getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as out, tar.extractfile(member) as source:
      shutil.copyfileobj(source, out)
  for member in members:  # umask may have dropped bits: set them exactly
    path = os.path.join(dest, *posixpath.normpath(member.name).split("/"))
    if path != os.path.join(dest, "."):
      os.chmod(path, 0o755 if member.isdir() else 0o644)


def _check_target(target):
  """Whether --untar_model_dir exists (as an empty dir or our extraction)."""
  flag = f"--untar_model_dir={target}"
  try:
    info = os.lstat(target)
  except FileNotFoundError:
    return False
  if stat.S_ISLNK(info.st_mode):
    raise utils.Yt8mError(f"{flag} is a symbolic link; refusing to follow it"
                          ": give a directory of your own")
  if not stat.S_ISDIR(info.st_mode):
    raise utils.Yt8mError(f"{flag} exists and is not a directory")
  if hasattr(os, "getuid") and info.st_uid != os.getuid():
    raise utils.Yt8mError(f"{flag} belongs to another user; give a "
                          "directory of your own")
  if os.listdir(target) and not os.path.isfile(os.path.join(target, MARKER)):
    raise utils.Yt8mError(f"{flag} is not empty and was not made by "
                          "--input_model_tgz; give a new or empty directory")
  return True


def safe_extract(tgz_path, target_dir, max_bytes=DEFAULT_MAX_BYTES):
  """Extracts a model .tar.gz into target_dir (see the module docstring).

  Returns:
    The absolute target directory, holding the archive's files and MARKER.
  Raises:
    Yt8mError: one line naming the archive, member or directory at fault.
  """
  target = os.path.abspath(target_dir)  # not realpath: never follow a link
  exists = _check_target(target)
  if not tf.io.gfile.exists(tgz_path):
    raise _refuse(tgz_path, "not found")
  parent = os.path.dirname(target)
  try:
    os.makedirs(parent, exist_ok=True)
    fresh = tempfile.mkdtemp(prefix=os.path.basename(target) + ".yt8m-untar-",
                             dir=parent)  # mode 0o700, a name nobody guessed
  except OSError as e:
    raise utils.Yt8mError(f"--untar_model_dir={target}: cannot create it "
                          f"({e.strerror})") from e
  try:
    with tf.io.gfile.GFile(tgz_path, "rb") as raw, \
        gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
      capped = _Capped(unzipped, max_bytes + _HEADER_SLACK,
                       _too_big(tgz_path, max_bytes), tgz_path)
      try:
        with tarfile.open(fileobj=capped, mode="r:") as tar:
          members = _checked_members(tar, tgz_path, max_bytes)
          if hasattr(tarfile, "data_filter"):
            tar.extractall(fresh, members=members, filter=_member_filter)
          else:
            _extract_plainly(tar, members, fresh)
        capped.drain()
      except (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError) as e:
        raise _refuse(tgz_path, "not a complete gzip-compressed tar archive "
                      f"({type(e).__name__}: {e})".replace("\n", " ")) from e
      except (OSError, tf.errors.OpError) as e:
        raise utils.Yt8mError(
            f"--untar_model_dir={target}: extracting {tgz_path} failed: "
            f"{getattr(e, 'strerror', None) or e}") from e
    with open(os.path.join(fresh, MARKER), "w", encoding="utf-8") as f:
      f.write(f"extracted from {tgz_path}\n")
    if exists:
      shutil.rmtree(target)
    os.rename(fresh, target)
  finally:
    shutil.rmtree(fresh, ignore_errors=True)
  return target


def check_archive_model(model_dir, tgz_path):
  """Refuses an archive naming an unregistered model or outside weights.

  A dotted model path would import its module, i.e. run code the archive
  chose: archives never do that, whatever the command line says.
  """
  source = f"--input_model_tgz={tgz_path}: its {model_config.FILENAME}"
  try:
    saved = model_config.load(model_dir)
  except utils.Yt8mError as e:
    raise _refuse(tgz_path, str(e).replace(model_dir + os.sep, "")) from e
  model_config.allow_model_classes(saved, {}, set(), source, imports=False)
  model_config.check_values(saved, source)
  entries, named = checkpoint_files.read_state(model_dir)
  for entry in entries + ([named] if named else []):
    if not entry or entry != os.path.basename(entry) or entry in (".", ".."):
      raise _refuse(tgz_path, f"its checkpoint file names {entry!r}, outside "
                    "the archive; an archive's weights must be inside it")
  if checkpoint_files.find_latest(model_dir) is None:
    raise _refuse(tgz_path, "holds no complete checkpoint (ckpt-N.index and "
                  "its data files)")


def extract_for_prediction(config):
  """Extracts config.input_model_tgz and checks its model; returns the dir."""
  target = safe_extract(config.input_model_tgz, config.untar_model_dir,
                        getattr(config, "untar_max_bytes", DEFAULT_MAX_BYTES))
  check_archive_model(target, config.input_model_tgz)
  logging.info("Extracted %s to %s", config.input_model_tgz, target)
  return target


def make_model_tgz(train_dir, tgz_path):
  """Packs train_dir's latest checkpoint and model_flags.json into a .tar.gz."""
  latest = checkpoints.latest_checkpoint(train_dir)
  base = os.path.basename(latest)
  with tempfile.TemporaryDirectory() as tmp:
    local = os.path.join(tmp, "model.tar.gz")
    with tarfile.open(local, "w:gz") as tar:
      # Listed, not globbed: train_dir may hold glob characters.
      names = [model_config.FILENAME] + sorted(
          n.rstrip("/") for n in tf.io.gfile.listdir(train_dir)
          if n.startswith(base + ".") and not n.endswith("/"))
      for name in names:
        copy = os.path.join(tmp, name)
        tf.io.gfile.copy(os.path.join(train_dir, name), copy, overwrite=True)
        tar.add(copy, arcname=name)
      state = os.path.join(tmp, "checkpoint")
      with open(state, "w") as f:
        f.write(f'model_checkpoint_path: "{base}"\n'
                f'all_model_checkpoint_paths: "{base}"\n')
      tar.add(state, arcname="checkpoint")
    outputs.copy_file(local, tgz_path)
  logging.info("Wrote %s (%s)", tgz_path, os.path.basename(latest))
