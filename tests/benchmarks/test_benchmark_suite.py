"""The benchmark suite on this CPU with a tiny budget: its JSON and table."""

import json
import subprocess
import sys

import pytest

from youtube8m.benchmarks import suite
from youtube8m.benchmarks import suite_end_to_end
from youtube8m.common import utils


def test_a_tiny_budget_runs_what_fits_and_writes_the_json(tmp_path):
  output = tmp_path / "out" / "results.json"
  result = subprocess.run(
      [sys.executable, "-m", "youtube8m.benchmark", "suite",
       f"--output={output}", "--budget_minutes=1"],
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(output.read_text())
  machine = report["machine"]
  assert machine["tensorflow"] and machine["cpu_cores"] >= 1
  assert machine["devices"] == []  # no GPU here: the CPU preset, tiny
  assert report["sizes"]["name"] == "tiny"
  assert report["figures"], report
  for fig in report["figures"]:
    assert fig["value"] > 0 and fig["baseline"]["value"] > 0, fig
    assert abs(fig["ratio"] - fig["value"] / fig["baseline"]["value"]) < (
        1e-3 * fig["ratio"] + 1e-4)
    assert fig["unit"] and fig["baseline"]["name"] and fig["case"]
  ran = {fig["case"] for fig in report["figures"]}
  skipped = {s["case"] for s in report["skipped"]}
  # Every case either ran, was skipped for the budget, or failed (named).
  assert ran | skipped | {e["case"] for e in report["errors"]} == {
      name for name, _, _ in suite.CASES}
  assert not report["errors"], report["errors"]
  assert "train_step" in ran and skipped  # 1 minute does not fit them all
  assert all("budget" in s["reason"] for s in report["skipped"])
  assert report["seconds"]["total"] > 0
  # The table names every figure; the JSON is complete on disk.
  for fig in report["figures"]:
    assert fig["name"] in result.stdout
  assert f"wrote {output}" in result.stdout


def test_marginal_rate_subtracts_the_start_up():
  calls = []

  def run(copies):
    def go():
      calls.append(copies)
      total = 0
      for _ in range(copies * 200_000):  # work per copy, plus a fixed part
        total += 1
      return total
    return go
  rate, how = suite_end_to_end.marginal_rate(run(1), run(2), 100, 1)
  assert rate > 0 and "start-up" in how
  assert calls == [1, 1, 2]


def test_unknown_cases_are_named(tmp_path):
  with pytest.raises(utils.Yt8mError, match="--cases: unknown warp"):
    suite.run(str(tmp_path / "r.json"), 1, ["train_step", "warp"])
  assert not (tmp_path / "r.json").exists()
