"""The compaction benchmark: ``python -m bench.compaction`` (see runner.py)."""
