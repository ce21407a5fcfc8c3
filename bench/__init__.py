"""The benchmark suite (``python -m bench``): writes docs/benchmarks.md. Not tests."""
