#!/usr/bin/env bash
# Runs the proxy benchmark (release build): bench/run.sh [SECONDS per scenario, default 10].
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench proxy -- --duration "${1:-10}"
