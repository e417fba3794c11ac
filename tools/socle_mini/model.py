"""BERT encoder in plain PyTorch with HuggingFace BertModel's math and tensor names.

Post-LayerNorm blocks, exact (erf) GELU, LayerNorm eps 1e-12, absolute position ids
0..n-1, token type embeddings, pooler = tanh(dense(h[:, 0])). state_dict() keys are the
ones BertModel.save_pretrained writes (no "bert." prefix); the MLM head lives outside.
Works with torch 1.13 (Debian, CPU) and torch 2.x (uses scaled_dot_product_attention).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")


def bert_config(vocab_size, d, layers, heads, ff, max_pos=512):
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab_size,
        "hidden_size": d,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": max_pos,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "position_embedding_type": "absolute",
        "torch_dtype": "float16",
    }


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], d, padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], d)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], d)
        self.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.word_embeddings(ids) + self.token_type_embeddings(types) + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(x))


class SelfAttn(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)


class DenseLN(nn.Module):
    def __init__(self, d_in, d, eps):
        super().__init__()
        self.dense = nn.Linear(d_in, d)
        self.LayerNorm = nn.LayerNorm(d, eps=eps)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttn(c)
        self.output = DenseLN(c["hidden_size"], c["hidden_size"], c["layer_norm_eps"])


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h = c["num_attention_heads"]
        self.p_attn = c["attention_probs_dropout_prob"]
        self.p = c["hidden_dropout_prob"]
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseLN(c["intermediate_size"], c["hidden_size"], c["layer_norm_eps"])

    def forward(self, x, mask_add):
        b, n, d = x.shape
        h, hd = self.h, d // self.h
        sa = self.attention.self
        q = sa.query(x).view(b, n, h, hd).transpose(1, 2)
        k = sa.key(x).view(b, n, h, hd).transpose(1, 2)
        v = sa.value(x).view(b, n, h, hd).transpose(1, 2)
        p_attn = self.p_attn if self.training else 0.0
        if HAVE_SDPA:
            m = None if mask_add is None else mask_add.to(q.dtype)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=m, dropout_p=p_attn)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
            if mask_add is not None:
                s = s + mask_add
            a = F.dropout(torch.softmax(s, dim=-1), p_attn, self.training)
            ctx = torch.matmul(a, v)
        ctx = ctx.transpose(1, 2).reshape(b, n, d)
        ao = self.attention.output
        x = ao.LayerNorm(x + F.dropout(ao.dense(ctx), self.p, self.training))
        y = F.gelu(self.intermediate.dense(x))
        o = self.output
        return o.LayerNorm(x + F.dropout(o.dense(y), self.p, self.training))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)
        self.apply(self._init)

    def _init(self, m):
        r = self.config["initializer_range"]
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=r)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=r)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, ids, types=None, attn_mask=None, all_layers=False):
        """ids (b, n); attn_mask (b, n) 1 = real token. Returns last hidden (b, n, d), pooled (b, d)
        and, with all_layers, the list of n_layers + 1 hidden states."""
        if types is None:
            types = torch.zeros_like(ids)
        mask_add = None  # no padding: no mask (lets SDPA pick its fastest kernel)
        if attn_mask is not None:
            # additive mask as HF: 0 for tokens, most negative float for padding
            neg = torch.finfo(torch.float32).min
            mask_add = (1.0 - attn_mask[:, None, None, :].float()) * neg
        x = self.embeddings(ids, types)
        hs = [x]
        for lyr in self.encoder.layer:
            x = lyr(x, mask_add)
            hs.append(x)
        pooled = torch.tanh(self.pooler.dense(x[:, 0]))
        return (x, pooled, hs) if all_layers else (x, pooled)


class MLMHead(nn.Module):
    """BertForMaskedLM's cls.predictions: dense, GELU, LayerNorm, decoder tied to embeddings."""

    def __init__(self, c, word_emb):
        super().__init__()
        d = c["hidden_size"]
        self.dense = nn.Linear(d, d)
        self.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        self.word_emb = word_emb
        nn.init.normal_(self.dense.weight, std=c["initializer_range"])
        nn.init.zeros_(self.dense.bias)

    def forward(self, h):
        h = self.LayerNorm(F.gelu(self.dense(h)))
        return F.linear(h, self.word_emb.weight, self.bias)


class Head(nn.Module):
    """An adapter head as socle applies it: [dense -> activation ->] out."""

    def __init__(self, d, n_out, mlp, activation="tanh", hidden=None):
        super().__init__()
        self.mlp = mlp
        self.act = activation
        if mlp:
            self.dense = nn.Linear(d, hidden or d)
            nn.init.normal_(self.dense.weight, std=0.02)
            nn.init.zeros_(self.dense.bias)
        self.out = nn.Linear(hidden or d if mlp else d, n_out)
        nn.init.normal_(self.out.weight, std=0.02)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        if self.mlp:
            x = self.dense(x)
            x = {"tanh": torch.tanh, "gelu": F.gelu, "relu": F.relu}[self.act](x)
        return self.out(x)
