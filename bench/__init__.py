"""Benchmarks, run on demand (``make bench``); figures are appended to bench/RESULTS.md."""
