#!/usr/bin/env bash
# The test command (README, CI): set up and build, check formatting, run every test.
# Tests labelled `gpu` skip themselves with a message when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check_format.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
