#!/usr/bin/env bash
# ctest emu.cli: the README's GPU commands (train --bf16 on cuda, eval, sample) through the real CLI, built
# against the CPU-emulated CUDA backend (tests/cuda/CMakeLists.txt: tiny-transformer-emu).
#   usage: cli_emu_test.sh <tiny-transformer-emu> <source dir> <shared data dir>
# Checks: the run trains on "cuda" in bf16 and says so in run_info.json, the loss falls, eval on cuda
# agrees with eval on the CPU within bf16 tolerance (2e-2), greedy sampling on cuda is deterministic and
# prints text, and the checkpoint samples on the CPU too. Exit 77 (skipped) without the shared data.
set -euo pipefail
BIN=$1 SRC=$2 SHARED=$3
SOURCE="$SHARED/enwiki-2015-intros.tsv.xz"
[[ -f $SOURCE ]] || { echo "SKIPPED: $SOURCE not found (the shared data beside the checkout)"; exit 77; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
TOK=(--tokenizer "$SRC/assets/qwen3-tokenizer")

"$BIN" prepare-data --source "$SOURCE" --out_dir "$WORK/data" --seq_len 32 --max_bytes 100000 --val_fraction 0.05 \
  "${TOK[@]}"
"$BIN" train --config "$SRC/configs/qwen3_test_tiny.json" --data_dir "$WORK/data" --out_dir "$WORK/runs" \
  --device cuda --bf16 --steps 12 --lr 3e-3 --warmup_steps 2 --micro_batch_size 4 --eval_steps 6 --eval_rows 8 \
  --save_steps 6 --sample_steps 6 --sample_tokens 4 --logging_steps 3 "${TOK[@]}" 2>&1 | tee "$WORK/train.log"

info="$WORK/runs/last/run_info.json"
grep -q '"device": *"cuda' "$info" || fail "run_info.json does not name the cuda device: $(grep device "$info")"
grep -q '"precision": *"bf16' "$info" || fail "run_info.json precision is not bf16: $(grep precision "$info")"
first=$(grep -m1 -o 'loss [0-9.]*' "$WORK/train.log" | cut -d' ' -f2)
last=$(grep -o 'step 12/12 | loss [0-9.]*' "$WORK/train.log" | grep -o '[0-9.]*$')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || fail "train loss did not fall: $first -> $last"

loss_on() { "$BIN" eval --ckpt_dir "$WORK/runs/best" --data_dir "$WORK/data" --max_rows 8 --device "$1" |
  tail -1 | grep -o '"loss": *[0-9.e+-]*' | grep -o '[0-9.e+-]*$'; }
cuda_loss=$(loss_on cuda)
cpu_loss=$(loss_on cpu)
echo "eval loss: cuda $cuda_loss, cpu $cpu_loss"
awk -v a="$cuda_loss" -v b="$cpu_loss" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 2e-2) }' ||
  fail "eval on cuda ($cuda_loss) and on the CPU ($cpu_loss) differ by more than 2e-2"

# The samples' stderr (timing lines) goes to a log that is printed if a sample fails.
sample() { "$BIN" sample --ckpt_dir "$WORK/runs/best" --prompt "The history of" --max_new_tokens 12 --temperature 0 \
  --device "$1" 2>>"$WORK/sample.log" || { cat "$WORK/sample.log" >&2; return 1; }; }
one=$(sample cuda)
two=$(sample cuda)
[[ $one == "$two" ]] || fail "greedy sampling on cuda is not deterministic: '$one' vs '$two'"
[[ ${#one} -gt 14 ]] || fail "sample printed no new text: '$one'"
sample cpu > /dev/null || fail "the cuda checkpoint does not sample on the CPU"
echo "greedy sample on cuda: $one"
echo "PASS"
