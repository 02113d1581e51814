#!/bin/sh
# Makes the references of tests/test_llama3.c for its nine random-weight models
# (`test_llama3 --write DIR`: Llama-3.2-1B's config.json shrunk, with llama3, linear and
# no rope_scaling; Qwen2.5-0.5B's shrunk, with yarn and none; SmolLM2-135M's; three of them again
# with small weights, "-q"):
#   ppl.txt      llama-perplexity on gguf-forge's F32 conversion of each model;
#   ppl-quant.txt the same on gguf-forge's Q8_0 and Q4_0 files of the three "-q" models (weights
#                in [-0.1, 0.1]: the others' PPLs of 1e14 move by 10 % with any rounding);
#   keys.txt     the <arch>.rope.* keys llama.cpp's own converter (convert_hf_to_gguf.py)
#                writes for each folder (name, type, value);
#   rope-freqs.txt the rope_freqs.weight values that converter writes for the llama3 folder;
#   inv-freq.txt transformers' RoPE init function of each config: inv_freq[i] and the
#                attention factor (transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS),
#                for llama3 the inv_freq after its factors.
# Run from the repository root after `make`; needs ../shared/data/nlp-valid.txt, llama.cpp's
# build in LLAMA_BIN (default /work/llama.cpp/build-noamx/bin; not a GGML_NATIVE build on AMX
# CPUs), its tree in LLAMA_SRC (default /work/llama.cpp) and a Python with torch, transformers
# and llama.cpp's gguf-py in PY (default /work/venv/bin/python).
set -eu
LLAMA_BIN=${LLAMA_BIN:-/work/llama.cpp/build-noamx/bin}
LLAMA_SRC=${LLAMA_SRC:-/work/llama.cpp}
PY=${PY:-/work/venv/bin/python}
CHUNKS=3
dir=reference-outputs/llama3
models="llama3 llama3-plain llama-linear qwen2-yarn qwen2-plain smollm2 llama3-q qwen2-yarn-q smollm2-q"
quiet="llama3-q qwen2-yarn-q smollm2-q" # weights in [-0.1, 0.1]: the quantized comparison
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make -s build/tests/test_llama3 gguf-forge
build/tests/test_llama3 --write "$tmp"
versions=$("$PY" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')
{
    echo "# llama-perplexity (llama.cpp c392e50, the tree has no .git; build $LLAMA_BIN, version 0 unknown)"
    echo "#   -c 512 -t 2 --chunks $CHUNKS -f ../shared/data/nlp-valid.txt, on gguf-forge quantize --type f32 of"
    echo "#   tests/test_llama3 --write's models; made by $dir/make.sh on $(date -u +%Y-%m-%d)"
    echo "# model | chunks | PPL | +/-"
} >"$dir/ppl.txt"
for m in $models; do
    ./gguf-forge quantize "$tmp/$m" -o "$tmp/$m.gguf" --type f32 >/dev/null 2>&1
    "$LLAMA_BIN/llama-perplexity" -m "$tmp/$m.gguf" -f ../shared/data/nlp-valid.txt -c 512 -t 2 --chunks $CHUNKS \
        >"$tmp/$m.log" 2>&1
    grep 'Final estimate' "$tmp/$m.log" | sed -E "s/.*PPL = ([0-9.e+]+) \+\/- ([0-9.e+]+).*/$m $CHUNKS \1 \2/" \
        >>"$dir/ppl.txt"
done
# our Q8_0 and Q4_0 files of the quiet folders (the default layout, as `quantize --type T` writes it)
{
    echo "# llama-perplexity as in ppl.txt, on gguf-forge quantize --type q8_0 / q4_0 (default layout) of the same"
    echo "#   models; made by $dir/make.sh on $(date -u +%Y-%m-%d)"
    echo "# model | type | chunks | PPL | +/-"
} >"$dir/ppl-quant.txt"
for m in $quiet; do
    for t in q8_0 q4_0; do
        ./gguf-forge quantize "$tmp/$m" -o "$tmp/$m-$t.gguf" --type $t >/dev/null 2>&1
        "$LLAMA_BIN/llama-perplexity" -m "$tmp/$m-$t.gguf" -f ../shared/data/nlp-valid.txt -c 512 -t 2 \
            --chunks $CHUNKS >"$tmp/$m-$t.log" 2>&1
        grep 'Final estimate' "$tmp/$m-$t.log" |
            sed -E "s/.*PPL = ([0-9.e+]+) \+\/- ([0-9.e+]+).*/$m $t $CHUNKS \1 \2/" >>"$dir/ppl-quant.txt"
    done
done
# llama.cpp's converter on the same folders.  The test tokenizer's pre-tokenizer hash is
# not in its list: it is told "qwen2", which changes only tokenizer keys, not rope keys.
cat >"$tmp/conv.py" <<PYEOF
import sys
sys.path.insert(0, "$LLAMA_SRC")
sys.path.insert(0, "$LLAMA_SRC/gguf-py")
import convert_hf_to_gguf as c
c.Model.get_vocab_base_pre = lambda self, tokenizer: "qwen2"
sys.argv = ["convert_hf_to_gguf.py"] + sys.argv[1:]
c.main()
PYEOF
cat >"$tmp/keys.py" <<'PYEOF'
import sys
from gguf import GGUFReader, GGUFValueType
name, path = sys.argv[1], sys.argv[2]
for f in GGUFReader(path).fields.values():
    if ".rope." not in f.name:
        continue
    t = f.types[0]
    v = f.parts[f.data[0]]
    if t == GGUFValueType.STRING:
        print(name, f.name, "str", bytes(v).decode())
    elif t == GGUFValueType.UINT32:
        print(name, f.name, "u32", int(v[0]))
    elif t == GGUFValueType.FLOAT32:
        print(name, f.name, "f32", "%.9g" % float(v[0]))
    else:
        print(name, f.name, "type", int(t))
PYEOF
echo "# <arch>.rope.* keys written by llama.cpp c392e50's convert_hf_to_gguf.py --outtype f32 ($versions);" >"$dir/keys.txt"
echo "#   made by $dir/make.sh on $(date -u +%Y-%m-%d). model | key | type | value" >>"$dir/keys.txt"
for m in $models; do
    "$PY" "$tmp/conv.py" "$tmp/$m" --outtype f32 --outfile "$tmp/$m.llamacpp.gguf" >"$tmp/conv.log" 2>&1
    PYTHONPATH="$LLAMA_SRC/gguf-py" "$PY" "$tmp/keys.py" "$m" "$tmp/$m.llamacpp.gguf" >>"$dir/keys.txt"
done
# the rope_freqs.weight tensor of llama.cpp's conversion of the llama3 folder, one value per line
cat >"$tmp/ropefreqs.py" <<'PYEOF'
import sys
from gguf import GGUFReader
for t in GGUFReader(sys.argv[1]).tensors:
    if t.name == "rope_freqs.weight":
        for i, v in enumerate(t.data.tolist()):
            print(i, "%.9g" % v)
PYEOF
{
    echo "# rope_freqs.weight of llama.cpp c392e50's convert_hf_to_gguf.py --outtype f32 on test_llama3's llama3 folder"
    echo "#   (Llama-3.2-1B's rope_scaling; $versions); made by $dir/make.sh on $(date -u +%Y-%m-%d). pair i | factor"
} >"$dir/rope-freqs.txt"
PYTHONPATH="$LLAMA_SRC/gguf-py" "$PY" "$tmp/ropefreqs.py" "$tmp/llama3.llamacpp.gguf" >>"$dir/rope-freqs.txt"
cat >"$tmp/freq.py" <<'PYEOF'
import sys
from transformers import AutoConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
for name, path in zip(sys.argv[1::2], sys.argv[2::2]):
    cfg = AutoConfig.from_pretrained(path)
    kind = cfg.rope_parameters["rope_type"]
    if kind == "default":
        # the default init lives on the model class in transformers 5: base^(-2i/d)
        import torch
        d = cfg.hidden_size // cfg.num_attention_heads
        inv = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        attn = 1.0
    else:
        inv, attn = ROPE_INIT_FUNCTIONS[kind](cfg, "cpu")
    for i, v in enumerate(inv.tolist()):
        print(name, i, "%.9g" % v, "%.9g" % attn)
PYEOF
echo "# transformers' RoPE inverse frequencies and attention factor ($versions); made by $dir/make.sh on $(date -u +%Y-%m-%d)" >"$dir/inv-freq.txt"
echo "# model | pair i | inv_freq[i] | attention factor" >>"$dir/inv-freq.txt"
args=""
for m in $models; do args="$args $m $tmp/$m"; done
"$PY" "$tmp/freq.py" $args >>"$dir/inv-freq.txt"
cat "$dir/ppl.txt" "$dir/ppl-quant.txt" "$dir/keys.txt"
