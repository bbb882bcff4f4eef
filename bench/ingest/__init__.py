"""The ingest benchmark; see :mod:`bench.ingest.runner`."""
