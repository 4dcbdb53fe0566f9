"""PyTorch peer of the bert-base preset: BertForSequenceClassification in plain PyTorch
(post-norm encoder, exact gelu, tanh pooler, dropout as the config says), cross-entropy
over the labels. LoRA on query, value; the classifier trains too (PEFT's modules_to_save).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import SelfAttention, init_weights, ints_below, main


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = SelfAttention(d, c["num_attention_heads"], c["attention_probs_dropout_prob"])
        self.attn_out, self.attn_norm = nn.Linear(d, d), nn.LayerNorm(d, eps=eps)
        self.intermediate, self.output = nn.Linear(d, c["intermediate_size"]), nn.Linear(c["intermediate_size"], d)
        self.out_norm = nn.LayerNorm(d, eps=eps)
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, mask):
        x = self.attn_norm(x + self.dropout(self.attn_out(self.attention(x, mask))))
        return self.out_norm(x + self.dropout(self.output(F.gelu(self.intermediate(x)))))


class BertClassifier(nn.Module):
    def __init__(self, c, labels):
        super().__init__()
        d = c["hidden_size"]
        self.word, self.position = nn.Embedding(c["vocab_size"], d), nn.Embedding(c["max_position_embeddings"], d)
        self.token_type = nn.Embedding(c["type_vocab_size"], d)
        self.emb_norm, self.dropout = nn.LayerNorm(d, eps=c["layer_norm_eps"]), nn.Dropout(c["hidden_dropout_prob"])
        self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.pooler, self.classifier = nn.Linear(d, d), nn.Linear(d, labels)
        init_weights(self)

    def forward(self, ids, attention_mask, token_types):
        x = self.word(ids) + self.token_type(token_types) + self.position(torch.arange(ids.shape[1]))
        x = self.dropout(self.emb_norm(x))
        mask = ((1.0 - attention_mask.float()) * -1e9)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return self.classifier(self.dropout(torch.tanh(self.pooler(x[:, 0]))))


def build(job):
    c, seq, batch, labels = job["preset"]["config"], job["preset"]["seq"], job["batch"], job["preset"]["labels"]
    model = BertClassifier(c, labels)

    def make_batch(step):
        ids = ints_below(1, step, batch * seq, c["vocab_size"]).view(batch, seq)
        return ids, torch.ones(batch, seq, dtype=torch.int64), torch.zeros(batch, seq, dtype=torch.int64), ints_below(2, step, batch, labels)

    loss_fn = lambda m, b: F.cross_entropy(m(*b[:3]), b[3])
    return model, make_batch, loss_fn, {"targets": ("query", "value"), "save": ("classifier",)}


if __name__ == "__main__":
    main(build)
