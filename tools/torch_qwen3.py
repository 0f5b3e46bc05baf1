#!/usr/bin/env python3
"""An independent Qwen3 causal LM in plain PyTorch: the second opinion for tools/hf_parity.py where
Transformers is not installed (this machine and CI have Debian's python3-torch, not Transformers).

It is written from the equations of Hugging Face's Qwen3 (transformers/models/qwen3/modeling_qwen3.py),
not from our C++, so it catches a convention we got wrong rather than repeating it:
  - RMSNorm: x * rsqrt(mean(x^2) + eps) * weight, the mean taken in float32 (here: in the model's dtype,
    float32 or float64);
  - attention: q/k/v projections viewed as [T, heads, head_dim]; q_norm / k_norm are RMSNorms over
    head_dim applied *before* RoPE; RoPE is the "rotate_half" form (the two halves of head_dim, not
    interleaved pairs) with inv_freq = theta^(-2i/head_dim) and positions 0..T-1; GQA maps query head h to
    KV head h // (heads / kv_heads) (repeat_kv); scores scaled by head_dim^-0.5, causal mask, softmax;
  - decoder layer: h += o_proj(attn(input_layernorm(h))); h += down(silu(gate(x)) * up(x)) with
    x = post_attention_layernorm(h); then the final norm and the LM head (the embedding when tied);
  - loss: labels = inputs, shifted inside, mean cross-entropy over the B*(T-1) predicted positions.

load() reads config.json and model.safetensors with no library beyond torch: it parses the safetensors
header itself and reports what Transformers' from_pretrained would complain about (missing, unexpected
or mis-shaped tensors, unsupported config fields).
"""
import json
import math
import os
import struct

import torch

SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors_header(path):
    """Returns (header dict, offset of the data section). Raises ValueError naming the file."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: {len(head)} bytes, expected an 8-byte header length")
        (header_len,) = struct.unpack("<Q", head)
        raw = f.read(header_len)
    if len(raw) != header_len:
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    try:
        header = json.loads(raw)
        for name, entry in header.items():
            if name != "__metadata__":
                entry["dtype"], entry["shape"], entry["data_offsets"]  # noqa: B018 (presence check)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: the header is not a safetensors header ({e!r})") from None
    return header, 8 + header_len


def read_safetensors(path):
    """Returns {name: tensor}. Raises ValueError naming the file and what is wrong with it."""
    header, data_start = read_safetensors_header(path)
    with open(path, "rb") as f:
        blob = f.read()
    data = memoryview(blob)[data_start:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']}, expected one of "
                             f"{sorted(SAFETENSORS_DTYPES)}")
        begin, end = entry["data_offsets"]
        count = math.prod(entry["shape"])
        if not 0 <= begin <= end <= len(data) or end - begin != count * torch.empty(0, dtype=dtype).element_size():
            raise ValueError(f"{path}: tensor {name} has data_offsets [{begin}, {end}) that do not fit its shape "
                             f"{entry['shape']} and the {len(data)} data bytes")
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if count else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(entry["shape"])
    return tensors


def expected_shapes(cfg):
    """The tensors Transformers' Qwen3ForCausalLM has, by name, with their shapes."""
    h, hd, inter = cfg["hidden_size"], cfg["head_dim"], cfg["intermediate_size"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    shapes = {"model.embed_tokens.weight": [cfg["vocab_size"], h], "model.norm.weight": [h]}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": [h],
            p + "post_attention_layernorm.weight": [h],
            p + "self_attn.q_proj.weight": [q, h],
            p + "self_attn.k_proj.weight": [kv, h],
            p + "self_attn.v_proj.weight": [kv, h],
            p + "self_attn.o_proj.weight": [h, q],
            p + "self_attn.q_norm.weight": [hd],
            p + "self_attn.k_norm.weight": [hd],
            p + "mlp.gate_proj.weight": [inter, h],
            p + "mlp.up_proj.weight": [inter, h],
            p + "mlp.down_proj.weight": [h, inter],
        })
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = [cfg["vocab_size"], h]
    return shapes


def config_problems(cfg):
    """Config fields this model (and our trainer) do not implement; Transformers would honour them."""
    problems = []
    if cfg.get("model_type") != "qwen3":
        problems.append(f"model_type is {cfg.get('model_type')!r}, expected 'qwen3'")
    if "Qwen3ForCausalLM" not in cfg.get("architectures", []):
        problems.append("architectures does not list Qwen3ForCausalLM")
    for key, want in (("hidden_act", "silu"), ("attention_bias", False), ("use_sliding_window", False),
                      ("rope_scaling", None)):
        if cfg.get(key, want) != want:
            problems.append(f"{key} is {cfg.get(key)!r}, expected {want!r}")
    return problems


class Qwen3:
    # Deliberately wrong conventions, for negative controls (hf_parity --controls): a parity check that
    # still passed with one of these switched on would not be able to see that mistake in our code.
    CONTROLS = {
        "interleaved_rope": "RoPE over adjacent pairs (GPT-J layout) instead of the two halves",
        "gqa_tiled": "query head h reads KV head h % kv_heads instead of h // (heads / kv_heads)",
        "rope_theta_1e4": "RoPE base 10000 instead of the config's rope_theta",
        "qk_norm_after_rope": "q/k RMSNorm applied after RoPE instead of before",
    }

    def __init__(self, cfg, weights, dtype, control=None):
        self.cfg = cfg
        self.w = {k: v.to(dtype) for k, v in weights.items()}
        self.dtype = dtype
        self.eps = cfg["rms_norm_eps"]
        self.head_dim = cfg["head_dim"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg["num_key_value_heads"]
        rope = cfg.get("rope_parameters") or {}
        self.theta = float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0)))
        if control is not None and control not in self.CONTROLS:
            raise ValueError(f"unknown control {control!r}, expected one of {sorted(self.CONTROLS)}")
        self.control = control
        if control == "rope_theta_1e4":
            self.theta = 10000.0
        self.lm_head = self.w["lm_head.weight"] if "lm_head.weight" in self.w else self.w["model.embed_tokens.weight"]

    def rms_norm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x):
        """x: [B, heads, T, head_dim]."""
        t = x.shape[-2]
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim))
        freqs = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        half = self.head_dim // 2
        if self.control == "interleaved_rope":  # pair (2i, 2i+1) turns by frequency i
            c, s, even, odd = cos[..., :half], sin[..., :half], x[..., 0::2], x[..., 1::2]
            return torch.stack([even * c - odd * s, even * s + odd * c], dim=-1).flatten(-2)
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def attention(self, x, p):
        b, t, _ = x.shape
        q = (x @ self.w[p + "q_proj.weight"].T).view(b, t, self.heads, self.head_dim)
        k = (x @ self.w[p + "k_proj.weight"].T).view(b, t, self.kv_heads, self.head_dim)
        v = (x @ self.w[p + "v_proj.weight"].T).view(b, t, self.kv_heads, self.head_dim)
        if self.control == "qk_norm_after_rope":
            q = self.rms_norm(self.rope(q.transpose(1, 2)), self.w[p + "q_norm.weight"])
            k = self.rms_norm(self.rope(k.transpose(1, 2)), self.w[p + "k_norm.weight"])
        else:
            q = self.rope(self.rms_norm(q, self.w[p + "q_norm.weight"]).transpose(1, 2))
            k = self.rope(self.rms_norm(k, self.w[p + "k_norm.weight"]).transpose(1, 2))
        v = v.transpose(1, 2)
        group = self.heads // self.kv_heads
        if self.control == "gqa_tiled":
            k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)
        else:
            k = k.repeat_interleave(group, dim=1)  # query head h reads KV head h // group
            v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) * self.head_dim ** -0.5
        future = torch.ones(t, t, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        out = scores.softmax(-1) @ v  # [B, heads, T, head_dim]
        return out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim) @ self.w[p + "o_proj.weight"].T

    def mlp(self, x, p):
        gate = x @ self.w[p + "gate_proj.weight"].T
        up = x @ self.w[p + "up_proj.weight"].T
        return (torch.nn.functional.silu(gate) * up) @ self.w[p + "down_proj.weight"].T

    def logits(self, ids):
        """ids: int64 [B, T] -> logits [B, T, vocab]."""
        h = self.w["model.embed_tokens.weight"][ids]
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = h + self.attention(self.rms_norm(h, self.w[p + "input_layernorm.weight"]), p + "self_attn.")
            h = h + self.mlp(self.rms_norm(h, self.w[p + "post_attention_layernorm.weight"]), p + "mlp.")
        return self.rms_norm(h, self.w["model.norm.weight"]) @ self.lm_head.T

    def loss(self, ids):
        """Mean next-token cross-entropy over B*(T-1) positions, as Transformers' labels=input_ids."""
        logits = self.logits(ids)[:, :-1]
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    def greedy(self, prompt_ids, new_tokens, eos_ids, pickable=None):
        """Greedy continuation without a cache (the whole prefix each step); stops after an eos id.
        pickable: choose among the first ids only (the tokenizer's; Qwen3 pads the vocab past them, and
        `tiny-transformer sample` never picks a padding id)."""
        ids = list(prompt_ids)
        for _ in range(new_tokens):
            nxt = int(self.logits(torch.tensor([ids]))[0, -1, :pickable].argmax())
            ids.append(nxt)
            if nxt in eos_ids:
                break
        return ids[len(prompt_ids):]


def load(ckpt_dir, dtype=torch.float64, control=None):
    """Returns (model, problems): problems lists what would stop Transformers from loading ckpt_dir as is.
    control: one of Qwen3.CONTROLS, to build a deliberately wrong model."""
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    weights = read_safetensors(os.path.join(ckpt_dir, "model.safetensors"))
    want = expected_shapes(cfg)
    problems = {
        "missing_keys": sorted(set(want) - set(weights)),
        "unexpected_keys": sorted(set(weights) - set(want)),
        "mismatched_keys": sorted(n for n in set(want) & set(weights) if list(weights[n].shape) != want[n]),
        "config": config_problems(cfg),
    }
    problems = {k: v for k, v in problems.items() if v}
    return (None if problems else Qwen3(cfg, weights, dtype, control)), problems


class ByteLevelDecoder:
    """token ids -> text through tokenizer.json's vocabulary and the GPT-2 byte-to-unicode table."""

    def __init__(self, tokenizer_json):
        with open(tokenizer_json, encoding="utf-8") as f:
            tj = json.load(f)
        self.tokens = {i: t for t, i in tj["model"]["vocab"].items()}
        self.special = {a["id"]: a["content"] for a in tj.get("added_tokens", [])}
        self.vocab_size = max(max(self.tokens), max(self.special, default=0)) + 1  # ids past it: padding
        printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
        to_char, extra = {b: chr(b) for b in printable}, 0
        for b in range(256):
            if b not in to_char:
                to_char[b] = chr(256 + extra)
                extra += 1
        self.to_byte = {c: b for b, c in to_char.items()}

    def decode(self, ids):
        out, pending = [], bytearray()
        for i in ids:
            if i in self.special:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
                out.append(self.special[i])
            elif i in self.tokens:
                pending.extend(self.to_byte[c] for c in self.tokens[i])
            # else: a padding id; Hugging Face tokenizers decodes it to nothing as well
        out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)


def scramble_norm_weights(ckpt_dir, seed=0, low=0.5, high=1.5):
    """Overwrites every RMSNorm weight of ckpt_dir/model.safetensors in place with uniform [low, high)
    values (F32 tensors only; the header is unchanged). A model trained for seconds still has norm weights
    near 1, and then a norm applied in the wrong place (q/k-norm after RoPE: RMSNorm commutes with a
    rotation when its weights are equal) hardly changes the loss; with scrambled weights it does. Any
    weights are a valid checkpoint, so a parity check on the result is as good as on the original."""
    path = os.path.join(ckpt_dir, "model.safetensors")
    header, data_start = read_safetensors_header(path)
    gen = torch.Generator().manual_seed(seed)
    with open(path, "r+b") as f:
        for name in sorted(header):
            entry = header[name]
            if name == "__metadata__" or not (name.endswith("norm.weight") and entry["dtype"] == "F32"):
                continue
            values = low + (high - low) * torch.rand(math.prod(entry["shape"]), generator=gen, dtype=torch.float64)
            f.seek(data_start + entry["data_offsets"][0])
            f.write(struct.pack(f"<{values.numel()}f", *values.tolist()))
