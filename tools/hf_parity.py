#!/usr/bin/env python3
"""Checks that Hugging Face Transformers loads a tiny-transformer checkpoint and computes what we compute.

    python3 tools/hf_parity.py --ckpt runs/best --data data --bin build/tiny-transformer \
        [--rows 8] [--devices cpu,cuda] [--prompts "The history of" ...] [--new_tokens 32] [--json report.json]

Needs torch and transformers (the GPU machine's image has both; this machine has neither, so CI does not
run it). Three checks, each against `tiny-transformer` on every device in --devices:
  1. load: Qwen3ForCausalLM.from_pretrained(ckpt) with no missing, unexpected or mismatched tensors, and
     the tied LM head pointing at the embedding;
  2. loss: HF's mean next-token cross-entropy (labels = inputs, shifted inside HF) over the first --rows
     rows of <data>/val.bin, in float32 on the CPU, versus `tiny-transformer eval --max_rows N`;
     |difference| <= 1e-4 on the CPU (both are float32 sums of the same B*(T-1) terms) and <= 2e-2 on
     CUDA (bf16 activations and logits there): --loss_tol_cpu, --loss_tol_cuda;
  3. greedy text: HF generate(do_sample=False) versus `tiny-transformer sample --temperature 0` for each
     prompt, token ids compared through the checkpoint's tokenizer.json. A difference passes only as a
     near-tie: HF's logit gap between its token and ours at the first differing position is below
     --tie_cpu (1e-3) / --tie_cuda (0.25, bf16); a wider gap fails.
Exit status 0 when all pass, 1 otherwise; --json writes every number.
"""
import argparse
import json
import os
import subprocess
import sys


def run_ours(args, *cmd):
    proc = subprocess.run([args.bin, *cmd], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{args.bin} {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True, help="checkpoint directory (runs/best)")
    ap.add_argument("--data", required=True, help="prepare-data output directory (val.bin, meta.json)")
    ap.add_argument("--bin", required=True, help="the tiny-transformer binary")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--devices", default="cpu,cuda", help="devices for tiny-transformer, comma separated")
    ap.add_argument("--prompts", nargs="*", default=["The history of", "Once upon a time", "In 1990,"])
    ap.add_argument("--new_tokens", type=int, default=32)
    ap.add_argument("--loss_tol_cpu", type=float, default=1e-4)
    ap.add_argument("--loss_tol_cuda", type=float, default=2e-2)
    ap.add_argument("--tie_cpu", type=float, default=1e-3)
    ap.add_argument("--tie_cuda", type=float, default=0.25)
    ap.add_argument("--json", help="write the report here")
    args = ap.parse_args()

    import numpy as np
    import torch
    import transformers
    from tokenizers import Tokenizer

    report = {"ckpt": args.ckpt, "transformers": transformers.__version__, "torch": torch.__version__,
              "checks": []}
    ok = True

    def check(name, passed, **detail):
        nonlocal ok
        ok = ok and passed
        report["checks"].append({"name": name, "passed": passed, **detail})
        print(f"[hf_parity] {'PASS' if passed else 'FAIL'} {name}: {json.dumps(detail)}", flush=True)

    # 1. load
    model, info = transformers.Qwen3ForCausalLM.from_pretrained(
        args.ckpt, dtype=torch.float32, output_loading_info=True)
    model.eval()
    problems = {k: list(v) for k, v in info.items() if v}
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    check("load", not problems and tied, problems=problems, tied_lm_head=tied,
          parameters=sum(p.numel() for p in model.parameters()))

    # 2. loss on the first rows of val.bin
    meta = json.load(open(os.path.join(args.data, "meta.json")))
    seq_len = int(meta["seq_len"])
    rows = np.memmap(os.path.join(args.data, "val.bin"), dtype="<u4", mode="r").reshape(-1, seq_len)
    n = min(args.rows, rows.shape[0])
    ids = torch.from_numpy(np.array(rows[:n], dtype=np.int64))
    with torch.no_grad():
        hf_loss = float(model(input_ids=ids, labels=ids).loss)
    for dev in args.devices.split(","):
        out = run_ours(args, "eval", "--ckpt_dir", args.ckpt, "--data_dir", args.data, "--max_rows", str(n),
                       "--device", dev)
        ours = float(json.loads(out.strip().splitlines()[-1])["loss"])
        tol = args.loss_tol_cuda if dev == "cuda" else args.loss_tol_cpu
        check(f"loss[{dev}]", abs(ours - hf_loss) <= tol, rows=n, seq_len=seq_len, hf=hf_loss, ours=ours,
              diff=ours - hf_loss, tol=tol)

    # 3. greedy continuations
    tok = Tokenizer.from_file(os.path.join(args.ckpt, "tokenizer.json"))
    gen_cfg = json.load(open(os.path.join(args.ckpt, "generation_config.json")))
    eos = gen_cfg.get("eos_token_id")
    eos_ids = {int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None} | {151643}
    for prompt in args.prompts:
        prompt_ids = tok.encode(prompt, add_special_tokens=False).ids
        x = torch.tensor([prompt_ids])
        with torch.no_grad():
            g = model.generate(x, max_new_tokens=args.new_tokens, do_sample=False, eos_token_id=sorted(eos_ids),
                               pad_token_id=151643, attention_mask=torch.ones_like(x))
        hf_new = [int(t) for t in g[0, len(prompt_ids):]]
        if hf_new and hf_new[-1] in eos_ids:
            hf_new = hf_new[:-1]  # we stop before printing the end-of-text token
        for dev in args.devices.split(","):
            text = run_ours(args, "sample", "--ckpt_dir", args.ckpt, "--prompt", prompt, "--max_new_tokens",
                            str(args.new_tokens), "--temperature", "0", "--device", dev)
            text = text[:-1] if text.endswith("\n") else text
            ours_new = tok.encode(text, add_special_tokens=False).ids[len(prompt_ids):]
            same = tok.decode(hf_new, skip_special_tokens=False) == text[len(prompt):]
            detail = {"prompt": prompt, "hf_text": tok.decode(hf_new), "ours_text": text[len(prompt):]}
            passed = same
            if not same:
                k = next((i for i, (a, b) in enumerate(zip(hf_new, ours_new)) if a != b),
                         min(len(hf_new), len(ours_new)))
                detail["first_difference"] = k
                if k < len(hf_new) and k < len(ours_new):
                    with torch.no_grad():
                        logits = model(torch.tensor([prompt_ids + hf_new[:k]])).logits[0, -1]
                    gap = float(logits[hf_new[k]] - logits[ours_new[k]])
                    detail["hf_logit_gap"] = gap
                    passed = gap <= (args.tie_cuda if dev == "cuda" else args.tie_cpu)
            check(f"greedy[{dev}]", passed, identical=same, **detail)

    report["passed"] = ok
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print(f"[hf_parity] {'all passed' if ok else 'FAILURES'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
