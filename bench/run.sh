#!/usr/bin/env bash
# make bench: every benchmark, results in bench/results/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
./backfill.sh
