#!/usr/bin/env bash
# The ingest benchmark in one command: bench/ingest/run.sh [--full-soak] [--help for options]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${VENV:-.venv}/bin/python" -m bench.ingest "$@"
