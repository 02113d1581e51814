# make.py - transformers' logits for the random-weight test models of
# tests/test_qwen3.c (Qwen3-0.6B's and Mistral-Nemo-Base-2407's config.json shrunk;
# `test_qwen3 --write DIR` writes them).  Usage: make.py MODEL_DIR OUT_PREFIX [f64]
# Writes OUT_PREFIX.f32.txt (the model in float32, as transformers runs it) and,
# with f64, OUT_PREFIX.f64.txt (the same weights widened to float64): '#' lines
# with the versions, "tokens N ...", "logits N V", then one row of V logits per token.
import platform
import sys

import numpy
import safetensors
import torch
import transformers
from transformers import AutoModelForCausalLM

TOKENS = [5, 99, 1200, 7, 300, 42, 2000, 11, 640, 3, 2048, 17]  # as TOKENS in tests/test_qwen3.c


def run(model_dir, dtype):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model = model.to(dtype).eval()
    with torch.no_grad():
        out = model(torch.tensor([TOKENS]), use_cache=False)
    return model, out.logits[0].to(torch.float64).numpy()


def write(path, model_logits, dtype_name, model_dir):
    model, logits = model_logits
    with open(path, "w") as f:
        f.write("# transformers %s, torch %s, numpy %s, safetensors %s, python %s\n" % (
            transformers.__version__, torch.__version__, numpy.__version__, safetensors.__version__,
            platform.python_version()))
        f.write("# %s.from_pretrained(%s, attn_implementation=eager) in %s, CPU\n" % (
            type(model).__name__, model_dir.rstrip("/").split("/")[-1], dtype_name))
        f.write("tokens %d %s\n" % (len(TOKENS), " ".join(str(t) for t in TOKENS)))
        f.write("logits %d %d\n" % logits.shape)
        for row in logits:
            f.write(" ".join("%.9g" % v for v in row) + "\n")


def main():
    model_dir, prefix = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    write(prefix + ".f32.txt", run(model_dir, torch.float32), "float32", model_dir)
    if len(sys.argv) > 3 and sys.argv[3] == "f64":
        write(prefix + ".f64.txt", run(model_dir, torch.float64), "float64", model_dir)


main()
