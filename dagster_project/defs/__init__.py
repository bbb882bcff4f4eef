"""One module per domain; each exposes ``defs`` (merged by ``dagster_project.definitions``)."""
