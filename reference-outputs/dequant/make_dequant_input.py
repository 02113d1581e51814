#!/usr/bin/env python3
# Makes reference-outputs/dequant/dequant-input.gguf: for every GGUF input type, two
# tensors of qwen2-tiny as llama-quantize --pure wrote them (blk.0.attn_k.weight,
# 128 rows of 256, and the first 32 rows of blk.0.ffn_down.weight, 768 wide), named
# "<TYPE>.attn_k" and "<TYPE>.ffn_down", raw blocks copied unchanged.
# Usage: make_dequant_input.py DIR_WITH_tiny-<TYPE>.gguf OUT.gguf TYPE...
import sys
import numpy as np
import gguf

src, out, types = sys.argv[1], sys.argv[2], sys.argv[3:]
w = gguf.GGUFWriter(out, "dequant-ref")
for t in types:
    r = gguf.GGUFReader(f"{src}/tiny-{t}.gguf")
    by = {x.name: x for x in r.tensors}
    for name, short, rows in (("blk.0.attn_k.weight", "attn_k", None), ("blk.0.ffn_down.weight", "ffn_down", 32)):
        x = by[name]
        ne0, ne1 = int(x.shape[0]), int(x.shape[1])
        row_bytes = x.n_bytes // ne1
        n = ne1 if rows is None else rows
        raw = np.frombuffer(bytes(x.data.tobytes()[: n * row_bytes]), dtype=np.uint8).reshape(n, row_bytes)
        qt = x.tensor_type
        # raw_shape is the byte shape (rows, bytes per row): gguf-py derives the elements
        w.add_tensor(f"{t}.{short}", raw, raw_shape=(n, row_bytes), raw_dtype=qt)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
