# compare_merged.py A.gguf B.gguf - per tensor, the largest |a - b| / max|b| of two F32 GGUF files with the
# same tensors (gguf-forge's --lora merge against PEFT's merge_and_unload, both written by gguf-forge --type f32).
import sys, numpy as np
sys.path.insert(0, "/work/llama.cpp/gguf-py")
from gguf import GGUFReader
a, b = (GGUFReader(p) for p in sys.argv[1:3])
tb = {t.name: np.asarray(t.data, dtype=np.float64) for t in b.tensors}
worst, n_diff = 0.0, 0
for t in a.tensors:
    x, y = np.asarray(t.data, dtype=np.float64), tb[t.name]
    d = float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-30))
    n_diff += d > 0
    worst = max(worst, d)
print(f"{len(a.tensors)} tensors, {n_diff} differ, worst max|a-b|/max|b| = {worst:.3g}")
