#!/usr/bin/env bash
# Build every libFuzzer target (fuzz/fuzz_<name>.cpp, listed in fuzz/CMakeLists.txt) with clang,
# ASan and UBSan into build-fuzz/, then run each for N seconds.
#   scripts/fuzz.sh [--seconds N] [--build-only] [NAME...]     (NAME without "fuzz_"; default: all)
# Seeds: fuzz/seeds/<name>/ (committed). Corpora: fuzz/corpus/<name>/ (git-ignored).
# Crashes: build-fuzz/artifacts/<name>/ ; the script exits non-zero if any target fails.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=60
BUILD_ONLY=0
NAMES=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="$2"; shift ;;
    --build-only) BUILD_ONLY=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) NAMES+=("$1") ;;
  esac
  shift
done

CC=$(command -v clang-14 || command -v clang || true)
CXX=$(command -v clang++-14 || command -v clang++ || true)
if [[ -z "$CC" || -z "$CXX" ]]; then
  echo "fuzz.sh: clang/clang++ not found (apt-get install clang libclang-rt-dev)" >&2
  exit 2
fi
if [[ ! -f assets/qwen3-tokenizer/tokenizer.json ]]; then
  echo "fuzz.sh: assets/qwen3-tokenizer/tokenizer.json missing: run scripts/setup.sh --no-build" >&2
  exit 2
fi

FLAGS="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -g -Wno-unknown-warning-option"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_CXX_FLAGS="$FLAGS" \
  -DTT_BUILD_FUZZ=ON -DTT_SANITIZE=ON -DTT_BUILD_TESTS=OFF -DTT_BUILD_BENCH=OFF -DTT_ENABLE_CUDA=OFF \
  >build-fuzz.configure.log 2>&1 || { cat build-fuzz.configure.log >&2; exit 1; }
rm -f build-fuzz.configure.log
cmake --build build-fuzz -j 2 --target tt_fuzzers
[[ $BUILD_ONLY -eq 1 ]] && exit 0

status=0
ran=0
for exe in build-fuzz/fuzzers/fuzz_*; do
  [[ -x "$exe" ]] || continue
  name=${exe##*/fuzz_}
  if [[ ${#NAMES[@]} -gt 0 ]] && [[ ! " ${NAMES[*]} " == *" $name "* ]]; then continue; fi
  corpus=fuzz/corpus/$name
  artifacts=build-fuzz/artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  dirs=("$corpus")
  [[ -d fuzz/seeds/$name ]] && dirs+=("fuzz/seeds/$name")
  echo "[fuzz] $name for ${SECONDS_PER_TARGET}s" >&2
  if ! "$exe" -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${dirs[@]}" >"build-fuzz/$name.log" 2>&1; then
    echo "[fuzz] $name FAILED (log: build-fuzz/$name.log, inputs: $artifacts/)" >&2
    tail -40 "build-fuzz/$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "build-fuzz/$name.log" | tail -2 >&2 || true
  fi
  ran=$((ran + 1))
done
if [[ $ran -eq 0 ]]; then
  echo "fuzz.sh: no fuzz targets matched ${NAMES[*]:-}" >&2
  exit 2
fi
exit $status
