#!/usr/bin/env bash
# The main job on a fresh machine: setup + build, data, train, sample (README, first command).
#   GPU (a CUDA build and a visible NVIDIA GPU): the seed config configs/qwen3_demo.json on the 2014 + 2015
#     Wikipedia intros (seq_len 512), trained with the seed's better-convergence command (5000 steps cap,
#     evaluation/saves every 500, early stopping, 9.5-minute wall-time cap), then samples from runs/best.
#   CPU: configs/qwen3_cpu_small.json on ~3 MB of the 2015 intros (seq_len 128) for 150 steps, so it
#     finishes in a few minutes and shows the loss falling; then samples.
# Options (environment): TT_SHARED_DATA (default ../shared/data), TT_DEMO_DEVICE=cpu|gpu to force a path,
# TT_DEMO_STEPS to change the step count, TT_DEMO_MINUTES the GPU training cap (default 9.5), TT_BIN + TT_DEMO_SKIP_SETUP=1 to use an existing build. Outputs: data/ (or data_cpu/), runs/ (or runs_cpu/). A previous
# demo run in the same directory is replaced (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
log() { echo "[demo] $*" >&2; }

[[ -n ${TT_DEMO_SKIP_SETUP:-} ]] || bash scripts/setup.sh
BIN=${TT_BIN:-$ROOT/build/tiny-transformer}
SHARED=${TT_SHARED_DATA:-$ROOT/../shared/data}
[[ -d "$SHARED" ]] || { echo "run_demo.sh: shared data directory $SHARED not found (set TT_SHARED_DATA)" >&2; exit 1; }

# GPU path only when the binary has the CUDA backend AND a GPU is visible.
MODE=cpu
if "$BIN" --version | grep -q '^backends:.*cuda' && command -v nvidia-smi >/dev/null 2>&1 &&
  nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  MODE=gpu
fi
case "${TT_DEMO_DEVICE:-}" in cpu) MODE=cpu ;; gpu) MODE=gpu ;; esac
log "mode: $MODE ($("$BIN" --version | tr '\n' ' '))"

if [[ $MODE == gpu ]]; then
  DATA=data RUNS=runs
  SOURCES=()
  for f in enwiki-2014-intros.tsv.xz enwiki-2015-intros.tsv.xz; do
    [[ -f "$SHARED/$f" ]] && SOURCES+=("$SHARED/$f")
  done
  "$BIN" prepare-data --source "${SOURCES[@]}" --out_dir "$DATA" --seq_len 512 --max_bytes 100000000
  "$BIN" train --config configs/qwen3_demo.json --data_dir "$DATA" --out_dir "$RUNS" \
    --steps "${TT_DEMO_STEPS:-5000}" --bf16 --eval_steps 500 --save_steps 500 \
    --early_stopping_patience 2 --early_stopping_threshold 0 --max_train_minutes "${TT_DEMO_MINUTES:-9.5}" --overwrite
  MAX_NEW=200
else
  DATA=data_cpu RUNS=runs_cpu
  "$BIN" prepare-data --source "$SHARED/enwiki-2015-intros.tsv.xz" --out_dir "$DATA" --seq_len 128 \
    --max_bytes 3000000 --val_fraction 0.02
  "$BIN" train --config configs/qwen3_cpu_small.json --data_dir "$DATA" --out_dir "$RUNS" --device cpu \
    --steps "${TT_DEMO_STEPS:-150}" --lr 3e-3 --warmup_steps 15 --micro_batch_size 8 --logging_steps 10 \
    --eval_steps 50 --eval_rows 32 --save_steps 50 --sample_steps 50 --sample_tokens 24 --overwrite
  MAX_NEW=40
fi

log "evaluation of $RUNS/best:"
"$BIN" eval --ckpt_dir "$RUNS/best" --data_dir "$DATA" | tail -1
for prompt in "Once upon a time" "The history of" "In 1990,"; do
  log "sample (greedy): $prompt"
  "$BIN" sample --ckpt_dir "$RUNS/best" --prompt "$prompt" --max_new_tokens "$MAX_NEW" --temperature 0
  log "sample (temperature 0.8, top-k 50, top-p 0.95, seed 1): $prompt"
  "$BIN" sample --ckpt_dir "$RUNS/best" --prompt "$prompt" --max_new_tokens "$MAX_NEW" --seed 1
done
log "done: checkpoints in $RUNS/ (best/, last/), loss curve $RUNS/loss.svg, metrics $RUNS/metrics.jsonl"
