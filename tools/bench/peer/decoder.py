"""PyTorch peer of tools/bench/src/decoder.ts: the same decoder, init, optimizer and batch.

Prints one JSON line per job, in the same shape as the TypeScript worker, so the harness
can put the two side by side. Run with Debian's python3-torch and libopenblas0-pthread,
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
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        b, s, d = x.shape
        split = lambda t: t.view(b, s, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        mask = torch.triu(torch.ones(s, s, dtype=torch.bool), 1)
        weights = scores.masked_fill(mask, -1e9).softmax(-1)
        return self.o((weights @ v).transpose(1, 2).reshape(b, s, d))


class LoraLinear(nn.Module):
    def __init__(self, base, r=8, alpha=16):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln_2(x)), approximate="tanh"))


class Decoder(nn.Module):
    def __init__(self, layers, d, heads, seq, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        for name, p in self.named_parameters():
            if "ln_" in name:
                continue
            nn.init.zeros_(p) if name.endswith("bias") else nn.init.normal_(p, 0.0, 0.02)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def run(job):
    torch.manual_seed(1)
    shape = job["shape"]
    model = Decoder(shape["layers"], shape["dModel"], shape["heads"], shape["seq"], shape["vocab"])
    if job["method"] == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        for block in model.h:
            block.attn.q = LoraLinear(block.attn.q)
            block.attn.v = LoraLinear(block.attn.v)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    times, losses, started = [], [], time.perf_counter()
    for step in range(job["warmupSteps"] + job["steps"]):
        ids = torch.randint(0, shape["vocab"], (job["batch"], shape["seq"] + 1))
        t0 = time.perf_counter()
        logits = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, shape["vocab"]), ids[:, 1:].reshape(-1))
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
    return {
        "job": job,
        "backend": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "tokensPerSec": job["batch"] * shape["seq"] / (median / 1000),
        "stepMs": {"median": median, "p10": q(0.1), "p90": q(0.9), "min": times[0], "max": times[-1], "n": len(times)},
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "trainable": sum(p.numel() for p in params),
        "total": sum(p.numel() for p in model.parameters()),
        "firstLoss": losses[0],
        "lastLoss": losses[-1],
    }


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
