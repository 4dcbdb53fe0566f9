#!/usr/bin/env python3
"""Checks the config fields write_peft_adapter.py writes and expects against PEFT's dataclasses,
read from PEFT's source at a pinned tag (no torch needed: the dataclasses are parsed, not imported).

  check_peft_fields.py PEFT_GIT_DIR [TAG]      (TAG defaults to v0.18.0, the version the suite follows)

Prints, per config class, the fields PEFT has that the writer lacks and the reverse; exits 1 on any.
"""
import ast
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import write_peft_adapter as writer  # noqa: E402

CLASSES = [("src/peft/tuners/lora/config.py", "LoraConfig", writer.LORA_FIELDS),
           ("src/peft/tuners/ia3/config.py", "IA3Config", writer.IA3_FIELDS),
           ("src/peft/tuners/ln_tuning/config.py", "LNTuningConfig", writer.LN_TUNING_FIELDS)]


def dataclass_fields(repo, tag, path, cls):
    src = subprocess.run(["git", "-C", repo, "show", f"{tag}:{path}"], capture_output=True, text=True, check=True).stdout
    node = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ClassDef) and n.name == cls)
    return {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)}


def main():
    repo, tag = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "v0.18.0")
    commit = subprocess.run(["git", "-C", repo, "rev-parse", f"{tag}^{{commit}}"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"PEFT {tag} ({commit})")
    bad = False
    header = dataclass_fields(repo, tag, "src/peft/config.py", "PeftConfigMixin") | dataclass_fields(repo, tag, "src/peft/config.py", "PeftConfig")
    checks = [("PeftConfig (header)", header, set(writer.HEADER) | {"peft_type"})]
    # runtime_config is dropped by LoraConfig.to_dict, so never saved.
    checks += [(cls, dataclass_fields(repo, tag, path, cls) - {"runtime_config"}, set(fields)) for path, cls, fields in CLASSES]
    for name, theirs, ours in checks:
        missing, extra = sorted(theirs - ours), sorted(ours - theirs)
        bad |= bool(missing or extra)
        print(f"{name}: {len(theirs)} fields; missing in the suite {missing}, not in PEFT {extra}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
