"""Honest progress: how far a run is, how fast it goes, when it ends.

`planned_steps` works out where training stops from both --num_epochs and
--max_steps; `Progress` turns steps (or examples) done into a log line part

  step 120/313 | 2,950 ex/s | ETA 0h01m05s

with the rate averaged over the recent past (the first step, which traces
and compiles, is left out), so the ETA does not jump with every step.
"""

import math
import threading
import time


def planned_steps(num_epochs, epoch_size, examples_per_step, max_steps):
  """(steps the run will take or None, why) from the two limits.

  Args:
    num_epochs: passes over the data, or None for no limit.
    epoch_size: examples in one pass, or None when not known yet.
    examples_per_step: global batch size.
    max_steps: --max_steps, or None.

  Returns:
    (total, reason): total steps (None: unknown, e.g. the epoch size is
    learned during the first pass) and a phrase saying which limit binds.
  """
  by_epochs = None
  if num_epochs and epoch_size:
    by_epochs = math.ceil(num_epochs * epoch_size / examples_per_step)
  if max_steps and by_epochs:
    if max_steps <= by_epochs:
      return max_steps, "--max_steps"
    return by_epochs, (f"--num_epochs={num_epochs:g}; --max_steps="
                       f"{max_steps} is more than the epochs allow")
  if max_steps:
    return max_steps, "--max_steps"
  if by_epochs:
    return by_epochs, f"--num_epochs={num_epochs:g}"
  return None, ("the end of the data" if num_epochs else "no limit")


def format_duration(seconds):
  seconds = max(0, int(seconds))
  return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s"


class Progress:
  """Rate and ETA of a counter (steps or examples) towards `total`.

  Args:
    total: where the counter ends, or None when unknown.
    start: the counter's value at the start (a resumed run's step).
    per_unit: examples per counter unit (global batch for steps), for the
      examples/s figure.
    smoothing: weight of the newest rate in the running average.
  """

  def __init__(self, total=None, start=0, per_unit=1, smoothing=0.2):
    self.total, self.per_unit, self.smoothing = total, per_unit, smoothing
    self._last_value, self._last_time = start, None
    self.rate = None  # units per second

  def update(self, value, now=None):
    """Records the counter's new value; returns self."""
    now = time.monotonic() if now is None else now
    if self._last_time is not None and value > self._last_value:
      rate = (value - self._last_value) / max(now - self._last_time, 1e-9)
      self.rate = rate if self.rate is None else (
          self.smoothing * rate + (1 - self.smoothing) * self.rate)
    # The first update only starts the clock: it includes tracing.
    self._last_value, self._last_time = value, now
    return self

  def eta_seconds(self):
    if not self.total or not self.rate:
      return None
    return max(0.0, (self.total - self._last_value) / self.rate)

  def describe(self, name="step"):
    """`step 120/313 | 2,950 ex/s | ETA 0h01m05s` (parts known so far)."""
    value = self._last_value
    parts = [f"{name} {value}/{self.total}" if self.total
             else f"{name} {value}"]
    if self.rate:
      parts.append(f"{self.rate * self.per_unit:,.0f} ex/s")
    eta = self.eta_seconds()
    if eta is not None:
      parts.append(f"ETA {format_duration(eta)}")
    return " | ".join(parts)


class Heartbeat:
  """Says that a long step is still running when no line came for a while.

  A batch of frame-level videos can take tens of seconds (the first one
  also compiles); without a line the run looks hung. Use as a context:
  `touch()` after each regular progress line; when `every` seconds pass
  without one, `report(seconds since the last line)` is called from a
  background thread (it should log one line), and again every `every`
  seconds while it lasts.
  """

  def __init__(self, every, report):
    self.every, self.report = float(every), report
    self._last = time.monotonic()
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True,
                                    name="yt8m-heartbeat")

  def touch(self):
    self._last = time.monotonic()

  def _run(self):
    reported = self._last
    while not self._stop.wait(min(1.0, self.every)):
      now = time.monotonic()
      since = max(self._last, reported)
      if now - since >= self.every:
        self.report(now - self._last)
        reported = now

  def __enter__(self):
    self._last = time.monotonic()
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    return False
