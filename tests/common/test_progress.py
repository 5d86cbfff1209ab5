"""progress.py: planned steps from both limits, rate and ETA."""

import time

import pytest

from youtube8m.common import progress


@pytest.mark.parametrize("epochs, size, batch, max_steps, total, why", [
    (5, 2000, 128, None, 79, "--num_epochs=5"),  # ceil(10000 / 128)
    (5, 2000, 128, 20, 20, "--max_steps"),
    (5, 500, 128, 200, 20, "more than the epochs allow"),
    (None, None, 128, 7, 7, "--max_steps"),
    (None, None, 128, None, None, "no limit"),
    (2, None, 128, None, None, "the end of the data"),
])
def test_planned_steps(epochs, size, batch, max_steps, total, why):
  got, reason = progress.planned_steps(epochs, size, batch, max_steps)
  assert got == total and why in reason


def test_rate_and_eta_ignore_the_first_step():
  meter = progress.Progress(total=100, start=0, per_unit=10)
  meter.update(1, now=0.0)  # the first step: tracing, not a rate
  assert meter.rate is None and "ETA" not in meter.describe()
  meter.update(11, now=1.0)  # 10 steps/s
  assert meter.rate == pytest.approx(10)
  assert meter.eta_seconds() == pytest.approx(8.9)
  assert meter.describe() == "step 11/100 | 100 ex/s | ETA 0h00m08s"
  meter.update(31, now=2.0)  # 20 steps/s, smoothed
  assert meter.rate == pytest.approx(0.2 * 20 + 0.8 * 10)


def test_format_duration():
  assert progress.format_duration(3725) == "1h02m05s"
  assert progress.format_duration(-3) == "0h00m00s"


def test_heartbeat_speaks_only_when_the_lines_stop():
  reports = []
  with progress.Heartbeat(5.0, reports.append) as heartbeat:
    for _ in range(20):
      heartbeat.touch()
      time.sleep(0.01)
  assert not reports  # lines kept coming: nothing to add
  with progress.Heartbeat(0.1, reports.append):
    time.sleep(0.6)  # one long step, no line
  assert reports and all(seconds >= 0.1 for seconds in reports)
  # Once per `every` while the silence lasts, not once per check.
  assert len(reports) <= 6
