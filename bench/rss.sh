#!/usr/bin/env bash
# Resident memory of the release binary with idle intercepted connections:
# bench/rss.sh [CONNECTIONS, default 2000] [CYCLES, default 5].
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench idle_rss -- --connections "${1:-2000}" --cycles "${2:-5}"
