#!/usr/bin/env bash
# The compaction benchmark in one command: bench/compaction/run.sh [--segment-rows N] [--reps N]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${VENV:-.venv}/bin/python" -m bench.compaction "$@"
