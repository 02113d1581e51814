#!/bin/sh
# same-bytes.sh - quantizes both shared models with every method, in the default and the --pure
# layout, with two gguf-forge binaries, and compares the files byte for byte (cmp).  A refactor
# that must not change behaviour runs it against the binary of the commit before.
#   scripts/same-bytes.sh OLD_BINARY NEW_BINARY [OUTDIR]
# AutoRound runs with a short recipe (--iters 8) so that the whole matrix takes minutes.
set -u
old=$1; new=$2; out=${3:-$(mktemp -d)}
sh=${GF_SHARED:-../shared}
calib="$sh/data/calibration.txt"
mkdir -p "$out"
n=0; bad=0
for model in qwen2-tiny/bf16 stories260K/f32; do
    for layout in default pure; do
        for m in minmax omse imatrix awq autoround awq+autoround; do
            for type in q4_0 q8_0; do
                [ "$type" = q8_0 ] && [ "$layout" = pure ] && continue
                args="--type $type --blocks $m"
                case $m in minmax|omse) ;; *) args="$args --calib $calib --nsamples 8 --seqlen 64 --iters 8";; esac
                case $m in autoround|awq+autoround) [ "$layout" = pure ] && args="$args --embed autoround";; esac
                [ "$layout" = pure ] && args="$args --pure"
                tag=$(echo "$model-$layout-$m-$type" | tr '/+' '__')
                for b in old new; do
                    eval bin=\$$b
                    "$bin" quantize "$sh/models/$model" -o "$out/$tag.$b.gguf" $args -q -t 2 --force \
                        >"$out/$tag.$b.log" 2>&1 || echo "$tag: $b exited $?"
                done
                n=$((n + 1))
                if cmp -s "$out/$tag.old.gguf" "$out/$tag.new.gguf"; then echo "same  $tag"
                else echo "DIFF  $tag"; bad=$((bad + 1)); fi
            done
        done
    done
done
echo "same-bytes: $((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
