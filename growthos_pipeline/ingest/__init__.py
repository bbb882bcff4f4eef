"""Ingest: validate -> enrich -> write-ahead log (group-commit fsync) -> ack; later, the
flusher moves WAL segments into the Delta ``events`` table exactly once."""
