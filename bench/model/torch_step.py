#!/usr/bin/env python3
"""PyTorch eager on the same training step as bench_model: the yardstick for the CPU backend's speed.

The model is tools/torch_qwen3.py's Qwen3 (Hugging Face's equations in plain PyTorch), its weights made
leaf tensors with HF's init, trained with torch.optim.AdamW (weight decay 0.1 on matrices) on B rows of T
tokens: forward, mean next-token cross-entropy, backward, clipping at 1.0, optimizer step — the work of one
`tiny-transformer train` step. Prints tokens/s of the whole step for fp32 and, with --bf16, for bf16
autocast (bf16 matmuls, fp32 weights and optimizer).

  python3 bench/model/torch_step.py [--config configs/qwen3_demo.json] [--batch 2] [--seq 512]
                                    [--steps 3] [--threads N] [--bf16]

fp32 matmuls go through the BLAS torch was built with (Debian's: OpenBLAS, whose kernels follow
OPENBLAS_CORETYPE when it is set), bf16 ones through oneDNN.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import torch_qwen3  # noqa: E402


def init_weights(cfg, generator):
    weights = {}
    for name, shape in torch_qwen3.expected_shapes(cfg).items():
        if len(shape) == 1:
            w = torch.ones(shape)
        else:
            w = torch.empty(shape).normal_(0.0, cfg.get("initializer_range", 0.02), generator=generator)
        weights[name] = w.requires_grad_(True)
    return weights


def bench(cfg, batch, seq, steps, autocast):
    g = torch.Generator().manual_seed(1)
    weights = init_weights(cfg, g)
    model = torch_qwen3.Qwen3(cfg, weights, torch.float32)
    decay = [w for w in weights.values() if w.dim() == 2]
    no_decay = [w for w in weights.values() if w.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4)
    ids = torch.randint(0, cfg["vocab_size"], (batch, seq), generator=g)
    times = []
    for step in range(steps + 1):  # step 0 warms up (allocations, kernel selection)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model.loss(ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(weights.values()), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step > 0:
            times.append(time.perf_counter() - t0)
        print(f"  step {step}: loss {loss.item():.4f}  {time.perf_counter() - t0:.3f} s", file=sys.stderr)
    best = min(times)
    return {"tokens_per_s": batch * seq / best, "s_per_step": best, "loss": loss.item()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "..", "..", "configs", "qwen3_demo.json"))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--bf16", action="store_true", help="also bf16 autocast")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        cfg = json.load(f)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "config": args.config,
              "batch": args.batch, "seq": args.seq, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "")}
    result["fp32"] = bench(cfg, args.batch, args.seq, args.steps, autocast=False)
    if args.bf16:
        result["bf16_autocast"] = bench(cfg, args.batch, args.seq, args.steps, autocast=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
