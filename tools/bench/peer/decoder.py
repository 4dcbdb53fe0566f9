"""PyTorch peer of tools/bench/src/decoder.ts: the same decoder, init, optimizer and batch.

Prints one JSON line per job, in the same shape as the TypeScript worker, so the harness
can put the two side by side; LoRA, the timed loop and the output come from common.py.
Run with Debian's python3-torch and libopenblas0-pthread, OPENBLAS_NUM_THREADS=1 and
2 torch threads (the harness sets these).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import main


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


def build(job):
    shape, batch = job["shape"], job["batch"]
    model = Decoder(shape["layers"], shape["dModel"], shape["heads"], shape["seq"], shape["vocab"])

    def loss_fn(m, ids):
        logits = m(ids[:, :-1])
        return F.cross_entropy(logits.reshape(-1, shape["vocab"]), ids[:, 1:].reshape(-1))

    make_batch = lambda step: torch.randint(0, shape["vocab"], (batch, shape["seq"] + 1))
    return model, make_batch, loss_fn, {"targets": ("q", "v"), "tokens_per_sample": shape["seq"]}


if __name__ == "__main__":
    main(build)
