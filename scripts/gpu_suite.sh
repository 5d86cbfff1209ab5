#!/usr/bin/env bash
# The benchmark suite on a GPU machine, in one call of under 8 minutes.
#
#   bash scripts/gpu_suite.sh [OUTPUT_DIR]     (from the repository root)
#
# Writes OUTPUT_DIR (default: $OUT if set, else .) /results.json (every
# figure with its baseline, the GPU's name, TensorFlow's version),
# suite.txt (the table) and suite.log (stderr), plus gpu.txt
# (nvidia-smi). The suite stops starting cases at --budget_minutes and
# rewrites results.json after each case; `timeout` is the hard stop, so
# a cut-off run still leaves the cases it finished. Needs TensorFlow with
# GPU support (tensorflow[and-cuda] 2.17+) importable by `python`.
set -uo pipefail
out="${1:-${OUT:-.}}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
(nvidia-smi || true) > "$out/gpu.txt" 2>&1
if ! python -c 'import tensorflow as tf, sys; g = tf.config.list_physical_devices("GPU"); print("GPUs:", g); sys.exit(0 if g else 3)' >> "$out/gpu.txt" 2>&1; then
  echo "error: TensorFlow sees no GPU here (see $out/gpu.txt)" >&2
  exit 3
fi
timeout --signal=TERM --kill-after=10 450 \
  python -m youtube8m.benchmark suite --output="$out/results.json" \
    --budget_minutes=6 > "$out/suite.txt" 2> "$out/suite.log"
status=$?
cat "$out/suite.txt"
[ "$status" -eq 0 ] || echo "suite exited with $status; results.json holds the cases that finished" >&2
exit "$status"
