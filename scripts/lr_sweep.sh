#!/usr/bin/env bash
# Learning-rate sweep at the seed config (DESIGN.md): one short run per --lr with everything else
# fixed, then a table of the final eval losses. Meant for a GPU machine (about 3 minutes per LR by default);
# the default --lr of `train` should be set from its result.
#   scripts/lr_sweep.sh [--data_dir data] [--out_dir runs/lr_sweep] [--steps 1000] [--minutes 3]
#                       [--lrs "3e-4 6e-4 1e-3 2e-3 3e-3"] [--config configs/qwen3_demo.json] [-- extra train flags]
# Writes <out_dir>/lr_<LR>/ per run and <out_dir>/summary.tsv (lr, steps done, eval_loss, stop_reason).
# Every run gets the same --steps, so each sees the same cosine schedule shape; the --minutes cap only
# protects the budget (a run that hits it is marked in the table and is not comparable).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TT_BIN:-build/tiny-transformer}
DATA=data OUT=runs/lr_sweep STEPS=1000 MINUTES=3 CONFIG=configs/qwen3_demo.json
LRS="3e-4 6e-4 1e-3 2e-3 3e-3"
EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data_dir) DATA="$2"; shift ;;
    --out_dir) OUT="$2"; shift ;;
    --steps) STEPS="$2"; shift ;;
    --minutes) MINUTES="$2"; shift ;;
    --lrs) LRS="$2"; shift ;;
    --config) CONFIG="$2"; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "lr_sweep.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
printf 'lr\tstep\teval_loss\tstop_reason\n' > "$OUT/summary.tsv"
for lr in $LRS; do
  run="$OUT/lr_$lr"
  echo "[lr_sweep] lr=$lr -> $run" >&2
  "$BIN" train --config "$CONFIG" --data_dir "$DATA" --out_dir "$run" --overwrite --lr "$lr" --steps "$STEPS" \
    --warmup_steps $((STEPS / 10)) --bf16 --eval_steps $((STEPS / 4)) --save_steps 0 --sample_steps 0 \
    --max_train_minutes "$MINUTES" "${EXTRA[@]}" || echo "[lr_sweep] lr=$lr failed" >&2
  info="$run/last/run_info.json"
  if [[ -f $info ]]; then
    field() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$info" | head -1; }
    printf '%s\t%s\t%s\t%s\n' "$lr" "$(field step)" "$(field eval_loss)" "$(field stop_reason)" >> "$OUT/summary.tsv"
  else
    printf '%s\t-\t-\tfailed\n' "$lr" >> "$OUT/summary.tsv"
  fi
done
column -t "$OUT/summary.tsv" 2>/dev/null || cat "$OUT/summary.tsv"
