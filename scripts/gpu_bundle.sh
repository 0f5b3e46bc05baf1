#!/usr/bin/env bash
# Builds the CUDA binaries on this machine (nvcc compiles for sm_<archs> without a GPU) and packs them into
# .carry/gpu/ (git-ignored) with everything they need, for a GPU machine that has the CUDA 13 toolkit but
# neither a package registry nor the Debian -dev packages: there, scripts/gpu_session.sh <stage> runs them
# from a copy of the checkout that includes .carry/.
#
#   scripts/gpu_bundle.sh [--build-dir build-cuda] [--archs 90] [--no-data]
#
# Contents (at most 60 MiB, checked): bundle.tar.xz (OpenBLAS alone is 36 MB unpacked; gpu_session.sh
# unpacks it into /tmp/tt-gpu-bundle), shared/, MANIFEST. In the archive:
#   libexec/ tiny-transformer, cuda_ops_test, cuda_train_test, cuda_trainer_test, cuda_train_bench
#            (Release, sm_<archs>, stripped)
#   bin/     a wrapper for each that runs it with lib/ on LD_LIBRARY_PATH
#   lib/     every shared library they load that is neither glibc nor the CUDA driver/toolkit (the image
#            has those): OpenBLAS, Oniguruma, utf8proc, expat, OpenSSL, Open MPI's libmpi (with libopen-rte,
#            libopen-pal, hwloc, libevent), compression libs, libstdc++ ... NCCL (218 MB) stays behind:
#            gpu_session.sh finds the image's (PyTorch's nvidia-nccl-cu13 wheel) and names it in
#            $TT_NCCL_LIB_DIR, which the wrappers put on the library path. One rank needs no MPI runtime
#            (no mpirun, no Open MPI plugins): MPI starts only under a launcher.
#   assets/  the Qwen3 tokenizer (bin/../assets/qwen3-tokenizer is the binary's default)
#   shared/  the 2014 + 2015 Wikipedia intros of ../shared/data (the GPU demo's data; ../shared does not travel)
#   MANIFEST the commit, the source directory the test binaries were built in (they read fixtures from
#            it; gpu_session.sh links it to the device's checkout), sizes and sha256 sums
# Why prebuilt: the build needs a dozen Debian -dev packages the GPU machine lacks, and compiling there would
# spend GPU time. DESIGN.md, "Running on a GPU".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=build-cuda ARCHS=90 WITH_DATA=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) BUILD_DIR="$2"; shift ;;
    --archs) ARCHS="$2"; shift ;;
    --no-data) WITH_DATA=0 ;;
    *) echo "gpu_bundle.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "[gpu_bundle] $*" >&2; }
LIMIT_BYTES=$((60 * 1024 * 1024))  # keeps the copy sent to the GPU machine, checkout included, under 64 MiB
BINS=(tiny-transformer tests/cuda/cuda_ops_test tests/cuda/cuda_train_test tests/cuda/cuda_trainer_test
  bench/cuda/cuda_train_bench)
SHARED=${TT_SHARED_DATA:-$ROOT/../shared/data}
DATA_FILES=(enwiki-2014-intros.tsv.xz enwiki-2015-intros.tsv.xz)

export PATH="/usr/local/cuda/bin:$PATH"
command -v nvcc >/dev/null || { echo "gpu_bundle.sh: nvcc not found (CUDA toolkit at /usr/local/cuda)" >&2; exit 1; }
[[ -f assets/qwen3-tokenizer/tokenizer.json ]] ||
  { echo "gpu_bundle.sh: assets/qwen3-tokenizer/tokenizer.json missing (run scripts/setup.sh)" >&2; exit 1; }

if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DTT_CUDA_ARCHS="$ARCHS" \
    -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc >/dev/null
fi
grep -q "^TT_CUDA_ARCHS:STRING=$ARCHS\$" "$BUILD_DIR/CMakeCache.txt" ||
  { echo "gpu_bundle.sh: $BUILD_DIR is not configured for sm_$ARCHS (TT_CUDA_ARCHS)" >&2; exit 1; }
log "building ${BINS[*]##*/} in $BUILD_DIR"
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${BINS[@]##*/}"
"$BUILD_DIR/tiny-transformer" --version | grep -q '^backends:.*cuda' ||
  { echo "gpu_bundle.sh: $BUILD_DIR/tiny-transformer has no CUDA backend" >&2; exit 1; }

mkdir -p .carry
STAGE=$(mktemp -d .carry/gpu.tmp.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/libexec" "$STAGE/lib" "$STAGE/assets" "$STAGE/shared"
# bin/X is a wrapper that puts lib/ on LD_LIBRARY_PATH for libexec/X only: exported for every process,
# our Debian 12 libstdc++/OpenSSL/zlib would shadow the image's newer ones under python3 and PyTorch.
for b in "${BINS[@]}"; do
  name=${b##*/}
  cp "$BUILD_DIR/$b" "$STAGE/libexec/"
  strip --strip-unneeded "$STAGE/libexec/$name"
  cat > "$STAGE/bin/$name" <<EOF
#!/bin/sh
here=\$(dirname "\$(readlink -f "\$0")")
LD_LIBRARY_PATH="\$here/../lib:\${TT_NCCL_LIB_DIR:+\$TT_NCCL_LIB_DIR:}/usr/local/cuda/lib64\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$here/../libexec/$name" "\$@"
EOF
  chmod +x "$STAGE/bin/$name"
done

# Shared libraries: what ldd resolves, minus glibc (the image's is newer than Debian 12's 2.36), the
# dynamic loader, and the CUDA driver/toolkit libraries (libcuda comes with the driver; cuBLAS/cuBLASLt
# of the same CUDA 13 major are in the image's toolkit and NCCL in its PyTorch; all are too big to carry).
is_system_lib() {
  case "$1" in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*) return 0 ;;
    libcuda.so*|libcudart.so*|libcublas.so*|libcublasLt.so*|libnccl.so*|libnvidia-*) return 0 ;;
  esac
  return 1
}
declare -A seen=()
for b in "$STAGE"/libexec/*; do
  while read -r name _ path _; do
    [[ -n ${seen[$name]:-} ]] && continue
    seen[$name]=1
    is_system_lib "$name" && continue
    [[ $path == /* && -f $path ]] || { echo "gpu_bundle.sh: $b needs $name, not found here" >&2; exit 1; }
    cp -L "$path" "$STAGE/lib/$name"
  done < <(ldd "$b" | awk '/=>/ {print $1, $2, $3, $4}')
done
# OpenBLAS loads its per-architecture kernels from its own file; nothing else is dlopen()ed.

mkdir -p "$STAGE/assets/qwen3-tokenizer"
cp assets/qwen3-tokenizer/* "$STAGE/assets/qwen3-tokenizer/"
if [[ $WITH_DATA -eq 1 ]]; then
  for f in "${DATA_FILES[@]}"; do
    [[ -f $SHARED/$f ]] || { echo "gpu_bundle.sh: $SHARED/$f missing (set TT_SHARED_DATA)" >&2; exit 1; }
    cp "$SHARED/$f" "$STAGE/shared/"
  done
fi

{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- src tests bench CMakeLists.txt || echo ' (with uncommitted changes)')"
  echo "built $(date -u +%FT%TZ) on $(uname -n), $(g++ --version | head -1), $(nvcc --version | tail -1)"
  echo "source_dir $ROOT"
  echo "build_dir $ROOT/$BUILD_DIR"
  echo "archs $ARCHS"
  (cd "$STAGE" && find . -type f ! -name MANIFEST | sort | xargs sha256sum)
} > "$STAGE/MANIFEST"

log "unpacked: $(du -sh "$STAGE" | cut -f1) ($(ls "$STAGE/lib" | wc -l) libraries); compressing"
tar -C "$STAGE" -cf - MANIFEST bin libexec lib assets | xz -T0 -6 > "$STAGE/bundle.tar.xz"
rm -rf "$STAGE/bin" "$STAGE/libexec" "$STAGE/lib" "$STAGE/assets"
bytes=$(du -sb "$STAGE" | cut -f1)
log "bundle: $((bytes / 1024 / 1024)) MiB"
du -sh "$STAGE"/* >&2
((bytes <= LIMIT_BYTES)) ||
  { echo "gpu_bundle.sh: bundle is $bytes bytes, over the $LIMIT_BYTES-byte limit" >&2; exit 1; }
rm -rf .carry/gpu
mv "$STAGE" .carry/gpu
trap - EXIT
log "wrote .carry/gpu; on the GPU machine, from the checkout with .carry/: scripts/gpu_session.sh tests bench (stages: scripts/gpu_session.sh)"
