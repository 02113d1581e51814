#!/bin/sh
# run_llama_wg.sh - llama-perplexity --winogrande reference runs (llama.cpp c392e50, build-noamx,
# CPU, -c 512 -t 2) on the CSV wg_write.py makes from the first 300 tasks of
# ../shared/data/hellaswag-val-1000.txt (written to /tmp, not stored: it holds HellaSwag text):
# all tasks, and --winogrande-tasks 120 (the "swap" draw), qwen2-tiny F32 and Q4_0.
# Writes wg-300.sha256 and llama-wg-<model>-<tasks>.txt (stdout) / .log (stderr).
set -e
LP=${LP:-/work/llama.cpp/build-noamx/bin/llama-perplexity}
S=${S:-../../../shared}
python3 wg_write.py "$S/data/hellaswag-val-1000.txt" 300 /tmp/gf-wg-300.csv > wg-300.sha256
for f in qwen2-tiny-f32.f32 qwen2-tiny-f32.q4_0; do
  for n in 0 120; do
    nice "$LP" -m "$S/oracle/$f.gguf" -f /tmp/gf-wg-300.csv --winogrande --winogrande-tasks "$n" \
      -c 512 -t 2 >"llama-wg-$f-$n.txt" 2>"llama-wg-$f-$n.log"
  done
done
