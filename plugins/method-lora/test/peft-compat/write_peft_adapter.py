#!/usr/bin/env python3
"""Writes an adapter folder the way PEFT 0.18.0's save_pretrained does, and the outputs PEFT's
layers compute with it, from NumPy only: an independent re-implementation (torch and PEFT cannot
be installed here), written from PEFT v0.18.0's source, not from leantune's code.

  write_peft_adapter.py SPEC.json          write a folder as PEFT does, and PEFT's outputs
  write_peft_adapter.py --read SPEC.json   read a folder (leantune's) as PEFT 0.18.0 would load it:
      SPEC {"checkpoint", "arch", "module_prefix", "peft_type", "folder", "inputs": {path: x}, "out": file};
      writes {"problems": [...], "outputs": {path: y}}: config fields and saved keys/shapes
      that differ from PEFT's, and each layer's output computed from the folder

SPEC: {"checkpoint": ".../model.safetensors", "arch": "gpt2" | "bert" | "conv", "module_prefix": "transformer." | "",
       "peft_type": "LORA" | "IA3" | "LN_TUNING", "config": {user's config}, "adapter_name": "default",
       "out": dir, "seed": int, "rows": int, "conv_layers": {path: {"stride", "padding", "groups"}} (arch "conv"),
       LN_TUNING reads the LayerNorm epsilon from the checkpoint's config.json}
arch "conv": the checkpoint holds <path>.weight [out, in/groups, kh, kw] (+ .bias) of each Conv2d
(MobileNetV2's, torch layout); inputs and outputs are NHWC (leantune's layout), computed NCHW.
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
- lora/layer.py Embedding: lora_embedding_A [r, num_embeddings], lora_embedding_B [embedding_dim, r] (ParameterDicts,
  saved without ".weight"); y = base(ids) + embed(ids, Aᵀ)·Bᵀ·s (no dropout). Conv2d (_ConvNd): lora_A a Conv2d
  in→r with the base's kernel, stride, padding; lora_B a 1×1 Conv2d r→out, both without bias;
  y = base(x) + B(A(x))·s.
- ln_tuning (config.py, layer.py, model.py): LNTuningLayer trains a deepcopy of each targeted module in
  ln_tuning_layers.<adapter> and runs it instead of the base; saved (prefix "ln_tuning_") as
  <name>.ln_tuning_layers.{weight,bias}; LNTuningConfig fields target_modules, exclude_modules,
  modules_to_save; targets default to TRANSFORMERS_MODELS_TO_LNTUNING_TARGET_MODULES_MAPPING (gpt2:
  ln_1, ln_2, ln_f; bert has none: PEFT raises "Please specify `target_modules`"), matched as LoRA's.
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
LN_TUNING_TARGETS = {"gpt2": ["ln_1", "ln_2", "ln_f"]}
LN_TUNING_FIELDS = {"target_modules": None, "exclude_modules": None, "modules_to_save": None}
IA3_FIELDS = {"target_modules": None, "exclude_modules": None, "feedforward_modules": None,
              "fan_in_fan_out": False, "modules_to_save": None, "init_ia3_weights": True}


def method_fields(peft_type):
    return {"IA3": IA3_FIELDS, "LN_TUNING": LN_TUNING_FIELDS}.get(peft_type, LORA_FIELDS)


def layer_norm(x, gamma, beta, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def same_pads(size, k, stride):
    """TF's (and leantune's) "same" padding: (before, after) for one spatial axis."""
    total = max((-(-size // stride) - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x, w, stride, padding):
    """torch.nn.functional.conv2d, groups=1: x [n, in, h, w], w [out, in, kh, kw]."""
    kh, kw = w.shape[2:]
    if padding == "same":
        (pt, pb), (pl, pr) = same_pads(x.shape[2], kh, stride), same_pads(x.shape[3], kw, stride)
    else:
        p = 0 if padding == "valid" else int(padding)
        pt, pb, pl, pr = p, p, p, p
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i: i + stride * (oh - 1) + 1: stride, j: j + stride * (ow - 1) + 1: stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return out


def read_safetensors(path, metadata=None):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    if metadata is not None and header.get("__metadata__") != {"format": "pt"}:
        metadata.append(f"safetensors metadata {header.get('__metadata__')} is not PEFT's {{'format': 'pt'}}")
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


def is_feedforward(cfg, key):
    ff = cfg["feedforward_modules"]
    return re.fullmatch(ff, key) is not None if isinstance(ff, str) else any(key.endswith(t) for t in ff)


def lora_rank_scaling(cfg, key):
    r = pattern_value(cfg.get("rank_pattern") or {}, key, cfg.get("r", 8))
    alpha = pattern_value(cfg.get("alpha_pattern") or {}, key, cfg.get("lora_alpha", 8))
    return r, alpha / np.sqrt(r) if cfg.get("use_rslora") else alpha / r


def is_pissa(cfg):
    init = cfg.get("init_lora_weights", True)
    return isinstance(init, str) and init.startswith("pissa")


def pissa_parts(w, r, s):
    u, sv, vt = np.linalg.svd(w, full_matrices=False)
    root = np.sqrt(sv[:r] / s)
    return np.diag(root) @ vt[:r], u[:, :r] @ np.diag(root)


def pissa_residual(cfg, w, r, s):
    """The base from_pretrained rebuilds for a PiSSA adapter (pissa_init again), else W."""
    if not is_pissa(cfg):
        return w
    a0, b0 = pissa_parts(w, r, s)
    return w - s * b0 @ a0


def layer_output(peft_type, cfg, key, w, b, x, tensors):
    """What PEFT's layer computes for input x, from the saved tensors."""
    prefix = f"base_model.model.{key}."
    if peft_type == "LN_TUNING":
        return layer_norm(x, tensors[prefix + "ln_tuning_layers.weight"], tensors[prefix + "ln_tuning_layers.bias"], b)
    if peft_type == "IA3":
        vec = tensors[prefix + "ia3_l"]
        return (x * vec[0]) @ w.T + b if is_feedforward(cfg, key) else (x @ w.T + b) * vec[:, 0]
    r, s = lora_rank_scaling(cfg, key)
    if prefix + "lora_embedding_A" in tensors:  # lora.Embedding: x are token ids, w the table
        a, bb = tensors[prefix + "lora_embedding_A"], tensors[prefix + "lora_embedding_B"]
        return w[x] + (a.T[x] @ bb.T) * s
    if isinstance(b, dict):  # lora.Conv2d: x NHWC, w [out, in, kh, kw], b {"bias", "stride", "padding"}
        nchw = np.transpose(x, (0, 3, 1, 2))
        a, bb = tensors[prefix + "lora_A.weight"], tensors[prefix + "lora_B.weight"]
        y = conv2d(nchw, w, b["stride"], b["padding"]) + b["bias"][None, :, None, None]
        y = y + s * conv2d(conv2d(nchw, a, b["stride"], b["padding"]), bb, 1, 0)
        return np.transpose(y, (0, 2, 3, 1))
    w = pissa_residual(cfg, w, r, s)
    a, bb = tensors[prefix + "lora_A.weight"], tensors[prefix + "lora_B.weight"]
    lora = (x @ a.T) @ bb.T
    if not cfg.get("use_dora"):
        return x @ w.T + b + s * lora
    scale = tensors[prefix + "lora_magnitude_vector"] / np.linalg.norm(w + s * bb @ a, axis=1)
    return x @ w.T + b + (scale - 1) * (x @ w.T) + scale * s * lora


def candidate_layers(weights, arch, prefix):
    """Linear (bert) / Conv1D (gpt2 h.*) layers as [out, in] weights and biases, by module name."""
    layers = {}
    for key, w in weights.items():
        if not key.endswith(".weight") or w.ndim != 2 or re.search(r"(embeddings|wte|wpe)\.", key + "."):
            continue
        name = key[: -len(".weight")] if key.startswith(prefix) else prefix + key[: -len(".weight")]
        bias = weights.get(key[: -len("weight")] + "bias")
        w_out_in = w.T if arch == "gpt2" else w
        layers[name] = (w_out_in, np.zeros(w_out_in.shape[0]) if bias is None else bias)
    return layers


def embedding_tables(weights, prefix):
    """Token embedding tables (lora.Embedding targets): GPT-2's wte, BERT's word_embeddings."""
    return {("" if k.startswith(prefix) else prefix) + k[: -len(".weight")]: w for k, w in weights.items()
            if re.search(r"(^|\.)(wte|word_embeddings)\.weight$", k)}


def norm_layers(weights, prefix):
    """Modules with a 1-D weight and a bias (the LayerNorms of GPT-2 and BERT), by module name."""
    return {("" if k.startswith(prefix) else prefix) + k[: -len(".weight")]: (w, weights[k[: -len("weight")] + "bias"])
            for k, w in weights.items() if k.endswith(".weight") and w.ndim == 1}


def conv_layers(weights, spec):
    """arch "conv": each Conv2d as (weight [out, in, kh, kw], {"bias", "stride", "padding"})."""
    out = {}
    for key, info in spec["conv_layers"].items():
        w = weights[key + ".weight"]
        if info["groups"] != 1:
            continue  # grouped/depthwise: PEFT needs r % groups == 0; not in this suite
        out[key] = (w, {"bias": weights.get(key + ".bias", np.zeros(w.shape[0])), "stride": info["stride"], "padding": info["padding"]})
    return out


def model_layers(weights, spec):
    """What a PEFT type can target, by module name: (weight, bias-or-extra)."""
    prefix = spec["module_prefix"]
    if spec["peft_type"] == "LN_TUNING":
        hub = json.load(open(os.path.join(os.path.dirname(spec["checkpoint"]), "config.json")))
        eps = hub.get("layer_norm_epsilon", hub.get("layer_norm_eps"))  # GPT2Config / BertConfig
        return {k: (gamma_beta[0], eps) for k, gamma_beta in norm_layers(weights, prefix).items()}
    if spec["arch"] == "conv":
        return conv_layers(weights, spec)
    layers = candidate_layers(weights, spec["arch"], prefix)
    if spec["peft_type"] == "LORA":
        layers.update({k: (w, None) for k, w in embedding_tables(weights, prefix).items()})
    return layers


def read_folder(spec):
    """Loads a folder as PEFT 0.18.0's from_pretrained would; reports what PEFT would not accept."""
    problems = []
    config = json.load(open(os.path.join(spec["folder"], "adapter_config.json")))
    fields = method_fields(spec["peft_type"])
    wanted = set(HEADER) | {"peft_type"} | set(fields)
    if set(config) != wanted:
        problems.append(f"config fields: missing {sorted(wanted - set(config))}, unknown {sorted(set(config) - wanted)}")
    if config.get("peft_version") != PEFT_VERSION or config.get("peft_type") != spec["peft_type"]:
        problems.append(f"peft_version/peft_type: {config.get('peft_version')}/{config.get('peft_type')}")
    weights = read_safetensors(spec["checkpoint"])
    layers = model_layers(weights, spec)
    targets = sorted(k for k in layers if is_target(config, k))
    tensors = read_safetensors(os.path.join(spec["folder"], "adapter_model.safetensors"), metadata=problems)
    expected_keys = {}
    for key in targets:
        w, extra = layers[key]
        p = f"base_model.model.{key}."
        if spec["peft_type"] == "LN_TUNING":
            expected_keys[p + "ln_tuning_layers.weight"] = expected_keys[p + "ln_tuning_layers.bias"] = list(w.shape)
            continue
        if extra is None:  # Embedding [num_embeddings, embedding_dim]
            r, _ = lora_rank_scaling(config, key)
            expected_keys[p + "lora_embedding_A"], expected_keys[p + "lora_embedding_B"] = [r, w.shape[0]], [w.shape[1], r]
            continue
        if isinstance(extra, dict):  # Conv2d
            r, _ = lora_rank_scaling(config, key)
            expected_keys[p + "lora_A.weight"], expected_keys[p + "lora_B.weight"] = [r, *w.shape[1:]], [w.shape[0], r, 1, 1]
            continue
        out_f, in_f = w.shape
        if spec["peft_type"] == "IA3":
            expected_keys[p + "ia3_l"] = [1, in_f] if is_feedforward(config, key) else [out_f, 1]
        else:
            r, _ = lora_rank_scaling(config, key)
            expected_keys[p + "lora_A.weight"], expected_keys[p + "lora_B.weight"] = [r, in_f], [out_f, r]
            if config.get("use_dora"):
                expected_keys[p + "lora_magnitude_vector"] = [out_f]
    got = {k: list(v.shape) for k, v in tensors.items()}
    if got != expected_keys:
        problems.append(f"saved tensors differ: missing {sorted(set(expected_keys) - set(got))}, unexpected {sorted(set(got) - set(expected_keys))}, "
                        f"shapes {[(k, got[k], expected_keys[k]) for k in got if k in expected_keys and got[k] != expected_keys[k]]}")
    outputs = {}
    for key, x in spec["inputs"].items():
        w, b = layers[key]
        outputs[key] = layer_output(spec["peft_type"], config, key, w, b, np.array(x), tensors).tolist()
    with open(spec["out"], "w") as f:
        json.dump({"problems": problems, "outputs": outputs}, f)


def main():
    if sys.argv[1] == "--read":
        return read_folder(json.load(open(sys.argv[2])))
    spec = json.load(open(sys.argv[1]))
    rng = np.random.default_rng(spec["seed"])
    weights = read_safetensors(spec["checkpoint"])
    arch, peft_type = spec["arch"], spec["peft_type"]
    layers = model_layers(weights, spec)
    cfg = dict(spec["config"])
    if peft_type == "IA3":
        cfg.setdefault("target_modules", IA3_TARGETS[arch])
        if cfg.get("feedforward_modules") is None:
            cfg["feedforward_modules"] = IA3_FEEDFORWARD[arch]
    if peft_type == "LN_TUNING" and cfg.get("target_modules") is None:
        if arch not in LN_TUNING_TARGETS:
            raise SystemExit("Please specify `target_modules` in `peft_config`")  # BaseTuner._prepare_adapter_config
        cfg["target_modules"] = LN_TUNING_TARGETS[arch]
    targets = sorted(k for k in layers if is_target(cfg, k))
    assert targets, "no target matched"
    tensors, expected = {}, {}
    name = spec["adapter_name"]
    rows = spec["rows"]
    for key in targets:
        w, b = layers[key]
        p = f"base_model.model.{key}."
        if peft_type == "LN_TUNING":
            gamma, beta = norm_layers(weights, spec["module_prefix"])[key]
            tensors[p + "ln_tuning_layers.weight"] = gamma + 0.3 * rng.standard_normal(gamma.shape)
            tensors[p + "ln_tuning_layers.bias"] = beta + 0.3 * rng.standard_normal(beta.shape)
            x = rng.standard_normal((rows, gamma.shape[0]))
        elif b is None:  # lora.Embedding
            r, _ = lora_rank_scaling(cfg, key)
            tensors[p + "lora_embedding_A"], tensors[p + "lora_embedding_B"] = 0.3 * rng.standard_normal((r, w.shape[0])), 0.3 * rng.standard_normal((w.shape[1], r))
            x = rng.integers(0, w.shape[0], size=(rows, 4))
        elif isinstance(b, dict):  # lora.Conv2d, NHWC inputs of 8×8
            r, _ = lora_rank_scaling(cfg, key)
            # A at Kaiming's scale (1/√fan_in), so deep 1×1 convs (960 → 320) stay in float32's range
            tensors[p + "lora_A.weight"] = rng.standard_normal((r, *w.shape[1:])) / np.sqrt(np.prod(w.shape[1:]))
            tensors[p + "lora_B.weight"] = 0.3 * rng.standard_normal((w.shape[0], r, 1, 1))
            x = rng.standard_normal((1, 8, 8, w.shape[1]))
        else:
            out_f, in_f = w.shape
            x = rng.standard_normal((rows, in_f))
            if peft_type == "IA3":
                shape = (1, in_f) if is_feedforward(cfg, key) else (out_f, 1)
                tensors[p + "ia3_l"] = 1 + 0.3 * rng.standard_normal(shape)
            else:
                r, s = lora_rank_scaling(cfg, key)
                if is_pissa(cfg):
                    a0, b0 = pissa_parts(w, r, s)
                    a, bb = a0 + 0.2 * rng.standard_normal(a0.shape), b0 + 0.2 * rng.standard_normal(b0.shape)
                else:
                    a, bb = 0.3 * rng.standard_normal((r, in_f)), 0.3 * rng.standard_normal((out_f, r))
                tensors[p + "lora_A.weight"], tensors[p + "lora_B.weight"] = a, bb
                if cfg.get("use_dora"):
                    w_norm = np.linalg.norm(pissa_residual(cfg, w, r, s) + s * bb @ a, axis=1)
                    tensors[p + "lora_magnitude_vector"] = w_norm * (1 + 0.2 * rng.standard_normal(out_f))
        expected[key] = {"x": x.tolist(), "ids": b is None and peft_type == "LORA",
                         "y": layer_output(peft_type, cfg, key, w, b, x, tensors).tolist()}
    for module in cfg.get("modules_to_save") or []:
        full = next(k for k in weights if k.startswith(module + ".") or ("." + module + ".") in k)
        mod = full[: full.index(module) + len(module)]
        w, b = weights[mod + ".weight"], weights[mod + ".bias"]
        w2, b2 = w + 0.3 * rng.standard_normal(w.shape), b + 0.3 * rng.standard_normal(b.shape)
        tensors[f"base_model.model.{mod}.weight"], tensors[f"base_model.model.{mod}.bias"] = w2, b2
        x = rng.standard_normal((rows, w.shape[1]))
        expected[mod] = {"x": x.tolist(), "y": (x @ w2.T + b2).tolist()}
    config = {**HEADER, "peft_type": peft_type, **method_fields(peft_type), **cfg}
    if peft_type == "IA3" or (peft_type == "LORA" and arch == "gpt2"):
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
