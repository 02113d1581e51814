#!/bin/sh
# run_llama.sh - llama-perplexity --hellaswag reference runs (llama.cpp c392e50, build-noamx, CPU),
# on qwen2-tiny's F32 and Q4_0 files from ../shared/oracle, -c 512 -t 2, 400 tasks.
# Writes llama-hellaswag-<file>-<N>.txt (stdout: the task lines) and .log (stderr).
set -e
LP=${LP:-/work/llama.cpp/build-noamx/bin/llama-perplexity}
S=${S:-../../../shared}
N=${N:-400}
for f in qwen2-tiny-f32.f32 qwen2-tiny-f32.q4_0; do
  nice "$LP" -m "$S/oracle/$f.gguf" -f "$S/data/hellaswag-val-1000.txt" --hellaswag --hellaswag-tasks "$N" \
    -c 512 -t 2 >"llama-hellaswag-$f-$N.txt" 2>"llama-hellaswag-$f-$N.log"
done
