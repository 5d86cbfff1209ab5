"""The suite's measurements; each returns figures with their baselines.

Every figure is `figure(name, value, unit, baseline_name, baseline_value)`,
both measured in the same run, trials interleaved so that noise on a shared
machine hits both alike (`best_rates`). A case that depends on another's
result (input_vs_model on the train step) reuses it from `context.results`.
"""

import os
import time

import numpy as np
import tensorflow as tf

from youtube8m import models
from youtube8m.benchmarks import pipelines
from youtube8m.benchmarks import steps
from youtube8m.data import readers

FRAME_MODELS = ("NeXtVLADModel", "TransformerModel")  # when registered


def figure(name, value, unit, baseline_name, baseline_value, note=""):
  """One figure of the JSON: value beside its baseline and their ratio."""
  return {"name": name, "value": round(float(value), 3), "unit": unit,
          "baseline": {"name": baseline_name,
                       "value": round(float(baseline_value), 3)},
          "ratio": round(float(value) / max(float(baseline_value), 1e-12), 4),
          "note": note}


def _wait(result):
  for leaf in tf.nest.flatten(result):
    np.asarray(leaf)


def best_rates(runs, examples, seconds, trials):
  """Best items/s of each no-argument call in `runs` ({name: call}), each
  call handling `examples` items; ~`seconds` a trial, trials interleaved.
  The first two calls (tracing, compiling) are not timed."""
  calls = {}
  for name, run in runs.items():
    _wait(run())
    start = time.perf_counter()
    _wait(run())
    calls[name] = max(1, int(seconds / max(time.perf_counter() - start,
                                           1e-6)))
  best = dict.fromkeys(runs, 0.0)
  for _ in range(trials):
    for name, run in runs.items():
      start = time.perf_counter()
      for _ in range(calls[name] - 1):
        run()
      _wait(run())
      best[name] = max(best[name], examples * calls[name] /
                       (time.perf_counter() - start))
  return best


def mixed_policy():
  """mixed_float16 on a GPU; mixed_bfloat16 on a CPU (float16 matmuls are
  not what CPUs are fast at)."""
  return ("mixed_float16" if tf.config.list_physical_devices("GPU")
          else "mixed_bfloat16")


def frame_models():
  """(models timed, notes): NeXtVLAD, and the Transformer when registered."""
  names = models.registered_names()
  present = [m for m in FRAME_MODELS if m in names]
  notes = [f"{m} is not registered in this version: not timed"
           for m in FRAME_MODELS if m not in names]
  return present, notes


def _train_variants(model, mixed):
  """{variant: (precision, jit)} of a model's train step."""
  jit_ok = getattr(models.get_model_class(model), "jit_compile", True)
  variants = {}
  for precision in ("float32", mixed):
    for jit in ((True, False) if jit_ok else (False,)):
      variants[f"{precision}/{'xla' if jit else 'no_xla'}"] = (precision,
                                                                 jit)
  return variants


def train_steps(context):
  """Frame-level train step in float32 and mixed precision, with and
  without XLA, against the matmul work bound of its precision."""
  sizes, figures = context.sizes, []
  present, notes = frame_models()
  context.notes.extend(notes)
  mixed = mixed_policy()
  rates = {"float32": steps.matmul_rate_step(tf.float32),
           mixed: steps.matmul_rate_step(
               tf.float16 if mixed == "mixed_float16" else tf.bfloat16)}
  for n, model_name in enumerate(present):
    if n and context.remaining() < context.case_cost / len(present):
      context.notes.append(f"train_step: {model_name} not timed, the "
                           "budget ran out")
      break
    runs, flops = {}, None
    for variant, (precision, jit) in _train_variants(model_name,
                                                     mixed).items():
      run, model, data = steps.train_step(
          model_name, sizes.batch, sizes.feature_size, sizes.classes, True,
          sizes.frames, dict(sizes.model_flags),
          "" if precision == "float32" else precision, jit_compile=jit)
      runs[variant] = run
      if flops is None:
        flops, _ = steps.forward_matmul_flops(model, data)
    for precision, (rate_fn, _) in rates.items():
      runs[f"matmul/{precision}"] = rate_fn
    best = best_rates(runs, sizes.batch, sizes.trial_seconds, sizes.trials)
    for precision, (_, rate_flops) in rates.items():
      # The matmul calls' rate in flops/s -> examples/s of this model.
      flops_per_s = best[f"matmul/{precision}"] / sizes.batch * rate_flops
      best[f"bound/{precision}"] = flops_per_s / (2 * flops / sizes.batch)
    context.results.setdefault("train_step", {})[model_name] = best
    for variant, (precision, _) in _train_variants(model_name,
                                                   mixed).items():
      figures.append(figure(
          f"train_step/{model_name}/{variant}", best[variant], "examples/s",
          f"matmul work bound ({precision})", best[f"bound/{precision}"],
          "bound: the model's matmul flops (x2 for the weight gradients) "
          "at the rate of bare [4096,1024]x[1024,1024] matmuls"))
  return figures


def padding(context):
  """Train step on short videos padded to the batch's longest (rounded up
  to readers.PAD_MULTIPLE) against padded to max_frames."""
  sizes, figures = context.sizes, []
  rng = np.random.default_rng(0)
  low, high = max(1, sizes.frames // 5), max(2, sizes.frames * 2 // 5)
  lengths = rng.integers(low, high + 1, sizes.batch)
  longest = min(sizes.frames, -(-int(lengths.max()) // readers.PAD_MULTIPLE)
                * readers.PAD_MULTIPLE)
  if longest == sizes.frames:
    context.notes.append("padding: the short videos pad to max_frames "
                         "anyway; nothing to compare")
    return figures
  for model_name in ("NeXtVLADModel", "NetVLADModel",
                     "FrameLevelLogisticModel"):
    runs = {}
    for frames in (longest, sizes.frames):
      run, _, _ = steps.train_step(
          model_name, sizes.batch, sizes.feature_size, sizes.classes, True,
          frames, dict(sizes.model_flags), lengths=lengths)
      runs[frames] = run
    best = best_rates(runs, sizes.batch, sizes.trial_seconds, sizes.trials)
    figures.append(figure(
        f"padding/{model_name}", best[longest], "examples/s",
        f"padded to {sizes.frames} frames", best[sizes.frames],
        f"videos of {low}-{high} frames, padded to {longest}"))
  return figures


def _threads(dataset, threads):
  options = tf.data.Options()
  options.threading.private_threadpool_size = threads
  options.threading.max_intra_op_parallelism = 1
  return dataset.with_options(options)


def reader_scaling(context):
  """The frame reader (raw uint8, as training reads) with 1, 2 and all
  cores' threads, against parsing alone with the same threads."""
  sizes, figures = context.sizes, []
  pattern = context.frame_data()
  files = sorted(tf.io.gfile.glob(pattern))
  reader = readers.get_reader(True, sizes.classes, "rgb,audio",
                              ",".join(map(str, sizes.features)), raw=True)
  counts = sorted({1, 2, os.cpu_count() or 1})
  for threads in counts:
    rates = {}
    for name, make in (
        ("reader", lambda: readers.make_dataset(
            reader, pattern, sizes.batch, num_epochs=None, num_readers=8)),
        ("parse_only", lambda: pipelines.parse_only_dataset(
            files, ["rgb", "audio"], True, sizes.batch, 8))):
      rates[name] = max(pipelines.examples_per_second(
          _threads(make(), threads), sizes.trial_seconds)[0]
                        for _ in range(sizes.trials))
    context.results.setdefault("reader", {})[threads] = rates["reader"]
    figures.append(figure(
        f"reader/threads={threads}", rates["reader"], "examples/s",
        "parse only, same threads", rates["parse_only"],
        f"{sizes.frames}-frame videos, batch {sizes.batch}"))
  return figures


def input_vs_model(context):
  """Which limits training: the reader (all cores) or the model's step."""
  sizes = context.sizes
  reader = context.results.get("reader", {}).get(os.cpu_count() or 1)
  if reader is None:
    reader = reader_scaling_all(context)
  figures = []
  trained = dict(context.results.get("train_step", {}))
  for model_name in ("FrameLevelLogisticModel", "NeXtVLADModel"):
    if model_name not in trained:
      run, _, _ = steps.train_step(
          model_name, sizes.batch, sizes.feature_size, sizes.classes, True,
          sizes.frames, dict(sizes.model_flags))
      trained[model_name] = best_rates({"float32/xla": run}, sizes.batch,
                                       sizes.trial_seconds, sizes.trials)
    model_rate = trained[model_name]["float32/xla"]
    verdict = ("the input limits training" if reader < model_rate else
               "the model limits training")
    figures.append(figure(
        f"input_vs_model/{model_name}", reader, "examples/s",
        f"{model_name} train step (float32, XLA)", model_rate,
        f"{verdict}: reader / model = {reader / model_rate:.2f}"))
  return figures


def reader_scaling_all(context):
  """The reader's examples/s with every core (for input_vs_model)."""
  sizes = context.sizes
  reader = readers.get_reader(True, sizes.classes, "rgb,audio",
                              ",".join(map(str, sizes.features)), raw=True)
  rate = max(pipelines.examples_per_second(readers.make_dataset(
      reader, context.frame_data(), sizes.batch, num_epochs=None),
      sizes.trial_seconds)[0] for _ in range(sizes.trials))
  context.results.setdefault("reader", {})[os.cpu_count() or 1] = rate
  return rate
