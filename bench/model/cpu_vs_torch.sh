#!/usr/bin/env bash
# The CPU backend's training step against PyTorch eager on the same box, in one run:
#   bench_model (fp32, and bf16 where the CPU has it) and bench/model/torch_step.py (fp32, bf16 autocast)
#   at the seed config (B·T = 2×512) and at qwen3_cpu_small (4×256).
# PyTorch "at its best": Debian's torch runs fp32 matmuls on OpenBLAS, whose kernels follow the CPU model
# (SSE3 on models it does not know), so each torch measurement is taken with OpenBLAS's own choice and with
# every core type the CPU can run (OPENBLAS_CORETYPE=Haswell / SkylakeX / Cooperlake), and the best counts.
# Each core type runs with glibc told to keep freed memory (TORCH_MALLOC below), and OpenBLAS's own choice also
# without: PyTorch allocates its step's large tensors afresh, glibc maps each one and unmaps it on free, and
# where page faults are dear (a KVM guest here) faulting them in again was ~89 % of PyTorch's step; keeping
# the memory, as jemalloc or tcmalloc would, made its step ~9x faster. Ours allocates its buffers once.
# Ours: the median of three runs (a run's steps vary by a few % on a shared VM, and whole runs by up to 20 %)
# of the mean over a run's timed steps; PyTorch's figure is its fastest single step, which favours it.
#   bench/model/cpu_vs_torch.sh [build dir] [steps]       (defaults: build 3)
# Prints one line per measurement and a summary table (whole step with the optimizer, tokens/s).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
STEPS=${2:-3}
PY=/usr/bin/python3
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
coretypes=(auto)  # auto: OPENBLAS_CORETYPE empty, OpenBLAS's own choice
has avx2 && coretypes+=(Haswell)
has avx512f && coretypes+=(SkylakeX)
has avx512_bf16 && coretypes+=(Cooperlake)
# glibc keeps freed memory: no mmap for large blocks, no trimming of the heap (mallopt(3) tunables).
TORCH_MALLOC=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824)
torch_runs=("auto default")
for ct in "${coretypes[@]}"; do torch_runs+=("$ct kept"); done
bf16=0
"$BUILD/bench/model/bench_model" configs/qwen3_test_tiny.json 1 8 1 bf16 >/dev/null 2>&1 && bf16=1

echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
  "load $(cut -d' ' -f1 /proc/loadavg), commit $(git rev-parse --short HEAD)"
summary=()
# The median over three runs of bench_model's whole-step tokens/s.
ours() {
  for _ in 1 2 3; do
    "$BUILD/bench/model/bench_model" "$@" | sed -n 's/.*with optimizer: \([0-9]*\) tokens\/s.*/\1/p'
  done | sort -n | sed -n 2p
}
for spec in "configs/qwen3_demo.json 2 512" "configs/qwen3_cpu_small.json 4 256"; do
  read -r cfg B T <<<"$spec"
  ours32=$(ours "$cfg" "$B" "$T" "$STEPS" f32)
  echo "ours fp32  $cfg ${B}x$T: $ours32 tokens/s"
  ours16=n/a
  if [[ $bf16 == 1 ]]; then
    ours16=$(ours "$cfg" "$B" "$T" "$STEPS" bf16)
    echo "ours bf16  $cfg ${B}x$T: $ours16 tokens/s"
  fi
  best32=0 best16=0 best32_at="" best16_at=""
  for run in "${torch_runs[@]}"; do
    read -r ct malloc <<<"$run"
    malloc_env=()
    [[ $malloc == kept ]] && malloc_env=("${TORCH_MALLOC[@]}")
    out=$(env "${malloc_env[@]}" OPENBLAS_CORETYPE="${ct/#auto/}" $PY bench/model/torch_step.py --config "$cfg" \
      --batch "$B" --seq "$T" --steps "$STEPS" --bf16 2>/dev/null | tail -1)
    t32=$($PY -c 'import json,sys; print(int(json.loads(sys.argv[1])["fp32"]["tokens_per_s"]))' "$out")
    t16=$($PY -c 'import json,sys; print(int(json.loads(sys.argv[1])["bf16_autocast"]["tokens_per_s"]))' "$out")
    at="$ct, malloc $malloc"
    echo "torch fp32 / bf16 autocast $cfg ${B}x$T, OPENBLAS_CORETYPE=$at: $t32 / $t16 tokens/s"
    ((t32 > best32)) && best32=$t32 best32_at=$at
    ((t16 > best16)) && best16=$t16 best16_at=$at
  done
  ratio() { $PY -c "import sys; a, b = sys.argv[1:]; print('n/a' if 'n/a' in (a, b) else f'{float(a) / float(b):.2f}x')" "$1" "$2"; }
  summary+=("| $cfg, ${B}×$T | $ours32 | $ours16 | $best32 ($best32_at) | $best16 ($best16_at) | $(ratio "$ours32" "$best32") | $(ratio "$ours16" "$ours32") |")
done
echo
echo "| config, B×T | ours fp32 | ours bf16 | PyTorch fp32 (core type, malloc) | PyTorch bf16 autocast | ours fp32 / PyTorch fp32 | ours bf16 / ours fp32 |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
