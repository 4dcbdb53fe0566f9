#!/usr/bin/env python3
"""Writes an adapter folder the way PEFT 0.18.0's save_pretrained does, and the outputs PEFT's
layers compute with it, from NumPy only: an independent re-implementation (torch and PEFT cannot
be installed here), written from PEFT v0.18.0's source, not from leantune's code.

  write_peft_adapter.py SPEC.json

SPEC: {"checkpoint": ".../model.safetensors", "arch": "gpt2" | "bert", "module_prefix": "transformer." | "",
       "peft_type": "LORA" | "IA3", "config": {user's config}, "adapter_name": "default",
       "out": dir, "seed": int, "rows": int}
Writes out/[<adapter_name>/]adapter_config.json + adapter_model.safetensors and
out/expected.json: {"<module path>": {"x": [[...]], "y": [[...]]}} for every targeted layer, plus
"classifier" for modules_to_save.

Facts used (PEFT v0.18.0):
- tuners_utils.check_target_module_exists: list entry = exact name or endswith("." + entry); a string
  is re.fullmatch; layers_to_transform: index from r".*\\.{layer}\\.(\\d+)\\." per layers_pattern.
- lora/config.py fields and defaults; utils/other.get_pattern_key: r"(.*\\.)?({key})$".
- lora/layer.py Linear: y = base(x) + B(A(x))·s; s = alpha/r (alpha/sqrt(r) for rslora); Conv1D
  weights are [in, out] (fan_in_fan_out). DoRA (lora/dora.py): w_norm = ||W + s·B·A|| per output
  row (detached), y = base(x) + (m/w_norm - 1)·(x·Wᵀ) + (m/w_norm)·s·B(A(x)).
- PiSSA (layer.pissa_init): W ← W − s·B₀A₀ from the top-r SVD, A₀ = diag(√(S/s))·Vᵀ, B₀ = U·diag(√(S/s)).
- ia3/layer.py: non-feed-forward y = base(x)·l (l [out, 1]); feed-forward y = base(x·l) (l [1, in]);
  ia3/model.py: feedforward_modules default from the model type; matched by key.endswith(t).
- utils/save_and_load.py: keys "base_model.model." + name with ".<adapter>" removed;
  lora_magnitude_vector.<adapter>.weight → lora_magnitude_vector; modules_to_save → <name>.<param>;
  a non-default adapter goes to <out>/<adapter_name>/; safetensors metadata {"format": "pt"}.
"""
import json
import os
import re
import struct
import sys

import numpy as np

PEFT_VERSION = "0.18.0"
IA3_TARGETS = {"gpt2": ["c_attn", "mlp.c_proj"], "bert": ["key", "value", "output.dense"]}
IA3_FEEDFORWARD = {"gpt2": ["mlp.c_proj"], "bert": ["output.dense"]}
HEADER = {"task_type": None, "peft_type": None, "auto_mapping": None, "peft_version": PEFT_VERSION,
          "base_model_name_or_path": None, "revision": None, "inference_mode": True}
LORA_FIELDS = {
    "r": 8, "target_modules": None, "exclude_modules": None, "lora_alpha": 8, "lora_dropout": 0.0,
    "fan_in_fan_out": False, "bias": "none", "use_rslora": False, "modules_to_save": None,
    "init_lora_weights": True, "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {},
    "alpha_pattern": {}, "megatron_config": None, "megatron_core": "megatron.core",
    "trainable_token_indices": None, "loftq_config": {}, "eva_config": None, "corda_config": None,
    "use_dora": False, "alora_invocation_tokens": None, "use_qalora": False, "qalora_group_size": 16,
    "layer_replication": None, "lora_bias": False, "target_parameters": None, "arrow_config": None,
    "ensure_weight_tying": False,
}
IA3_FIELDS = {"target_modules": None, "exclude_modules": None, "feedforward_modules": None,
              "fan_in_fan_out": False, "modules_to_save": None, "init_ia3_weights": True}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        assert info["dtype"] == "F32", (key, info["dtype"])
        start, end = info["data_offsets"]
        out[key] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"]).astype(np.float64)
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for key in sorted(tensors):
        raw = np.ascontiguousarray(tensors[key], dtype="<f4").tobytes()
        header[key] = {"dtype": "F32", "shape": list(tensors[key].shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + b"".join(chunks))


def is_target(cfg, key):
    targets = cfg["target_modules"]
    excluded = cfg.get("exclude_modules")
    if excluded and (re.fullmatch(excluded, key) if isinstance(excluded, str) else any(key == e or key.endswith("." + e) for e in excluded)):
        return False
    if isinstance(targets, str):
        return re.fullmatch(targets, key) is not None
    if not any(key == t or key.endswith("." + t) for t in targets):
        return False
    wanted = cfg.get("layers_to_transform")
    if wanted is None:
        return True
    wanted = [wanted] if isinstance(wanted, int) else wanted
    patterns = cfg.get("layers_pattern")
    patterns = [patterns] if isinstance(patterns, str) else patterns
    for p in patterns or [None]:
        m = re.match(r".*\.[^.]*\.(\d+)\." if p is None else rf".*\.{p}\.(\d+)\.", key)
        if m:
            return int(m.group(1)) in wanted
    return False


def pattern_value(patterns, key, default):
    for k, v in patterns.items():
        if re.match(rf"(.*\.)?({k})$", key):
            return v
    return default


def main():
    spec = json.load(open(sys.argv[1]))
    rng = np.random.default_rng(spec["seed"])
    weights = read_safetensors(spec["checkpoint"])
    prefix, arch = spec["module_prefix"], spec["arch"]
    # Candidate layers: Linear (bert) / Conv1D (gpt2 h.*) weights, embeddings and norms left out.
    layers = {}
    for key, w in weights.items():
        if not key.endswith(".weight") or w.ndim != 2 or re.search(r"(embeddings|wte|wpe)\.", key + "."):
            continue
        name = prefix + key[: -len(".weight")] if not key.startswith(prefix) else key[: -len(".weight")]
        conv1d = arch == "gpt2"
        bias = weights.get(key[: -len("weight")] + "bias")
        w_out_in = w.T if conv1d else w
        layers[name] = (w_out_in, np.zeros(w_out_in.shape[0]) if bias is None else bias)
    cfg = dict(spec["config"])
    if spec["peft_type"] == "IA3":
        cfg.setdefault("target_modules", IA3_TARGETS[arch])
        if cfg.get("feedforward_modules") is None:
            cfg["feedforward_modules"] = IA3_FEEDFORWARD[arch]
    targets = sorted(k for k in layers if is_target(cfg, k))
    assert targets, "no target matched"
    tensors, expected = {}, {}
    name = spec["adapter_name"]
    for key in targets:
        w, b = layers[key]
        out_f, in_f = w.shape
        x = rng.standard_normal((spec["rows"], in_f))
        if spec["peft_type"] == "IA3":
            ff = cfg["feedforward_modules"]
            is_ff = re.fullmatch(ff, key) is not None if isinstance(ff, str) else any(key.endswith(t) for t in ff)
            vec = 1 + 0.3 * rng.standard_normal((1, in_f) if is_ff else (out_f, 1))
            y = (x * vec[0]) @ w.T + b if is_ff else (x @ w.T + b) * vec[:, 0]
            tensors[f"base_model.model.{key}.ia3_l"] = vec
        else:
            r = pattern_value(cfg.get("rank_pattern", {}), key, cfg.get("r", 8))
            alpha = pattern_value(cfg.get("alpha_pattern", {}), key, cfg.get("lora_alpha", 8))
            s = alpha / np.sqrt(r) if cfg.get("use_rslora") else alpha / r
            init = cfg.get("init_lora_weights", True)
            if isinstance(init, str) and init.startswith("pissa"):
                u, sv, vt = np.linalg.svd(w, full_matrices=False)
                a0 = np.diag(np.sqrt(sv[:r] / s)) @ vt[:r]
                b0 = u[:, :r] @ np.diag(np.sqrt(sv[:r] / s))
                w = w - s * b0 @ a0  # the residual base from_pretrained rebuilds
                a, bb = a0 + 0.2 * rng.standard_normal(a0.shape), b0 + 0.2 * rng.standard_normal(b0.shape)
            else:
                a, bb = 0.3 * rng.standard_normal((r, in_f)), 0.3 * rng.standard_normal((out_f, r))
            lora = (x @ a.T) @ bb.T
            y = x @ w.T + b + s * lora
            if cfg.get("use_dora"):
                w_norm = np.linalg.norm(w + s * bb @ a, axis=1)
                m = w_norm * (1 + 0.2 * rng.standard_normal(out_f))
                scale = m / w_norm
                y = x @ w.T + b + (scale - 1) * (x @ w.T) + scale * s * lora
                tensors[f"base_model.model.{key}.lora_magnitude_vector"] = m
            tensors[f"base_model.model.{key}.lora_A.weight"] = a
            tensors[f"base_model.model.{key}.lora_B.weight"] = bb
        expected[key] = {"x": x.tolist(), "y": y.tolist()}
    for module in cfg.get("modules_to_save") or []:
        full = next(k for k in weights if k.startswith(module + ".") or ("." + module + ".") in k)
        mod = full[: full.index(module) + len(module)]
        w, b = weights[mod + ".weight"], weights[mod + ".bias"]
        w2, b2 = w + 0.3 * rng.standard_normal(w.shape), b + 0.3 * rng.standard_normal(b.shape)
        tensors[f"base_model.model.{mod}.weight"], tensors[f"base_model.model.{mod}.bias"] = w2, b2
        x = rng.standard_normal((spec["rows"], w.shape[1]))
        expected[mod] = {"x": x.tolist(), "y": (x @ w2.T + b2).tolist()}
    fields = IA3_FIELDS if spec["peft_type"] == "IA3" else LORA_FIELDS
    config = {**HEADER, "peft_type": spec["peft_type"], **fields, **cfg}
    if spec["peft_type"] == "IA3" or arch == "gpt2":
        config["fan_in_fan_out"] = arch == "gpt2"  # PEFT rewrites it to the layer type it meets
    folder = spec["out"] if name == "default" else os.path.join(spec["out"], name)
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "adapter_model.safetensors"), tensors)
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(spec["out"], "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
