#!/usr/bin/env bash
# One command for a GPU machine: configure + build the CUDA backend, its tests and its benchmark
# (Ninja, sm_90 by default), run the gpu-labelled tests, then the training-step benchmark.
# Logs go to $OUT if set (else build-gpu/logs): configure.log, build.log, ctest.log, bench.txt,
# bench.json, nvidia-smi.txt. Exit status: non-zero if the build or any gpu test fails.
#   scripts/gpu_check.sh [--archs 90] [--build-dir build-gpu] [--no-bench] [--bench-args "..."] [--sanitize]
# --sanitize additionally runs the op test under compute-sanitizer (memcheck, then racecheck on the
# attention/CE/norm cases) into sanitize-*.log.
set -uo pipefail
cd "$(dirname "$0")/.."

ARCHS=90
BUILD_DIR=build-gpu
RUN_BENCH=1
BENCH_ARGS=""
SANITIZE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --archs) ARCHS="$2"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --no-bench) RUN_BENCH=0 ;;
    --bench-args) BENCH_ARGS="$2"; shift ;;
    --sanitize) SANITIZE=1 ;;
    *) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
LOG_DIR="${OUT:-$BUILD_DIR/logs}"
mkdir -p "$LOG_DIR"
log() { echo "[gpu_check] $*" | tee -a "$LOG_DIR/summary.txt" >&2; }

export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi > "$LOG_DIR/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed (no driver?)"
log "$(date -u +%FT%TZ) $(git rev-parse --short=12 HEAD 2>/dev/null || echo '?') nvcc: $(nvcc --version 2>/dev/null | tail -1)"

GEN=(-G Ninja)
command -v ninja >/dev/null || { log "ninja not found, using Makefiles"; GEN=(); }
if ! cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DTT_CUDA_ARCHS="$ARCHS" \
    -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc > "$LOG_DIR/configure.log" 2>&1; then
  log "configure FAILED (see configure.log)"; tail -20 "$LOG_DIR/configure.log" >&2; exit 1
fi
start=$(date +%s)
if ! cmake --build "$BUILD_DIR" -j "$(nproc)" --target cuda_ops_test cuda_train_test cuda_train_bench \
    > "$LOG_DIR/build.log" 2>&1; then
  log "build FAILED (see build.log)"; grep -E "error|FAILED" "$LOG_DIR/build.log" | head -30 >&2; exit 1
fi
log "build ok in $(( $(date +%s) - start )) s"

status=0
if ctest --test-dir "$BUILD_DIR" -L gpu --output-on-failure --timeout 900 > "$LOG_DIR/ctest.log" 2>&1; then
  log "gpu tests: all passed"
else
  status=1
  log "gpu tests: FAILURES (see ctest.log)"
fi
grep -E "tests passed|tests failed|Skipped|\(Failed\)" "$LOG_DIR/ctest.log" | head -40 >&2

if [[ $SANITIZE -eq 1 ]]; then
  if command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD_DIR/tests/cuda/cuda_ops_test" \
      --gtest_filter='Ops/CudaOpTest.*' > "$LOG_DIR/sanitize-memcheck.log" 2>&1 \
      && log "memcheck: clean" || { status=1; log "memcheck: ERRORS (see sanitize-memcheck.log)"; }
    compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD_DIR/tests/cuda/cuda_ops_test" \
      --gtest_filter='Ops/CudaOpTest.*attention*:Ops/CudaOpTest.*lm_head*:Ops/CudaOpTest.*rmsnorm*' \
      > "$LOG_DIR/sanitize-racecheck.log" 2>&1 \
      && log "racecheck: clean" || { status=1; log "racecheck: ERRORS (see sanitize-racecheck.log)"; }
  else
    log "compute-sanitizer not found; skipped"
  fi
fi

if [[ $RUN_BENCH -eq 1 ]]; then
  # shellcheck disable=SC2086
  if "$BUILD_DIR/bench/cuda/cuda_train_bench" --json "$LOG_DIR/bench.json" $BENCH_ARGS > "$LOG_DIR/bench.txt" 2>&1; then
    log "benchmark ok"
  else
    status=1
    log "benchmark FAILED"
  fi
  cat "$LOG_DIR/bench.txt" >&2
fi
exit $status
