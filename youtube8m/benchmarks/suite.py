r"""Every benchmark that fits a time budget, on the devices present.

  python -m youtube8m.benchmark suite --output=results.json \
      [--budget_minutes=7] [--cases=train_step,reader] [--preset=gpu|cpu|tiny]

Runs the cases below in order while the budget allows (each has an
estimated cost per preset; one that does not fit is skipped and listed),
and writes one JSON file: the machine (GPU names, CPU, cores, TensorFlow),
the sizes, and every figure with the baseline measured beside it in the
same run and their ratio. The file is rewritten after each case, so a run
cut short keeps what it measured. A short table goes to stdout.

Cases (docs/benchmarks.md explains each figure and its bound):
  train_step      frame-level NeXtVLAD (and TransformerModel when it is
                  registered) in float32 and mixed precision, with and
                  without XLA, against the matmul work bound of each
                  precision.
  reader          the frame reader with 1, 2 and all cores' threads, against
                  parsing alone with the same threads.
  input_vs_model  the reader with every core against the model's train
                  step: which one limits training, and by how much.
  eval_inference  the forward compiled (--xla) against uncompiled; eval's
                  step and whole pass, inference's whole pass (--xla),
                  against the compiled forward alone (frame NeXtVLAD,
                  video LogisticModel); the CSV formatting against one
                  Python format per row.
  padding         short videos padded to the batch's longest against padded
                  to max_frames (NeXtVLAD, NetVLAD, FrameLevelLogistic).
  extraction      feature extraction frames/s against the network alone.
Presets: gpu (batch 256, 300 frames of 1024 + 128 features, 3862 classes)
on a machine with a GPU, cpu (batch 32) without, tiny (toy shapes, every
case in about a minute) for a budget under 3 minutes.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time
import traceback

from absl import flags
from absl import logging

from youtube8m.benchmarks import suite_cases
from youtube8m.benchmarks import suite_end_to_end
from youtube8m.benchmarks import suite_setup
from youtube8m.common import checks
from youtube8m.common import outputs
from youtube8m.common import settings
from youtube8m.common import utils



@dataclasses.dataclass
class SuiteConfig:
  """Settings of the benchmark suite."""
  output: str = settings.setting("results.json", "Where the JSON goes.")
  budget_minutes: float = settings.setting(
      7.0, "Run the cases that fit this many minutes (on a GPU machine, 7 "
      "keeps one call under 8).", check=checks.positive)
  cases: str = settings.setting(
      "", "Comma-separated cases to run (default: all that fit).")
  preset: str = settings.setting(
      "", "gpu, cpu or tiny (default: from the devices and the budget).",
      check=checks.choice(("", "gpu", "cpu", "tiny")))


settings.define_flags(SuiteConfig)
FLAGS = flags.FLAGS

# (name, function, estimated seconds per preset, including compilation).
CASES = (
    ("train_step", suite_cases.train_steps,
     {"tiny": 25, "cpu": 420, "gpu": 150}),
    ("reader", suite_cases.reader_scaling, {"tiny": 8, "cpu": 40, "gpu": 40}),
    ("input_vs_model", suite_cases.input_vs_model,
     {"tiny": 10, "cpu": 70, "gpu": 30}),
    ("eval_inference", suite_end_to_end.eval_and_inference,
     {"tiny": 30, "cpu": 480, "gpu": 75}),
    ("padding", suite_cases.padding, {"tiny": 20, "cpu": 150, "gpu": 60}),
    ("extraction", suite_end_to_end.extraction_pipeline_case,
     {"tiny": 30, "cpu": 200, "gpu": 60}),
)


@dataclasses.dataclass
class Context:
  """What the cases share: sizes, a scratch directory, results, notes."""
  sizes: object
  directory: str
  deadline: float
  results: dict = dataclasses.field(default_factory=dict)
  notes: list = dataclasses.field(default_factory=list)
  case_cost: float = 0.0  # the running case's estimated seconds
  _frames: str = ""

  def path(self, name):
    return os.path.join(self.directory, name)

  def remaining(self):
    return self.deadline - time.monotonic()

  def frame_data(self):
    """The frame-level records the input cases read (written once)."""
    if not self._frames:
      self._frames = suite_setup.write_frame_data(self.path("frames"),
                                                  self.sizes)
    return self._frames


def _write(path, report):
  outputs.write_file(path, lambda f: f.write(json.dumps(report, indent=1)))


def _table(report):
  lines = [f"{'figure':44} {'value':>12} {'unit':12} {'ratio':>7}  "
           "baseline"]
  for fig in report["figures"]:
    lines.append(f"{fig['name']:44} {fig['value']:12.1f} {fig['unit']:12} "
                 f"{fig['ratio']:7.3f}  {fig['baseline']['name']} "
                 f"{fig['baseline']['value']:.1f}")
  for skipped in report["skipped"]:
    lines.append(f"skipped {skipped['case']}: {skipped['reason']}")
  for error in report["errors"]:
    lines.append(f"error in {error['case']}: {error['error']}")
  return "\n".join(lines)


def run(output, budget_minutes, names=(), preset=""):
  """Runs the suite; returns the report dict (also written to `output`)."""
  start = time.monotonic()
  sizes = suite_setup.preset(budget_minutes, preset)
  known = [name for name, _, _ in CASES]
  unknown = sorted(set(names) - set(known))
  if unknown:
    raise utils.Yt8mError(f"--cases: unknown {', '.join(unknown)}; the "
                          f"cases are {', '.join(known)}")
  report = {"suite": 1, "machine": suite_setup.machine(),
            "budget_minutes": budget_minutes,
            "sizes": dataclasses.asdict(sizes), "figures": [],
            "skipped": [], "errors": [], "notes": [], "seconds": {}}
  directory = tempfile.mkdtemp(prefix="yt8m-suite-")
  context = Context(sizes, directory, start + 60 * budget_minutes)
  try:
    for name, case, cost in CASES:
      if names and name not in names:
        continue
      if cost[sizes.name] > context.remaining():
        report["skipped"].append({"case": name, "reason": (
            f"needs about {cost[sizes.name]} s, {context.remaining():.0f} s "
            "of the budget left")})
        continue
      began = time.monotonic()
      context.case_cost = cost[sizes.name]
      try:
        figures = case(context)
        for fig in figures:
          fig["case"] = name
        report["figures"] += figures
      except Exception as e:  # pylint: disable=broad-except
        # One case failing (an out-of-memory GPU, a missing codec) must not
        # lose the others' figures.
        report["errors"].append({"case": name, "error": (
            utils.error_message(e) or f"{type(e).__name__}: {e}")[:2000]})
        logging.error("case %s failed:\n%s", name, traceback.format_exc())
      report["seconds"][name] = round(time.monotonic() - began, 1)
      report["notes"] = list(context.notes)
      _write(output, report)
  finally:
    shutil.rmtree(directory, ignore_errors=True)
  report["seconds"]["total"] = round(time.monotonic() - start, 1)
  _write(output, report)
  return report


def main(argv):
  del argv
  config = settings.validate(settings.from_flags(SuiteConfig))
  names = [n.strip() for n in config.cases.split(",") if n.strip()]
  # The cases' own progress lines would bury the table.
  logging.set_verbosity(logging.WARNING)
  report = run(config.output, config.budget_minutes, names, config.preset)
  machine = report["machine"]
  devices = ", ".join(d["name"] for d in machine["devices"]) or "no GPU"
  print(f"{devices}; {machine['cpu']} ({machine['cpu_cores']} cores); "
        f"TensorFlow {machine['tensorflow']}; preset "
        f"{report['sizes']['name']}; {report['seconds']['total']:.0f} s")
  print(_table(report))
  print(f"wrote {config.output}")
