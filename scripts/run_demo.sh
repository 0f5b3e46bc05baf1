#!/usr/bin/env bash
# The main job on a fresh machine: setup + build, data, train, sample (README, first command).
#   GPU (a CUDA build and a visible NVIDIA GPU): the seed config configs/qwen3_demo.json on 100 MB of Wikipedia
#     intros (seq_len 512), trained with the seed's better-convergence command (5000 steps cap,
#     evaluation/saves every 500, early stopping, 9.5-minute wall-time cap), then samples from runs/best.
#   CPU: configs/qwen3_cpu_small.json on ~3 MB of intros (seq_len 128) for 150 steps, so it
#     finishes in a few minutes and shows the loss falling; then samples.
# Data: the shared intros when they are there (TT_SHARED_DATA, default ../shared/data: the 2014 + 2015
# intros for the GPU, the 2015 ones for the CPU); otherwise prepare-data downloads the current English
# Wikipedia dump's first article parts (`--source enwiki`) from the Wikimedia dump server
# (TT_WIKIMEDIA_MIRROR overrides it) into the download cache (TT_CACHE_DIR, else
# $XDG_CACHE_HOME/tiny-transformer, else ~/.cache/tiny-transformer), and reads them from there next time.
# TT_DEMO_DOWNLOAD=1 downloads even when the shared data are there.
# Other options (environment): TT_DEMO_DEVICE=cpu|gpu to force a path, TT_DEMO_STEPS to change the step
# count, TT_DEMO_MINUTES the GPU training cap (default 9.5), TT_BIN + TT_DEMO_SKIP_SETUP=1 to use an existing
# build, TT_DEMO_OUT the directory for the outputs (default: the repository). Outputs: data/ (or data_cpu/),
# runs/ (or runs_cpu/). A previous demo run in the same directory is replaced (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
log() { echo "[demo] $*" >&2; }

[[ -n ${TT_DEMO_SKIP_SETUP:-} ]] || bash scripts/setup.sh
BIN=${TT_BIN:-$ROOT/build/tiny-transformer}
SHARED=${TT_SHARED_DATA:-$ROOT/../shared/data}
if [[ -n ${TT_SHARED_DATA:-} && ! -d $TT_SHARED_DATA ]]; then
  echo "run_demo.sh: TT_SHARED_DATA=$TT_SHARED_DATA is not a directory (unset it to download the data)" >&2
  exit 1
fi
OUT=${TT_DEMO_OUT:-$ROOT}
mkdir -p "$OUT"
# Local files that exist, from the names given; none when TT_DEMO_DOWNLOAD=1.
local_sources() {
  [[ -n ${TT_DEMO_DOWNLOAD:-} ]] && return 0
  for f in "$@"; do [[ -f "$SHARED/$f" ]] && echo "$SHARED/$f"; done
  return 0
}
download_note() {
  local why="no local data in $SHARED"
  [[ -n ${TT_DEMO_DOWNLOAD:-} ]] && why="TT_DEMO_DOWNLOAD=1"
  log "$why: prepare-data downloads $1 of the current English Wikipedia dump" \
    "from ${TT_WIKIMEDIA_MIRROR:-https://dumps.wikimedia.org} into the cache" \
    "${TT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tiny-transformer}, and reads it from there next time"
}

# GPU path only when the binary has the CUDA backend AND a GPU is visible.
MODE=cpu
if "$BIN" --version | grep -q '^backends:.*cuda' && command -v nvidia-smi >/dev/null 2>&1 &&
  nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  MODE=gpu
fi
case "${TT_DEMO_DEVICE:-}" in cpu) MODE=cpu ;; gpu) MODE=gpu ;; esac
log "mode: $MODE ($("$BIN" --version | tr '\n' ' '))"

if [[ $MODE == gpu ]]; then
  DATA=$OUT/data RUNS=$OUT/runs
  mapfile -t SOURCES < <(local_sources enwiki-2014-intros.tsv.xz enwiki-2015-intros.tsv.xz)
  if [[ ${#SOURCES[@]} -eq 0 ]]; then
    download_note "roughly 1.5-2 GB (the first four or five article parts, as far as 100 MB of intros need)"
    SOURCES=(enwiki)
  fi
  "$BIN" prepare-data --source "${SOURCES[@]}" --out_dir "$DATA" --seq_len 512 --max_bytes 100000000
  "$BIN" train --config configs/qwen3_demo.json --data_dir "$DATA" --out_dir "$RUNS" \
    --steps "${TT_DEMO_STEPS:-5000}" --bf16 --eval_steps 500 --save_steps 500 \
    --early_stopping_patience 2 --early_stopping_threshold 0 --max_train_minutes "${TT_DEMO_MINUTES:-9.5}" --overwrite
  MAX_NEW=200
else
  DATA=$OUT/data_cpu RUNS=$OUT/runs_cpu
  mapfile -t SOURCES < <(local_sources enwiki-2015-intros.tsv.xz)
  if [[ ${#SOURCES[@]} -eq 0 ]]; then
    download_note "up to about 100 MB (the start of the first article part, as far as 3 MB of intros need)"
    SOURCES=(enwiki)
  fi
  "$BIN" prepare-data --source "${SOURCES[@]}" --out_dir "$DATA" --seq_len 128 \
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
