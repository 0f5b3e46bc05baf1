#!/usr/bin/env bash
# ctest torch_parity: tools/hf_parity.py --reference torch on a checkpoint trained here, on the CPU.
# tools/torch_qwen3.py is a Qwen3 written in PyTorch from Hugging Face's equations, so this checks our
# conventions (RoPE halves and theta, q/k-norm before RoPE, GQA head mapping, tied head, tensor names) and
# our greedy decoding against an implementation that does not share our code. Transformers itself is not
# installable here; the same script with --reference transformers runs on the GPU machine.
#   usage: torch_parity.sh <tiny-transformer binary> <source dir> <shared data dir> [<tiny-transformer-emu>]
# With the fourth argument (the CLI built on the CPU-emulated CUDA backend, tests/cuda) the checkpoint is
# also evaluated and sampled on --device cuda there, against the same reference at the CUDA tolerances.
# Exit 77 (ctest: skipped) when no python3 with torch and numpy is found, or the shared data is missing.
set -euo pipefail
BIN=$1 SRC=$2 SHARED=$3 EMU_BIN=${4:-}

PY=""
for candidate in "${TT_PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n $candidate ]] && "$candidate" -c "import torch, numpy" 2>/dev/null; then PY=$candidate; break; fi
done
if [[ -z $PY ]]; then
  echo "SKIPPED: no python3 that imports torch and numpy (scripts/setup.sh installs Debian's python3-torch)"
  exit 77
fi
SOURCE="$SHARED/enwiki-2015-intros.tsv.xz"
if [[ ! -f $SOURCE ]]; then
  echo "SKIPPED: $SOURCE not found (the shared data beside the checkout)"
  exit 77
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The CPU demo's config with the seed's GQA ratio (6 query heads on 2 KV heads, so q_proj is 192 wide on a
# 128 hidden size) and initializer_range 0.25: a model trained for seconds from the usual 0.02 predicts
# near-uniform logits whatever its attention does, and then a wrong RoPE layout moved the loss by < 1e-4.
# At 0.25 each negative control below moves it by 0.02-0.1 and greedy text is varied (many scripts, so
# multi-byte decoding is exercised too).
"$PY" - "$SRC/configs/qwen3_cpu_small.json" "$WORK/config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg.update(num_attention_heads=6, num_key_value_heads=2, head_dim=32, initializer_range=0.25)
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
PY
"$BIN" prepare-data --source "$SOURCE" --out_dir "$WORK/data" --seq_len 64 --max_bytes 400000 \
  --val_fraction 0.05 --tokenizer "$SRC/assets/qwen3-tokenizer"
"$BIN" train --config "$WORK/config.json" --data_dir "$WORK/data" --out_dir "$WORK/runs" --device cpu \
  --steps 20 --lr 1e-3 --warmup_steps 2 --micro_batch_size 8 --eval_steps 10 --eval_rows 16 --save_steps 10 \
  --sample_steps 0 --logging_steps 5 --tokenizer "$SRC/assets/qwen3-tokenizer"
# Norm weights of a 20-step model are still ~1, and RMSNorm commutes with RoPE's rotation when they are
# equal: a q/k-norm applied after RoPE moved the loss by only 4.5e-4. Scrambled to [0.5, 1.5) (any weights
# are a valid checkpoint for a parity check), that control moves it by more than 10x the tolerance.
"$PY" -c 'import sys; sys.path.insert(0, sys.argv[1]); import torch_qwen3; torch_qwen3.scramble_norm_weights(sys.argv[2])' \
  "$SRC/tools" "$WORK/runs/best"
"$PY" "$SRC/tools/hf_parity.py" --reference torch --ckpt "$WORK/runs/best" --data "$WORK/data" --bin "$BIN" \
  --devices cpu --rows 8 --new_tokens 16 --controls --json "$WORK/report.json"
if [[ -n $EMU_BIN ]]; then
  "$PY" "$SRC/tools/hf_parity.py" --reference torch --ckpt "$WORK/runs/best" --data "$WORK/data" --bin "$EMU_BIN" \
    --devices cuda --rows 8 --new_tokens 16 --json "$WORK/report_cuda_emulated.json"
fi
