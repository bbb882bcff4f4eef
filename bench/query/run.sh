#!/usr/bin/env bash
# The query benchmark in one command: bench/query/run.sh [--reps N] [--only NAME ...] [--help]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${VENV:-.venv}/bin/python" -m bench.query "$@"
