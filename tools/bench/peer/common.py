"""Shared by the PyTorch peers (decoder.py, gpt2.py, bert.py, vit.py): the data stream, LoRA, attention,
the timed training loop and the JSON line the harness reads.

Every preset peer reads the job the TypeScript harness sends (its `preset.config` is the
same config.json-shaped object our side builds its model from), builds the network in
plain PyTorch, and calls `bench`. Run with Debian's python3-torch (/usr/bin/python3),
OPENBLAS_NUM_THREADS=1 and 2 torch threads (the harness sets these).
"""
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn

MASK32 = 0xFFFFFFFF


def hash_stream(stream, step, count):
    """The counter hash of tools/bench/src/presets.ts (hashStream): the same uint32 values."""
    imul = lambda a, b: (a * b) & MASK32
    base = (imul(step, 0x9E3779B1) ^ imul(stream, 0x85EBCA6B)) & MASK32
    h = (torch.arange(count, dtype=torch.int64) + base) & MASK32
    for _ in range(2):
        h = h ^ (h >> 16)
        h = (h * 0x45D9F3B) & MASK32
    return h ^ (h >> 16)


def ints_below(stream, step, count, n):
    return hash_stream(stream, step, count) % n


def init_weights(module, std=0.02):
    """transformers' _init_weights: N(0, std) for linear and embedding weights, zero biases, unit LayerNorm."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding, nn.Conv2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


def attention(q, k, v, heads, mask=None, dropout=None):
    """softmax(q·kᵀ/√d_head + mask)·v over heads; q, k, v and the result are [b, s, d]."""
    b, s, d = q.shape
    split = lambda t: t.view(b, s, heads, d // heads).transpose(1, 2)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d // heads)
    if mask is not None:
        scores = scores + mask
    probs = scores.softmax(-1)
    if dropout is not None:
        probs = dropout(probs)
    return (probs @ split(v)).transpose(1, 2).reshape(b, s, d)


class SelfAttention(nn.Module):
    """BertSelfAttention / ViTSelfAttention: separate query, key, value Linear layers."""

    def __init__(self, d, heads, p, bias=True):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(d, d, bias=bias) for _ in range(3))
        self.dropout = nn.Dropout(p)

    def forward(self, x, mask=None):
        return attention(self.query(x), self.key(x), self.value(x), self.heads, mask, self.dropout)


class Lora(nn.Module):
    """PEFT's LoRA layer: base(x) + B(A(x))·alpha/r, A kaiming-uniform(a=√5), B zeros."""

    def __init__(self, base, in_features, out_features, r=8, alpha=16):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(in_features, r, bias=False)
        self.lora_B = nn.Linear(r, out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


def apply_lora(model, targets, save=()):
    """Freezes the base (requires_grad=False), wraps every module named in `targets`, and
    unfreezes the `save` modules (PEFT's modules_to_save, e.g. the classifier)."""
    for p in model.parameters():
        p.requires_grad_(False)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if name in targets:
                setattr(parent, name, Lora(child, child.in_features, child.out_features))
            elif name in save:
                child.requires_grad_(True)


def bench(job, model, make_batch, loss_fn, targets, save=(), tokens_per_sample=None):
    """The timed loop: batch made before the clock starts, then forward, backward, AdamW."""
    if job["method"] == "lora":
        apply_lora(model, targets, save)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    times, losses, started = [], [], time.perf_counter()
    for step in range(job["warmupSteps"] + job["steps"]):
        batch = make_batch(step)
        t0 = time.perf_counter()
        loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - t0) * 1000
        losses.append(loss.item())
        if step >= job["warmupSteps"]:
            times.append(ms)
        if time.perf_counter() - started > job["maxSeconds"] and len(times) >= 2:
            break
    times.sort()
    q = lambda f: times[min(len(times) - 1, int(round((len(times) - 1) * f)))]
    median = statistics.median(times)
    samples = job["batch"] / (median / 1000)
    return {
        "job": job,
        "backend": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "tokensPerSec": samples * (tokens_per_sample or job["preset"]["seq"]),
        "samplesPerSec": samples,
        "stepMs": {"median": median, "p10": q(0.1), "p90": q(0.9), "min": times[0], "max": times[-1], "n": len(times)},
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable": sum(p.numel() for p in params),
        "total": sum(p.numel() for p in model.parameters()),
        "firstLoss": losses[0],
        "lastLoss": losses[-1],
    }


def causal_lm_build(model_class, targets):
    """The `build` of a causal-LM preset peer (gpt2.py, llama.py): the model from the config,
    the hashed token batches, next-token cross-entropy, LoRA on `targets`."""

    def build(job):
        c, seq, batch = job["preset"]["config"], job["preset"]["seq"], job["batch"]

        def loss_fn(m, ids):
            logits = m(ids)
            return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, c["vocab_size"]), ids[:, 1:].reshape(-1))

        make_batch = lambda step: ints_below(1, step, batch * seq, c["vocab_size"]).view(batch, seq)
        return model_class(c), make_batch, loss_fn, {"targets": targets}

    return build


def main(build):
    """Entry point of a preset peer: `build(job) -> (model, make_batch, loss_fn, bench kwargs)`."""
    torch.set_num_threads(2)
    torch.manual_seed(1)
    job = json.loads(sys.argv[1])
    model, make_batch, loss_fn, extra = build(job)
    print(json.dumps(bench(job, model, make_batch, loss_fn, **extra)), flush=True)
