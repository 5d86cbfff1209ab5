"""The suite's end-to-end cases: eval, inference and feature extraction,
each against its part that no pipeline can beat (the forward pass alone,
the network alone), measured in the same run."""

import io
import os
import shutil
import time

import numpy as np

from youtube8m.benchmarks import extraction
from youtube8m.benchmarks import suite_cases
from youtube8m.benchmarks import suite_setup
from youtube8m.data import submissions
from youtube8m.evaluation import eval_lib
from youtube8m.features import extraction_pipeline
from youtube8m.features import model_files
from youtube8m.models import forward
from youtube8m.prediction import inference_lib
from youtube8m.serving import predictors

figure = suite_cases.figure


def marginal_rate(run_once, run_twice, examples, trials):
  """(examples/s of a whole run past its fixed start-up cost, how).

  run_once() processes `examples` examples, run_twice() the same twice
  (two copies of the files); the difference of their times is what the
  extra `examples` cost, so the start-up (building the pipeline, the first
  batch, compilation) cancels. Best of `trials`. When the data is too
  small for the difference to show (it is not positive), the rate of the
  whole run_once, start-up included, is returned instead, and `how` says
  so.
  """
  run_once()  # compiles, warms the page cache
  best, whole = 0.0, 0.0
  for _ in range(trials):
    start = time.perf_counter()
    run_once()
    once = time.perf_counter() - start
    whole = max(whole, examples / once)
    start = time.perf_counter()
    run_twice()
    twice = time.perf_counter() - start
    if twice > once:
      best = max(best, examples / (twice - once))
  if best:
    return best, "past its start-up (2 x minus 1 x the videos)"
  return whole, "start-up included (too little data to subtract it)"


def _evaluator(directory, flags, pattern, batch_size):
  """eval.py's evaluator with --xla (what the figures time)."""
  config = eval_lib.EvalConfig(train_dir=directory,
                               eval_data_pattern=pattern,
                               batch_size=batch_size, run_once=True, xla=True)
  return eval_lib.Evaluator.from_config(config, flags)[0]


def _eval_figures(context, label, flags, patterns, batch_size, videos):
  """Eval's step and whole pass against the compiled forward alone.

  patterns: the data once and twice (marginal_rate)."""
  sizes = context.sizes
  directory = suite_setup.train_dir(context.path(f"run_{label}"), flags)
  evaluator = _evaluator(directory, flags, patterns[0], batch_size)
  twice = _evaluator(directory, flags, patterns[1], batch_size)
  twice.model = evaluator.model  # the same weights and compiled step
  twice.step = evaluator.step
  batch = next(iter(evaluator.dataset_fn()))
  predict = forward.predictions_fn(evaluator.model, xla=True)
  uncompiled = forward.predictions_fn(evaluator.model)
  best = suite_cases.best_rates(
      {"forward": lambda: predict(batch),
       "uncompiled": lambda: uncompiled(batch),
       "step": lambda: evaluator.step(batch)["loss"]},
      batch_size, sizes.trial_seconds, sizes.trials)
  whole, how = marginal_rate(lambda: evaluator.run(1),
                             lambda: twice.run(1), videos,
                             min(sizes.trials, 2))
  context.results.setdefault("forward", {})[label] = best["forward"]
  return [
      figure(f"forward/{label}/xla", best["forward"], "examples/s",
             "the same forward uncompiled", best["uncompiled"],
             "what --xla gives eval.py and inference.py (off by default: "
             "the uncompiled pass gives earlier versions' bits)"),
      figure(f"eval_step/{label}", best["step"], "examples/s",
             "compiled forward alone", best["forward"],
             "the step adds the loss, the top-k summary and its transfer"),
      figure(f"eval/{label}", whole, "examples/s", "compiled forward alone",
             best["forward"], "eval.py's pass (reading, the step, the "
             f"metrics), {how}")]


def eval_and_inference(context):
  """Eval (frame NeXtVLAD, video LogisticModel) and inference end to end."""
  sizes = context.sizes
  frames = _once_and_twice(context, context.frame_data())
  figures = _eval_figures(context, "NeXtVLADModel",
                          sizes.flags("NeXtVLADModel"), frames, sizes.batch,
                          sizes.videos)
  video_count = 8 * sizes.video_batch
  figures += _eval_figures(
      context, "LogisticModel", sizes.flags("LogisticModel", frame=False),
      _once_and_twice(context, suite_setup.write_video_data(
          context.path("video"), sizes, video_count)),
      sizes.video_batch, video_count)
  # Inference's loop (predict, check and format the CSV rows), with one
  # predictor, so that compiling it is not part of either run.
  config = inference_lib.InferenceConfig(
      train_dir=context.path("run_NeXtVLADModel"), batch_size=sizes.batch,
      xla=True)
  predictor = predictors.make_predictor(config)

  def infer(pattern):
    out = io.StringIO()
    for ids, classes, scores in predictor.batches(pattern, sizes.batch):
      out.write(submissions.format_rows(
          submissions.csv_video_ids(ids, "x"), classes, scores, "x"))
    return out.tell()
  whole, how = marginal_rate(lambda: infer(frames[0]),
                             lambda: infer(frames[1]), sizes.videos,
                             min(sizes.trials, 2))
  figures.append(figure(
      "inference/NeXtVLADModel", whole, "examples/s",
      "compiled forward alone", context.results["forward"]["NeXtVLADModel"],
      f"inference.py's loop (reading, the forward, the CSV rows), {how}"))
  figures.append(_csv_rows(sizes))
  return figures


def _once_and_twice(context, pattern):
  """(pattern, pattern of the same files twice) for marginal_rate."""
  directory = os.path.dirname(pattern)
  copy = directory + "_copy"
  if not os.path.isdir(copy):
    shutil.copytree(directory, copy)
  return pattern, f"{pattern},{os.path.join(copy, os.path.basename(pattern))}"


def _csv_rows(sizes, rows=4096, top_k=20):
  """The batch CSV formatting against one Python format per row."""
  rng = np.random.default_rng(0)
  ids = [f"v{n:06d}" for n in range(rows)]
  classes = rng.integers(0, sizes.classes, (rows, top_k)).astype(np.int32)
  scores = rng.random((rows, top_k)).astype(np.float32)

  def one_by_one():
    return "".join(submissions.format_row(v, c, s)
                   for v, c, s in zip(ids, classes, scores))
  best = suite_cases.best_rates(
      {"batch": lambda: submissions.format_rows(ids, classes, scores, "x"),
       "rows": one_by_one}, rows, sizes.trial_seconds, sizes.trials)
  return figure("inference/csv_rows", best["batch"], "rows/s",
                "one Python format per row", best["rows"],
                f"top {top_k} pairs a row, byte-identical output")


def extraction_pipeline_case(context):
  """Extraction frames/s against the network alone on the same frames."""
  sizes = context.sizes
  model_dir = context.path("inception")
  os.makedirs(model_dir, exist_ok=True)
  macs = extraction.standin_graph(
      os.path.join(model_dir, model_files.INCEPTION_GRAPH),
      size=sizes.image_size)
  extraction.standin_pca(model_dir)
  video = context.path("clip.mp4")
  extraction.synthetic_video(video, sizes.video_seconds)
  extractor = extraction_pipeline.Extractor.from_model_dir(model_dir,
                                                         download=False)
  batches = extraction.frames_of(video, 32)
  extractor.inception(batches[0])  # warm up
  best = {"network": 0.0, "pipeline": 0.0}
  for trial in range(max(2, sizes.trials)):
    best["network"] = max(best["network"], extraction.network_rate(
        extractor, batches, 2)[0])
    best["pipeline"] = max(best["pipeline"], extraction.pipeline_rate(
        extractor, video, 2, context.path(f"out{trial}.tfrecord"), 32)[0])
  return [figure("extraction/pipeline", best["pipeline"], "frames/s",
                 "the network alone", best["network"],
                 f"stand-in Inception-v3 at {sizes.image_size}x"
                 f"{sizes.image_size} ({macs / 1e9:.2f} GMAC a frame), "
                 "decoding, PCA, quantization and writing")]
