#!/usr/bin/env python3
"""Checks that Hugging Face Transformers loads a tiny-transformer checkpoint and computes what we compute.

    python3 tools/hf_parity.py --ckpt runs/best --data data --bin build/tiny-transformer \
        [--reference transformers|torch] [--rows 8] [--devices cpu,cuda] [--prompts "The history of" ...] \
        [--new_tokens 32] [--json report.json]

--reference transformers (the default) needs torch, transformers and tokenizers: the GPU machine's image has
them, this machine and CI do not. --reference torch needs torch alone (Debian's python3-torch, which
scripts/setup.sh installs): it checks against tools/torch_qwen3.py, an independent Qwen3 written from
Transformers' equations, in float64, with prompts encoded by `tiny-transformer tokenize` (whose ids are
checked against Hugging Face's elsewhere) and ids decoded by torch_qwen3's own byte-level decoder; CI runs
it (tests/tools/torch_parity.sh). Three checks, each against `tiny-transformer` on every device in --devices:
  1. load: Qwen3ForCausalLM.from_pretrained(ckpt) with no missing, unexpected or mismatched tensors, and
     the tied LM head pointing at the embedding (torch: the tensor names and shapes Qwen3ForCausalLM
     expects, tie_word_embeddings with no lm_head tensor, and no config field this model does not honour);
  2. loss: HF's mean next-token cross-entropy (labels = inputs, shifted inside HF) over the first --rows
     rows of <data>/val.bin, in float32 on the CPU, versus `tiny-transformer eval --max_rows N`;
     |difference| <= 1e-4 on the CPU (both are float32 sums of the same B*(T-1) terms) and <= 2e-2 on
     CUDA (bf16 activations and logits there): --loss_tol_cpu, --loss_tol_cuda;
  3. greedy text: HF generate(do_sample=False) versus `tiny-transformer sample --temperature 0` for each
     prompt, token ids compared through the checkpoint's tokenizer.json. A difference passes only as a
     near-tie: HF's logit gap between its token and ours at the first differing position is below
     --tie_cpu (1e-3) / --tie_cuda (0.25, bf16); a wider gap fails.
  4. (--controls, torch only) negative controls: the reference rebuilt with a deliberately wrong convention
     (torch_qwen3.Qwen3.CONTROLS: interleaved RoPE, GQA head mapping, RoPE base, q/k-norm after RoPE) must
     miss our CPU loss by more than 10x --loss_tol_cpu, or the checkpoint is too little trained for check 2
     to see that mistake.
Exit status 0 when all pass, 1 otherwise; --json writes every number.
"""
import argparse
import json
import os
import subprocess
import sys


def run_ours(args, *cmd, stdin=None):
    proc = subprocess.run([args.bin, *cmd], capture_output=True, text=True, input=stdin)
    if proc.returncode != 0:
        raise RuntimeError(f"{args.bin} {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


class TransformersReference:
    """Qwen3ForCausalLM.from_pretrained in float32 on the CPU, with the `tokenizers` library."""

    def __init__(self, args):
        import torch
        import transformers
        from tokenizers import Tokenizer
        self.torch = torch
        self.versions = {"transformers": transformers.__version__, "torch": torch.__version__}
        self.model, info = transformers.Qwen3ForCausalLM.from_pretrained(
            args.ckpt, dtype=torch.float32, output_loading_info=True)
        self.model.eval()
        self.problems = {k: list(v) for k, v in info.items() if v}
        self.tied = self.model.lm_head.weight.data_ptr() == self.model.model.embed_tokens.weight.data_ptr()
        self.parameters = sum(p.numel() for p in self.model.parameters())
        self.tok = Tokenizer.from_file(os.path.join(args.ckpt, "tokenizer.json"))

    def loss(self, ids):
        with self.torch.no_grad():
            return float(self.model(input_ids=ids, labels=ids).loss)

    def greedy(self, prompt_ids, new_tokens, eos_ids):
        x = self.torch.tensor([prompt_ids])
        with self.torch.no_grad():
            g = self.model.generate(x, max_new_tokens=new_tokens, do_sample=False, eos_token_id=sorted(eos_ids),
                                    pad_token_id=151643, attention_mask=self.torch.ones_like(x))
        return [int(t) for t in g[0, len(prompt_ids):]]

    def last_logits(self, ids):
        with self.torch.no_grad():
            return self.model(self.torch.tensor([ids])).logits[0, -1]

    def encode(self, text):
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=False)


class TorchReference:
    """tools/torch_qwen3.py in float64; prompts encoded by `tiny-transformer tokenize`."""

    def __init__(self, args):
        import torch
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import torch_qwen3
        self.torch, self.args = torch, args
        self.versions = {"torch": torch.__version__, "reference": "tools/torch_qwen3.py (float64)"}
        self.model, self.problems = torch_qwen3.load(args.ckpt, dtype=torch.float64)
        self.tied = self.model is not None and bool(self.model.cfg.get("tie_word_embeddings"))
        self.parameters = sum(t.numel() for t in self.model.w.values()) if self.model else 0
        self.decoder = torch_qwen3.ByteLevelDecoder(os.path.join(args.ckpt, "tokenizer.json"))

    def loss(self, ids):
        with self.torch.no_grad():
            return float(self.model.loss(ids))

    def greedy(self, prompt_ids, new_tokens, eos_ids):
        with self.torch.no_grad():
            return self.model.greedy(prompt_ids, new_tokens, eos_ids, pickable=self.decoder.vocab_size)

    def last_logits(self, ids):
        with self.torch.no_grad():
            return self.model.logits(self.torch.tensor([ids]))[0, -1]

    def encode(self, text):
        line = json.dumps({"text": text}) + "\n"
        out = run_ours(self.args, "tokenize", "--tokenizer", self.args.ckpt, "--jsonl", "/dev/stdin", stdin=line)
        return json.loads(out.strip().splitlines()[-1])

    def decode(self, ids):
        return self.decoder.decode(ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True, help="checkpoint directory (runs/best)")
    ap.add_argument("--data", required=True, help="prepare-data output directory (val.bin, meta.json)")
    ap.add_argument("--bin", required=True, help="the tiny-transformer binary")
    ap.add_argument("--reference", choices=["transformers", "torch"], default="transformers")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--devices", default="cpu,cuda", help="devices for tiny-transformer, comma separated")
    ap.add_argument("--prompts", nargs="*", default=["The history of", "Once upon a time", "In 1990,"])
    ap.add_argument("--new_tokens", type=int, default=32)
    ap.add_argument("--loss_tol_cpu", type=float, default=1e-4)
    ap.add_argument("--loss_tol_cuda", type=float, default=2e-2)
    ap.add_argument("--tie_cpu", type=float, default=1e-3)
    ap.add_argument("--tie_cuda", type=float, default=0.25)
    ap.add_argument("--controls", action="store_true", help="negative controls (--reference torch only)")
    ap.add_argument("--json", help="write the report here")
    args = ap.parse_args()
    if args.controls and (args.reference != "torch" or "cpu" not in args.devices.split(",")):
        ap.error("--controls needs --reference torch and cpu in --devices")

    import numpy as np
    import torch

    report = {"ckpt": args.ckpt, "reference": args.reference, "checks": []}
    ok = True

    def check(name, passed, **detail):
        nonlocal ok
        ok = ok and passed
        report["checks"].append({"name": name, "passed": passed, **detail})
        print(f"[hf_parity] {'PASS' if passed else 'FAIL'} {name}: {json.dumps(detail)}", flush=True)

    def run_checks():
        # 1. load
        ref = (TransformersReference if args.reference == "transformers" else TorchReference)(args)
        report.update(ref.versions)
        check("load", not ref.problems and ref.tied, problems=ref.problems, tied_lm_head=ref.tied,
              parameters=ref.parameters)
        if ref.problems:
            print("[hf_parity] the checkpoint does not load: nothing else was checked", flush=True)
            return 1

        # 2. loss on the first rows of val.bin
        with open(os.path.join(args.data, "meta.json")) as f:
            meta = json.load(f)
        seq_len = int(meta["seq_len"])
        rows = np.memmap(os.path.join(args.data, "val.bin"), dtype="<u4", mode="r").reshape(-1, seq_len)
        n = min(args.rows, rows.shape[0])
        ids = torch.from_numpy(np.array(rows[:n], dtype=np.int64))
        ref_loss = ref.loss(ids)
        our_loss = {}
        for dev in args.devices.split(","):
            out = run_ours(args, "eval", "--ckpt_dir", args.ckpt, "--data_dir", args.data, "--max_rows", str(n),
                           "--device", dev)
            ours = our_loss[dev] = float(json.loads(out.strip().splitlines()[-1])["loss"])
            tol = args.loss_tol_cuda if dev == "cuda" else args.loss_tol_cpu
            check(f"loss[{dev}]", abs(ours - ref_loss) <= tol, rows=n, seq_len=seq_len, ref=ref_loss, ours=ours,
                  diff=ours - ref_loss, tol=tol)
        if args.controls:
            import torch_qwen3
            for control, what in torch_qwen3.Qwen3.CONTROLS.items():
                wrong, _ = torch_qwen3.load(args.ckpt, dtype=torch.float64, control=control)
                with torch.no_grad():
                    wrong_loss = float(wrong.loss(ids))
                margin = 10 * args.loss_tol_cpu
                check(f"control[{control}]", abs(wrong_loss - our_loss["cpu"]) > margin, wrong=what,
                      wrong_loss=wrong_loss, ours=our_loss["cpu"], must_differ_by_more_than=margin)

        # 3. greedy continuations
        with open(os.path.join(args.ckpt, "generation_config.json")) as f:
            gen_cfg = json.load(f)
        eos = gen_cfg.get("eos_token_id")
        eos_ids = {int(e) for e in (eos if isinstance(eos, list) else [eos]) if e is not None} | {151643}
        for prompt in args.prompts:
            prompt_ids = ref.encode(prompt)
            ref_new = ref.greedy(prompt_ids, args.new_tokens, eos_ids)
            if ref_new and ref_new[-1] in eos_ids:
                ref_new = ref_new[:-1]  # we stop before printing the end-of-text token
            for dev in args.devices.split(","):
                text = run_ours(args, "sample", "--ckpt_dir", args.ckpt, "--prompt", prompt, "--max_new_tokens",
                                str(args.new_tokens), "--temperature", "0", "--device", dev)
                text = text[:-1] if text.endswith("\n") else text
                ours_new = ref.encode(text)[len(prompt_ids):]
                same = ref.decode(ref_new) == text[len(prompt):]
                detail = {"prompt": prompt, "ref_text": ref.decode(ref_new), "ours_text": text[len(prompt):]}
                passed = same
                if not same:
                    k = next((i for i, (a, b) in enumerate(zip(ref_new, ours_new)) if a != b),
                             min(len(ref_new), len(ours_new)))
                    detail["first_difference"] = k
                    if k < len(ref_new) and k < len(ours_new):
                        logits = ref.last_logits(prompt_ids + ref_new[:k])
                        gap = float(logits[ref_new[k]] - logits[ours_new[k]])
                        detail["ref_logit_gap"] = gap
                        passed = gap <= (args.tie_cuda if dev == "cuda" else args.tie_cpu)
                check(f"greedy[{dev}]", passed, identical=same, **detail)

        return 0 if ok else 1

    # The report is written however the checks end (a failed load, an exception from our binary).
    status = 1
    try:
        status = run_checks()
    finally:
        report["passed"] = ok and status == 0
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=2)
        print(f"[hf_parity] {'all passed' if report['passed'] else 'FAILURES'}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
