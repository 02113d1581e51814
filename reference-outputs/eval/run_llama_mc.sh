#!/bin/sh
# run_llama_mc.sh - llama-perplexity --multiple-choice reference runs (llama.cpp c392e50,
# build-noamx, CPU, -c 512 -t 2) on the file mc_write.py makes from the first 300 tasks of
# ../shared/data/hellaswag-val-1000.txt (written to /tmp, not stored: it holds HellaSwag text):
# all 300 tasks, and --multiple-choice-tasks 120 (the "swap" draw), for qwen2-tiny F32 and Q4_0.
# Writes mc-300.sha256 and llama-mc-<model>-<tasks>.txt (stdout) / .log (stderr).
set -e
LP=${LP:-/work/llama.cpp/build-noamx/bin/llama-perplexity}
S=${S:-../../../shared}
python3 mc_write.py "$S/data/hellaswag-val-1000.txt" 300 /tmp/gf-mc-300.bin > mc-300.sha256
for f in qwen2-tiny-f32.f32 qwen2-tiny-f32.q4_0; do
  for n in 0 120; do
    nice "$LP" -m "$S/oracle/$f.gguf" -bf /tmp/gf-mc-300.bin --multiple-choice --multiple-choice-tasks "$n" \
      -c 512 -t 2 >"llama-mc-$f-$n.txt" 2>"llama-mc-$f-$n.log"
  done
done
