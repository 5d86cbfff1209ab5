"""Benchmarks run by `python -m youtube8m.benchmark NAME`."""
