"""PyTorch peer of the vit-b16 preset: ViTForImageClassification in plain PyTorch. The patch
embedding is a Conv2d (kernel = stride = patch size) on NCHW pixels, as transformers has
it; our side is the hf plugin's Conv2d on NHWC, and both get the same numbers (generated
NHWC, permuted here). Pre-norm encoder, exact gelu, final LayerNorm, classifier on CLS.
LoRA on query, value; the classifier trains too (PEFT's modules_to_save).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import SelfAttention, hash_stream, init_weights, ints_below, main


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.layernorm_before, self.layernorm_after = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
        self.attention = SelfAttention(d, c["num_attention_heads"], c["attention_probs_dropout_prob"], c["qkv_bias"])
        self.attn_out = nn.Linear(d, d)
        self.intermediate, self.output = nn.Linear(d, c["intermediate_size"]), nn.Linear(c["intermediate_size"], d)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x):
        x = x + self.dropout(self.attn_out(self.attention(self.layernorm_before(x))))
        return x + self.dropout(self.output(F.gelu(self.intermediate(self.layernorm_after(x)))))


class VitClassifier(nn.Module):
    def __init__(self, c, labels):
        super().__init__()
        d, patch = c["hidden_size"], c["patch_size"]
        patches = (c["image_size"] // patch) ** 2
        self.projection = nn.Conv2d(c["num_channels"], d, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.position_embeddings = nn.Parameter(torch.randn(1, patches + 1, d) * 0.02)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.classifier = nn.Linear(d, labels)
        init_weights(self)

    def forward(self, pixels):
        x = self.projection(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.position_embeddings
        x = self.dropout(x)
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.layernorm(x)[:, 0])


def build(job):
    c, batch, labels = job["preset"]["config"], job["batch"], job["preset"]["labels"]
    side, channels = c["image_size"], c["num_channels"]
    model = VitClassifier(c, labels)

    def make_batch(step):
        h = hash_stream(1, step, batch * side * side * channels).double()
        pixels = (h / 2**32 * 2 - 1).float().view(batch, side, side, channels).permute(0, 3, 1, 2).contiguous()
        return pixels, ints_below(2, step, batch, labels)

    loss_fn = lambda m, b: F.cross_entropy(m(b[0]), b[1])
    return model, make_batch, loss_fn, {"targets": ("query", "value"), "save": ("classifier",)}


if __name__ == "__main__":
    main(build)
