"""hf_from_gguf.py - a Hugging Face folder (config.json, model.safetensors in F32, tokenizer files) from a GGUF,
for tools that read only HF folders (intel/auto-round, issue 14). Reference tooling, never a dependency of
gguf-forge, `make test` or `make demo`: run it with a Python that has torch, transformers and gguf-py.

transformers dequantizes the GGUF (gguf-py's decoders) and undoes llama.cpp's q/k row permutation; its GGUF-loaded
model refuses save_pretrained, so the state dict is moved into a fresh model built from the same config. Checked
on SmolLM2-135M-Instruct.Q4_1.gguf (2026-12-03, torch 2.15, transformers 5.24): `gguf-forge quantize OUT_DIR
--type f32` of the folder gives all 272 tensors bit-identical to `gguf-forge quantize THE.gguf --type f32`, so
both tools start from the same float model.

Usage: python bench/hf_from_gguf.py MODEL.gguf OUT_DIR
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main() -> None:
    gguf, out = sys.argv[1], sys.argv[2]
    folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    cfg = loaded.config
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # a tied output head is the one expected missing key
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        sys.exit(f"hf_from_gguf: {gguf}: state dict mismatch: missing {missing}, unexpected {unexpected}")
    fresh.tie_weights()
    fresh.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    print(f"hf_from_gguf: wrote {out}")


if __name__ == "__main__":
    main()
