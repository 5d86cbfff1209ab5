"""Stopping training cleanly on SIGTERM, SIGINT and SIGHUP.

Vertex AI, Kubernetes and most batch schedulers send SIGTERM some seconds
before they stop a machine (a preemptible one included); Ctrl-C sends
SIGINT, a closed terminal SIGHUP. While train() runs, `Stopper` turns the
first of these into a request that the loop reads between steps: the step
in progress completes, its checkpoint is saved, the train_dir lock is
released, and train() raises `utils.Stopped`, which the command line logs
as one line and turns into exit status 128 + the signal's number (the
shell's convention for a process ended by a signal: 143 for SIGTERM, 130
for SIGINT, 129 for SIGHUP). The same command then resumes from that
checkpoint. A second signal while stopping stops at once, without saving
(the last checkpoint on disk stays the newest).

Multi-worker runs (MultiWorkerMirroredStrategy) save collectively, so every
worker must stop after the same step: there the workers sum their requests
with a one-number all-reduce after each step, and all stop when any was
signalled.
"""

import signal
import threading

import tensorflow as tf

from youtube8m.common import utils
from youtube8m.training import distribution

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT",
                                                   "SIGHUP")
                if hasattr(signal, name))


def signal_name(signum):
  try:
    return signal.Signals(signum).name
  except ValueError:
    return f"signal {signum}"


class Stopper:
  """Context manager: catches SIGNALS while training runs.

  Signal handlers can only be set from the main thread; elsewhere (a
  training started from a worker thread) nothing is caught and the
  signals keep their usual effect.
  """

  def __init__(self):
    self.signum = None
    self._previous = {}
    self._multi_worker = False

  def __enter__(self):
    self._multi_worker = distribution.num_tasks() > 1
    if threading.current_thread() is threading.main_thread():
      for signum in SIGNALS:
        # An ignored signal stays ignored (`nohup python train.py ...`).
        if signal.getsignal(signum) is not signal.SIG_IGN:
          self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}
    return False

  def _handle(self, signum, unused_frame):
    if self.signum is not None:
      raise utils.Stopped(
          f"stopped at once by a second {signal_name(signum)}, without "
          "saving; the same command resumes from the latest checkpoint",
          128 + signum)
    self.signum = signum

  def requested(self, strategy):
    """Whether to stop now (every worker of a multi-worker run agrees)."""
    if not self._multi_worker:
      return self.signum is not None
    mine = tf.constant(0 if self.signum is None else 1, tf.int32)
    total = strategy.reduce(tf.distribute.ReduceOp.SUM,
                            strategy.run(lambda: mine), axis=None)
    if int(total) > 0 and self.signum is None:
      self.signum = signal.SIGTERM  # another worker was signalled
    return int(total) > 0

  def stop(self, step, checkpoint):
    """Raises utils.Stopped for a run stopped after `step` and saved."""
    name = signal_name(self.signum)
    raise utils.Stopped(
        f"stopped by {name} after step {step}: saved {checkpoint}; run the "
        "same command to resume from it", 128 + self.signum)
