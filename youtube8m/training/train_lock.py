"""One trainer per --train_dir: a lock file with a heartbeat.

Two trainers writing ckpt-N into one directory corrupt each other's
checkpoints, so `train.py` holds `train_dir/.train.lock` while it runs:

  {"host": ..., "pid": ..., "token": ..., "started": ..., "heartbeat": ...}

A second trainer gets a one-line error naming the holder. A lock is stale,
and is taken over, when its holder is gone:
  - its heartbeat is older than `stale_secs`, whatever the host's name (a
    restarted container often has the old one's hostname, and a pid that
    runs again there says nothing about the old holder);
  - or, sooner, on the same machine (same hostname and boot id), when its
    pid no longer runs (so `kill -9` leaves nothing that blocks the next
    run).
While the lock is held, a background thread rewrites the heartbeat every
`stale_secs / 4` seconds, so a live trainer's lock is never stale, however
long a step, an export or the start-up takes; the loop also refreshes it
at every checkpoint, and learns there if the lock was lost. A trainer
stopped by a signal releases its lock (preemption.py).

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
import threading
import time
import uuid

from absl import logging
import tensorflow as tf

from youtube8m.common import utils

FILENAME = ".train.lock"
DEFAULT_STALE_SECS = 600.0
_GCS_SETTLE_SECS = 1.0


def boot_id():
  """This machine's boot id (Linux), or "" where there is none."""
  try:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
      return f.read().strip()
  except OSError:
    return ""


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
    self._started = None
    self._write_lock = threading.Lock()  # the heartbeat thread writes too
    self._stop_beating = threading.Event()
    self._beater = None
    self._lost = None  # the holder that took the lock from us, if any

  def _content(self, started):
    return json.dumps({"host": socket.gethostname(), "boot_id": boot_id(),
                       "pid": os.getpid(), "token": self.token,
                       "started": started, "heartbeat": time.time()})

  def _read(self):
    try:
      with tf.io.gfile.GFile(self.path, "r") as f:
        return json.loads(f.read())
    except (tf.errors.NotFoundError, FileNotFoundError):
      return None
    except ValueError:
      return {}  # half-written or foreign: judged by its age below

  def _is_stale(self, holder):
    same_machine = (holder.get("host") == socket.gethostname() and
                    holder.get("boot_id", boot_id()) == boot_id())
    if (same_machine and isinstance(holder.get("pid"), int) and
        not isinstance(holder.get("pid"), bool) and
        not _pid_alive(holder["pid"])):
      return True
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
    """Takes the lock; Yt8mError if another trainer holds it, or if
    train_dir is not writable (read-only, no permission)."""
    try:
      return self._acquire()
    except (OSError, tf.errors.OpError) as e:
      raise utils.Yt8mError(
          f"--train_dir={os.path.dirname(self.path)} is not writable "
          f"({utils.os_reason(e)}): training writes its checkpoints there; "
          "give a directory you can write") from e

  def _acquire(self):
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
      self._start_beating()
      return self
    self._refuse(self._read() or {})

  def _start_beating(self):
    self._stop_beating.clear()
    self._beater = threading.Thread(target=self._beat, daemon=True,
                                    name="train-lock-heartbeat")
    self._beater.start()

  def _beat(self):
    while not self._stop_beating.wait(self.stale_secs / 4):
      try:
        self._write_beat()
      except utils.Yt8mError:
        return  # lost: the loop's next refresh() says so
      except (tf.errors.OpError, OSError) as e:
        logging.warning("could not refresh the lock %s: %s", self.path, e)

  def _write_beat(self):
    with self._write_lock:
      if not self._held:
        return
      holder = self._read() or {}
      if holder.get("token") != self.token:
        self._lost = holder
        raise utils.Yt8mError(
            f"lost the lock {self.path} to pid {holder.get('pid')} on "
            f"{holder.get('host')}: two trainers share this --train_dir")
      with tf.io.gfile.GFile(self.path, "w") as f:
        f.write(self._content(holder.get("started", time.time())))
      self._last_beat = time.time()

  def refresh(self, force=False):
    """Rewrites the heartbeat (cheap to call often; writes at most every
    stale_secs / 4 unless forced); raises Yt8mError if the lock was lost."""
    if not self._held:
      return
    if self._lost is not None or force or (
        time.time() - self._last_beat >= self.stale_secs / 4):
      self._write_beat()

  def release(self):
    self._stop_beating.set()
    if self._beater is not None:
      self._beater.join()
      self._beater = None
    with self._write_lock:
      if self._held and (self._read() or {}).get("token") == self.token:
        tf.io.gfile.remove(self.path)
      self._held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()
    return False
