"""untie.py - an untied copy of a tied Hugging Face model folder: lm_head.weight written as a copy of the
embedding and tie_word_embeddings set to false. The copy is a trained output head of an untied model (at the
start both matrices are equal; each is then quantized for its own role), which none of the shared models is.
Standard library only: reads and rewrites the one model.safetensors (F32, BF16 or F16) without decoding it.
Reference tooling for bench/head_methods.sh; never a dependency of gguf-forge, `make test` or `make demo`.

Usage: python3 bench/untie.py MODEL_DIR OUT_DIR
"""
import json
import os
import shutil
import struct
import sys

EMBED = "model.embed_tokens.weight"


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[-1])
    src, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    if EMBED not in header:
        sys.exit(f"untie: {src}/model.safetensors has no {EMBED}")
    if "lm_head.weight" in header:
        sys.exit(f"untie: {src}/model.safetensors already has lm_head.weight")
    e = header[EMBED]
    b0, b1 = e["data_offsets"]
    header["lm_head.weight"] = {"dtype": e["dtype"], "shape": e["shape"], "data_offsets": [len(data), len(data) + b1 - b0]}
    data += data[b0:b1]
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(src):
        if name not in ("model.safetensors", "config.json"):
            shutil.copy(os.path.join(src, name), out)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["tie_word_embeddings"] = False
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + data)


if __name__ == "__main__":
    main()
