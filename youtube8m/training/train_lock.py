"""One trainer per --train_dir: a lock file with a heartbeat.

Two trainers writing ckpt-N into one directory corrupt each other's
checkpoints, so `train.py` holds `train_dir/.train.lock` while it runs:

  {"host": ..., "pid": ..., "token": ..., "started": ..., "heartbeat": ...}

A second trainer gets a one-line error naming the holder. A lock is stale,
and is taken over, when its holder is gone: on the same host, when its pid
no longer runs (so `kill -9` leaves nothing that blocks the next run); on
another host (or when the pid cannot be checked), when its heartbeat is
older than `stale_secs`. The holder refreshes the heartbeat at every
checkpoint and at least every `stale_secs / 4` seconds of training.

Local disks create the file exclusively (O_EXCL). gs:// has no exclusive
create through tf.io.gfile, so the lock is written, then read back after a
short pause: a trainer that finds another's token there backs off. That
leaves a window of about the pause between two starts; it guards against
the common mistake (a second job on the same directory), not a race by
design.
"""

import json
import os
import socket
import time
import uuid

from absl import logging
import tensorflow as tf

from youtube8m.common import utils

FILENAME = ".train.lock"
DEFAULT_STALE_SECS = 600.0
_GCS_SETTLE_SECS = 1.0


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class TrainDirLock:
  """Context manager holding train_dir's lock; `refresh()` beats the heart."""

  def __init__(self, train_dir, stale_secs=DEFAULT_STALE_SECS):
    self.path = os.path.join(train_dir, FILENAME)
    self.stale_secs = float(stale_secs)
    self.token = uuid.uuid4().hex
    self._last_beat = 0.0
    self._held = False

  def _content(self, started):
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                       "token": self.token, "started": started,
                       "heartbeat": time.time()})

  def _read(self):
    try:
      with tf.io.gfile.GFile(self.path, "r") as f:
        return json.loads(f.read())
    except (tf.errors.NotFoundError, FileNotFoundError):
      return None
    except ValueError:
      return {}  # half-written or foreign: judged by its age below

  def _is_stale(self, holder):
    if holder.get("host") == socket.gethostname() and isinstance(
        holder.get("pid"), int):
      return not _pid_alive(holder["pid"])
    try:
      beat = holder.get("heartbeat")
      beat = float(tf.io.gfile.stat(self.path).mtime_nsec / 1e9
                   if beat is None else beat)
    except (tf.errors.OpError, TypeError, ValueError):
      return True
    return time.time() - beat > self.stale_secs

  def _refuse(self, holder):
    since = time.strftime("%Y-%m-%d %H:%M:%S",
                          time.localtime(holder.get("started", 0)))
    raise utils.Yt8mError(
        f"--train_dir={os.path.dirname(self.path)} is in use by another "
        f"trainer (pid {holder.get('pid')} on {holder.get('host')}, since "
        f"{since}; lock file {self.path}); wait for it, stop it, or use "
        "another --train_dir")

  def _create_local(self, text):
    try:
      fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      f.write(text)
    return True

  def acquire(self):
    tf.io.gfile.makedirs(os.path.dirname(self.path))
    for _ in range(3):
      holder = self._read()
      if holder is not None:
        if not self._is_stale(holder):
          self._refuse(holder)
        logging.warning("Taking over the stale lock %s of pid %s on %s",
                        self.path, holder.get("pid"), holder.get("host"))
        tf.io.gfile.remove(self.path)
      text = self._content(time.time())
      if "://" not in self.path:
        if not self._create_local(text):
          continue  # another trainer created it first: look again
      else:
        with tf.io.gfile.GFile(self.path, "w") as f:
          f.write(text)
        time.sleep(_GCS_SETTLE_SECS)
        holder = self._read() or {}
        if holder.get("token") != self.token:
          self._refuse(holder)
      self._held, self._last_beat = True, time.time()
      return self
    self._refuse(self._read() or {})

  def refresh(self, force=False):
    """Rewrites the heartbeat (cheap to call often; writes at most every
    stale_secs / 4 unless forced)."""
    if not self._held or (not force and time.time() - self._last_beat <
                          self.stale_secs / 4):
      return
    holder = self._read() or {}
    if holder.get("token") != self.token:
      raise utils.Yt8mError(
          f"lost the lock {self.path} to pid {holder.get('pid')} on "
          f"{holder.get('host')}: two trainers share this --train_dir")
    with tf.io.gfile.GFile(self.path, "w") as f:
      f.write(self._content(holder.get("started", time.time())))
    self._last_beat = time.time()

  def release(self):
    if self._held and (self._read() or {}).get("token") == self.token:
      tf.io.gfile.remove(self.path)
    self._held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
    return False
