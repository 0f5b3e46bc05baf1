#!/usr/bin/env bash
# Runs on a GPU machine, from the checkout's root, with the bundle that scripts/gpu_bundle.sh wrote
# into .carry/gpu. Every stage that needs data prepares it itself, so a fresh machine with only the
# checkout and the bundle will do. Logs and results go to $OUT (default: gpu-session-out/).
#
#   scripts/gpu_session.sh STAGE...      stages run in order; the exit status is non-zero if any failed
#     check    nvidia-smi, the bundle's manifest, every binary's libraries resolved (always run first)
#     tests    cuda_ops_test (every op vs the CPU reference), cuda_train_test (20 steps GPU vs CPU,
#              cross-device checkpoints, KV-cache decoding), cuda_trainer_test (the training loop on
#              the GPU: resume equivalence, eval on CPU and GPU)                             ~1-2 min
#     sanitize compute-sanitizer memcheck on the op test, racecheck on attention / CE / RMSNorm  ~3 min
#     bench    bench/cuda/cuda_train_bench: seed config, B=32, T=512 (ms/step, tokens/s, MFU, memory)
#     dist     the data-parallel NCCL path on one GPU (TT_DIST_ONE_RANK=1: NCCL with one rank, the gradient
#              all-reduce on the stream between the recorded graphs) against the same run without it:
#              equal losses, run_info.json names NCCL, the step time of each                   ~1 min
#     demo     the README main job's GPU path (scripts/run_demo.sh) on the carried 2014+2015 intros,
#              train capped at $TT_DEMO_MINUTES (default 7)
#     parity   tools/hf_parity.py on runs/best (needs demo in the same call), against Transformers and
#              against tools/torch_qwen3.py (with negative controls): HF loads it, same loss,
#              same greedy text
#     sweep    scripts/lr_sweep.sh (needs data: run after demo, or it prepares it) with $TT_SWEEP_LRS,
#              $TT_SWEEP_STEPS (default "6e-4 1e-3 2e-3 3e-3", 1000)
#   e.g. scripts/gpu_session.sh tests bench
#        scripts/gpu_session.sh demo parity
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=$ROOT/.carry/gpu
OUT=${OUT:-$ROOT/gpu-session-out}
mkdir -p "$OUT"
log() { echo "[gpu_session] $(date -u +%T) $*" | tee -a "$OUT/summary.txt" >&2; }
status=0
fail() { status=1; log "FAILED: $*"; }

[[ -f $B/bundle.tar.xz ]] || { echo "gpu_session.sh: $B/bundle.tar.xz missing: run scripts/gpu_bundle.sh and carry .carry" >&2; exit 2; }
X=${TMPDIR:-/tmp}/tt-gpu-bundle  # the unpacked bundle (bin/ lib/ assets/ MANIFEST), outside the checkout so it is never carried back
if ! cmp -s "$B/MANIFEST" "$X/MANIFEST" 2>/dev/null; then
  rm -rf "$X" && mkdir -p "$X" && xz -d -T0 < "$B/bundle.tar.xz" | tar -C "$X" -xf - ||
    { echo "gpu_session.sh: could not unpack $B/bundle.tar.xz" >&2; exit 2; }
fi
# NCCL is not carried (gpu_bundle.sh): the image's PyTorch has it (the nvidia-nccl-cu13 wheel); the bin/ wrappers
# put $TT_NCCL_LIB_DIR on the library path.
if [[ -z ${TT_NCCL_LIB_DIR:-} ]]; then
  TT_NCCL_LIB_DIR=$(python3 -c 'import os, nvidia.nccl as m; print(os.path.join(list(m.__path__)[0], "lib"))' 2>/dev/null)
  [[ -f $TT_NCCL_LIB_DIR/libnccl.so.2 ]] || TT_NCCL_LIB_DIR=""
fi
export TT_NCCL_LIB_DIR
BUNDLE_LIBS="$X/lib:${TT_NCCL_LIB_DIR:+$TT_NCCL_LIB_DIR:}/usr/local/cuda/lib64"  # only for our binaries (bin/ wrappers, ldd, compute-sanitizer)
export PATH="/usr/local/cuda/bin:$PATH"
export TT_TOKENIZER_DIR="$X/assets/qwen3-tokenizer"
BIN=$X/bin/tiny-transformer

# The test binaries read fixtures (configs/, src/model/backend.h) from the directory they were built in;
# on this machine that is this checkout, so link it there when it is elsewhere.
SRC_BUILT=$(sed -n 's/^source_dir //p' "$B/MANIFEST")
if [[ -n $SRC_BUILT && $SRC_BUILT != "$ROOT" && ! -e $SRC_BUILT ]]; then
  mkdir -p "$(dirname "$SRC_BUILT")" && ln -s "$ROOT" "$SRC_BUILT" || log "could not link $SRC_BUILT -> $ROOT"
fi

stage_check() {
  cp "$B/MANIFEST" "$OUT/MANIFEST"
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || fail "nvidia-smi"
  log "$(head -2 "$B/MANIFEST" | tr '\n' ' ')"
  log "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"
  log "nccl: ${TT_NCCL_LIB_DIR:-not found in python3's nvidia.nccl (then the toolkit's /usr/local/cuda/lib64)}"
  log "os: $(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}'), $(python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1 | tail -1)"
  local missing=0 glibc
  glibc=$(ldd --version | head -1 | awk '{print $NF}')
  [[ $(printf '%s\n2.36\n' "$glibc" | sort -V | head -1) == 2.36 ]] ||
    log "glibc $glibc < 2.36, which the bundle (Debian 12) needs: build here instead (scripts/gpu_check.sh)"
  for b in "$X"/libexec/*; do
    if LD_LIBRARY_PATH=$BUNDLE_LIBS ldd "$b" | grep -q "not found"; then
      missing=1
      LD_LIBRARY_PATH=$BUNDLE_LIBS ldd "$b" | grep "not found" | sed "s|^|${b##*/}: |" >&2
    fi
  done
  LD_LIBRARY_PATH=$BUNDLE_LIBS ldd "$X/libexec/tiny-transformer" > "$OUT/ldd.txt" 2>&1
  [[ $missing -eq 0 ]] && log "libraries: all resolved" || fail "unresolved libraries"
  "$BIN" --version > "$OUT/version.txt" 2>&1 && log "$(tr '\n' ' ' < "$OUT/version.txt")" || fail "tiny-transformer --version"
}

stage_tests() {
  # TT_REQUIRE_CUDA: fail rather than skip when the GPU is not usable. TT_CUDA_SYNC_CHECK: synchronise after
  # every kernel, so a fault is reported at its launch. Each op case runs in its own process: a kernel fault
  # is sticky and would fail every later case of the same process.
  local t c cases failed=0 passed=0
  export TT_REQUIRE_CUDA=1
  cases=$("$X/bin/cuda_ops_test" --gtest_list_tests --gtest_filter='Ops/CudaOpTest.*' |
    awk '/^ / {print $1}' | sed 's/#.*//')
  for c in $cases; do  # MatchesCpuReference/<op family>
    if TT_CUDA_SYNC_CHECK=1 "$X/bin/cuda_ops_test" --gtest_filter="Ops/CudaOpTest.$c" \
        > "$OUT/cuda_ops_test-${c##*/}.log" 2>&1; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      fail "cuda_ops_test case ${c##*/} (see cuda_ops_test-${c##*/}.log)"
      grep -E 'Failure|error|Error|Expected|Which is|actual' "$OUT/cuda_ops_test-${c##*/}.log" | head -12 >&2
    fi
  done
  log "cuda_ops_test op cases: $passed passed, $failed failed"
  if "$X/bin/cuda_ops_test" --gtest_filter='-Ops/CudaOpTest.*' > "$OUT/cuda_ops_test-rest.log" 2>&1; then
    log "cuda_ops_test other tests: passed"
  else
    fail "cuda_ops_test other tests (see cuda_ops_test-rest.log)"
  fi
  for t in cuda_train_test cuda_trainer_test; do
    if TT_CUDA_SYNC_CHECK=1 "$X/bin/$t" --gtest_output="xml:$OUT/$t.xml" > "$OUT/$t.log" 2>&1; then
      log "$t: passed ($(grep -c '^\[       OK \]' "$OUT/$t.log") tests, $(grep -c '^\[  SKIPPED \]' "$OUT/$t.log") skipped)"
    else
      fail "$t (see $t.log)"
      grep -E '^\[  FAILED  \]|Failure|error' "$OUT/$t.log" | head -30 >&2
    fi
    grep -E '^GPU ' "$OUT/$t.log" >&2
  done
  # The sync check runs recorded steps eagerly (a stream capture may not synchronise), so the recorded op case
  # and the training tests run once more without it, replaying their steps as CUDA graphs.
  if "$X/bin/cuda_ops_test" --gtest_filter='Ops/CudaOpTest.MatchesCpuReference/recorded' \
      > "$OUT/cuda_ops_test-recorded-graphs.log" 2>&1 &&
    "$X/bin/cuda_train_test" > "$OUT/cuda_train_test-graphs.log" 2>&1 &&
    "$X/bin/cuda_trainer_test" > "$OUT/cuda_trainer_test-graphs.log" 2>&1; then
    log "recorded steps as CUDA graphs: passed"
  else
    fail "recorded steps as CUDA graphs (see cuda_*-graphs.log)"
  fi
  unset TT_REQUIRE_CUDA
}

stage_sanitize() {
  command -v compute-sanitizer >/dev/null || { fail "compute-sanitizer not found"; return; }
  local san=(env LD_LIBRARY_PATH="$BUNDLE_LIBS" compute-sanitizer)
  "${san[@]}" --tool memcheck --error-exitcode 9 "$X/libexec/cuda_ops_test" --gtest_filter='Ops/CudaOpTest.*' \
    > "$OUT/sanitize-memcheck.log" 2>&1 && log "memcheck: clean" || fail "memcheck (see sanitize-memcheck.log)"
  "${san[@]}" --tool racecheck --error-exitcode 9 "$X/libexec/cuda_ops_test" \
    --gtest_filter='Ops/CudaOpTest.*attention*:Ops/CudaOpTest.*lm_head*:Ops/CudaOpTest.*rmsnorm*' \
    > "$OUT/sanitize-racecheck.log" 2>&1 && log "racecheck: clean" || fail "racecheck (see sanitize-racecheck.log)"
  "${san[@]}" --tool synccheck --error-exitcode 9 "$X/libexec/cuda_ops_test" \
    --gtest_filter='Ops/CudaOpTest.*attention*:Ops/CudaOpTest.*lm_head*:Ops/CudaOpTest.*rmsnorm*' \
    > "$OUT/sanitize-synccheck.log" 2>&1 && log "synccheck: clean" || fail "synccheck (see sanitize-synccheck.log)"
}

stage_bench() {
  # shellcheck disable=SC2086
  if TT_REQUIRE_CUDA=1 "$X/bin/cuda_train_bench" --config "$ROOT/configs/qwen3_demo.json" --json "$OUT/bench.json" ${TT_BENCH_ARGS:-} \
      > "$OUT/bench.txt" 2>&1; then
    log "bench: ok"
  else
    fail "bench (see bench.txt)"
  fi
  cat "$OUT/bench.txt" >&2
}

stage_dist() {
  local d=dist-data r=runs-dist t0=$SECONDS
  "$BIN" prepare-data --source "$B/shared/enwiki-2015-intros.tsv.xz" --out_dir "$d" --seq_len 256 --max_bytes 3000000 \
    > "$OUT/dist-prepare.log" 2>&1 || { fail "dist: prepare-data (see dist-prepare.log)"; return; }
  local run=(train --config "$ROOT/configs/qwen3_demo.json" --data_dir "$d" --device cuda --bf16 --steps 60
    --micro_batch_size 16 --lr 1e-3 --warmup_steps 10 --logging_steps 20 --eval_steps 60 --eval_rows 128
    --save_steps 60 --sample_steps 0 --overwrite)
  "$BIN" "${run[@]}" --out_dir "$r/plain" > "$OUT/dist-plain.log" 2>&1 || { fail "dist: plain run (see dist-plain.log)"; return; }
  TT_DIST_ONE_RANK=1 "$BIN" "${run[@]}" --out_dir "$r/nccl" > "$OUT/dist-nccl.log" 2>&1 ||
    { fail "dist: one-rank NCCL run (see dist-nccl.log)"; return; }
  python3 - "$r" <<'PY' > "$OUT/dist.txt" 2>&1 && log "dist: ok in $((SECONDS - t0)) s: $(tail -1 "$OUT/dist.txt")" || fail "dist (see dist.txt)"
import json, sys
plain, nccl = (json.load(open(f"{sys.argv[1]}/{k}/last/run_info.json")) for k in ("plain", "nccl"))
for k, i in (("plain", plain), ("nccl", nccl)):
    print(f"{k}: collectives {i['collectives']!r}, world_size {i['world_size']}, eval_loss {i['eval_loss']!r}, "
          f"step_time_s {i['step_time_s']:.4f}, tokens_per_s {i['tokens_per_s']:.0f}")
assert "NCCL" in nccl["collectives"] and nccl["world_size"] == 1, "the one-rank run did not use NCCL"
# A one-rank all-reduce leaves the gradients as they are: the same run, bit for bit (deterministic backend).
assert nccl["eval_loss"] == plain["eval_loss"], "eval loss differs with the one-rank NCCL all-reduce"
print(f"equal eval loss {nccl['eval_loss']:.6f}; step time {plain['step_time_s'] * 1e3:.2f} ms plain, "
      f"{nccl['step_time_s'] * 1e3:.2f} ms with the NCCL all-reduce and its bounded wait")
PY
  cat "$OUT/dist.txt" >&2
}

prepare_gpu_data() {
  [[ -f data/meta.json ]] && return 0
  "$BIN" prepare-data --source "$B/shared/enwiki-2014-intros.tsv.xz" "$B/shared/enwiki-2015-intros.tsv.xz" \
    --out_dir data --seq_len 512 --max_bytes 100000000 > "$OUT/prepare-data.log" 2>&1
}

stage_demo() {
  local t0=$SECONDS
  if TT_BIN="$BIN" TT_DEMO_SKIP_SETUP=1 TT_SHARED_DATA="$B/shared" TT_DEMO_DEVICE=gpu \
      TT_DEMO_MINUTES="${TT_DEMO_MINUTES:-7}" bash scripts/run_demo.sh > "$OUT/demo.log" 2>&1; then
    log "demo: ok in $((SECONDS - t0)) s"
  else
    fail "demo (see demo.log)"
  fi
  tail -40 "$OUT/demo.log" >&2
  mkdir -p "$OUT/runs"
  cp runs/metrics.jsonl runs/loss.svg runs/samples.log "$OUT/runs/" 2>/dev/null
  for d in best last; do
    [[ -d runs/$d ]] && mkdir -p "$OUT/runs/$d" && cp runs/$d/*.json "$OUT/runs/$d/" 2>/dev/null
  done
  cp data/meta.json "$OUT/data-meta.json" 2>/dev/null
  return 0
}

stage_parity() {
  [[ -f runs/best/model.safetensors ]] || { fail "parity: runs/best missing (run demo in the same call)"; return; }
  python3 tools/hf_parity.py --ckpt runs/best --data data --bin "$BIN" --devices cpu,cuda \
    --json "$OUT/hf_parity.json" > "$OUT/hf_parity.log" 2>&1 && log "hf parity: passed" || fail "hf parity (see hf_parity.log)"
  # The CPU tests' reference (tools/torch_qwen3.py) on the trained seed model, so both references and the
  # negative controls are seen on the real thing; appended to the same log (files back from $OUT are few).
  python3 tools/hf_parity.py --reference torch --controls --rows 4 --ckpt runs/best --data data --bin "$BIN" \
    --devices cpu,cuda >> "$OUT/hf_parity.log" 2>&1 && log "torch parity: passed" || fail "torch parity (see hf_parity.log)"
  cat "$OUT/hf_parity.log" >&2
}

stage_sweep() {
  prepare_gpu_data || { fail "prepare-data (see prepare-data.log)"; return; }
  TT_BIN="$BIN" bash scripts/lr_sweep.sh --data_dir data --out_dir runs/lr_sweep --steps "${TT_SWEEP_STEPS:-1000}" \
    --minutes "${TT_SWEEP_MINUTES:-2}" --lrs "${TT_SWEEP_LRS:-6e-4 1e-3 2e-3 3e-3}" > "$OUT/sweep.log" 2>&1 ||
    fail "sweep (see sweep.log)"
  cp runs/lr_sweep/summary.tsv "$OUT/sweep-summary.tsv" 2>/dev/null && cat "$OUT/sweep-summary.tsv" >&2
  return 0
}

stage_check
for s in "$@"; do
  case "$s" in
    check) ;;
    tests|sanitize|bench|dist|demo|parity|sweep) "stage_$s" ;;
    *) fail "unknown stage $s" ;;
  esac
done
log "done (status $status)"
exit $status
