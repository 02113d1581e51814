#!/bin/sh
# test_arm64.sh - the aarch64 build under qemu-aarch64-static: the kernel and GEMM
# tests (NEON with and without the dot-product extension), and a short perplexity
# run of the whole program (neon-dot and plain NEON) that must equal the x86 run
# within PPL_TOL relative.  Uses only repository files: the demo model quantized
# to Q4_0 by the x86 build, and the built-in calibration text.  Skips (with a
# reason) when the cross toolchain or qemu is missing; make test installs them.
B=${BUILD:-build}
A=$B-arm64
PPL_TOL=0.001
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL test_arm64: $*" >&2; }
if ! command -v qemu-aarch64-static >/dev/null 2>&1 || [ ! -x "$A/gguf-forge" ] || [ ! -x "$B/arm64/test_kernels" ]; then
    echo "SKIP (tools): no aarch64 build or qemu-aarch64-static (make test builds them when gcc-aarch64-linux-gnu is installed)"
    echo "test_arm64: 0 passed, 0 failed, 1 skipped (tools 1)"
    exit 0
fi
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu OMP_WAIT_POLICY=passive
T=$(mktemp -d /tmp/gf-test-arm64-XXXXXX)
trap 'rm -rf "$T"' EXIT
for cpu in max cortex-a53; do
    qemu-aarch64-static -cpu $cpu "$B/arm64/test_kernels" >"$T/k.log" 2>&1 && ok || { bad "test_kernels -cpu $cpu"; tail -5 "$T/k.log"; }
    grep -E "test_kernels:" "$T/k.log" | sed "s/^/  $cpu: /"
done
qemu-aarch64-static -cpu max "$B/arm64/test_gemm" >"$T/g.log" 2>&1 && ok || { bad "test_gemm"; tail -5 "$T/g.log"; }
grep -E "test_gemm:" "$T/g.log" | sed "s/^/  max: /"

"$B/gguf-forge" quantize models/qwen2-tiny -o "$T/q4.gguf" --type q4_0 -q 2>/dev/null || bad "quantize"
ppl() { sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p' "$1"; }
"$B/gguf-forge" ppl "$T/q4.gguf" -f calib/default-calibration.txt -c 256 --chunks 4 -t 1 >"$T/x86.log" 2>&1
ref=$(ppl "$T/x86.log")
for cpu in max cortex-a53; do
    qemu-aarch64-static -cpu $cpu "$A/gguf-forge" ppl "$T/q4.gguf" -f calib/default-calibration.txt -c 256 --chunks 4 -t 1 \
        >"$T/a.log" 2>&1
    got=$(ppl "$T/a.log"); ks=$(sed -n 's/.*kernels \([a-z0-9-]*\),.*/\1/p' "$T/a.log")
    echo "  ppl x86 $ref, aarch64 $ks $got"
    if [ -n "$ref" ] && [ -n "$got" ] && [ "$(echo "d = ($got - $ref) / $ref; if (d < 0) d = -d; d <= $PPL_TOL" | bc -l)" = 1 ]; then ok
    else bad "aarch64 ($cpu, $ks) perplexity $got vs x86 $ref"; fi
done
echo "test_arm64: $pass passed, $fail failed"
[ $fail -eq 0 ]
