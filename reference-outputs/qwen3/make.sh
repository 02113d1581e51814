#!/bin/sh
# Makes the reference logits of tests/test_qwen3.c: transformers' Qwen3ForCausalLM on
# the test's random-weight models (Qwen3-0.6B's config.json shrunk: hidden 64, 192,
# 2 layers, vocabulary 2051; 16/8 heads of head_dim 128 kept), read from the F32
# safetensors `test_qwen3 --write` writes.  The weights are not stored (4 MB each):
# the test writes the same bytes again (seeded), so the files here are only logits.
#   logits-tied.f32.txt    tied output (as Qwen3-0.6B), float32
#   logits-tied.f64.txt    the same weights run in float64
#   logits-untied.f32.txt  tie_word_embeddings false, with lm_head.weight, float32
#   logits-nemo.f32.txt    Mistral-Nemo-Base-2407's config.json shrunk (llama arch, 32/8 heads
#                          of head_dim 128 on hidden 64), MistralForCausalLM, float32
# Run from the repository root after `make`; PYTHON defaults to /work/venv/bin/python
# (transformers and CPU torch; versions go into each file's first line).
set -eu
PYTHON=${PYTHON:-/work/venv/bin/python}
out=reference-outputs/qwen3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make -s build/tests/test_qwen3
build/tests/test_qwen3 --write "$tmp"
"$PYTHON" "$out/make.py" "$tmp/qwen3" "$out/logits-tied" f64
"$PYTHON" "$out/make.py" "$tmp/qwen3-untied" "$out/logits-untied"
"$PYTHON" "$out/make.py" "$tmp/nemo" "$out/logits-nemo"
(cd "$tmp" && sha256sum qwen3/model.safetensors qwen3-untied/model.safetensors nemo/model.safetensors) \
    >"$out/weights.sha256"
ls -l "$out"
