"""PyTorch peer of the gpt2-small preset: GPT2LMHeadModel as transformers builds it, in plain
PyTorch: Conv1D layers (weight [in, out]) with the fused q,k,v `c_attn`, gelu_new, tied
lm_head (logits = h · wteᵀ), dropout as the config says, causal LM loss. LoRA on c_attn.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import attention, causal_lm_build, main


class Conv1D(nn.Module):
    """transformers' Conv1D: y = x·W + b with W [in, out], N(0, 0.02) init."""

    def __init__(self, out_features, in_features, std=0.02):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(in_features, out_features) * std)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).view(*x.shape[:-1], self.out_features)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, proj_std = c["n_embd"], 0.02 / math.sqrt(2 * c["n_layer"])
        self.heads = c["n_head"]
        self.ln_1, self.ln_2 = (nn.LayerNorm(d, eps=c["layer_norm_epsilon"]) for _ in range(2))
        self.c_attn, self.attn_proj = Conv1D(3 * d, d), Conv1D(d, d, proj_std)
        self.c_fc, self.mlp_proj = Conv1D(c["n_inner"], d), Conv1D(d, c["n_inner"], proj_std)
        self.attn_dropout, self.resid_dropout, self.mlp_dropout = (nn.Dropout(p) for p in (c["attn_pdrop"], c["resid_pdrop"], c["resid_pdrop"]))

    def forward(self, x, mask):
        q, k, v = self.c_attn(self.ln_1(x)).split(x.shape[-1], dim=2)
        x = x + self.resid_dropout(self.attn_proj(attention(q, k, v, self.heads, mask, self.attn_dropout)))
        return x + self.mlp_dropout(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))


class Gpt2LMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c["vocab_size"], c["n_embd"]), nn.Embedding(c["n_positions"], c["n_embd"])
        nn.init.normal_(self.wte.weight, 0.0, 0.02)
        nn.init.normal_(self.wpe.weight, 0.0, 0.01)
        self.drop = nn.Dropout(c["embd_pdrop"])
        self.h = nn.ModuleList(Block(c) for _ in range(c["n_layer"]))
        self.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])

    def forward(self, ids):
        s = ids.shape[1]
        mask = torch.triu(torch.full((s, s), -1e9), 1)
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(s)))
        for block in self.h:
            x = block(x, mask)
        return self.ln_f(x) @ self.wte.weight.t()  # tied lm_head


if __name__ == "__main__":
    main(causal_lm_build(Gpt2LMHead, ("c_attn",)))
