#!/bin/sh
# Installs the Debian packages gguf-forge needs when they are missing (as root),
# or prints the one apt-get line to run.  Usage: scripts/deps.sh [dev|arm64|bench|mpi]
#   (none)  build and test: C compiler, cJSON, PCRE2, zlib, OpenMP
#   dev     also clang with its OpenMP (ASan/UBSan, libFuzzer) and rsvg-convert (librsvg2-bin:
#           test_report_svg renders the report charts with it, and skips that check without it)
#   arm64   also the aarch64 cross compiler, qemu-user-static and arm64 libraries
#   bench   also GNU time and bc (make bench)
#   mpi     also Open MPI (mpicc, mpirun): make MPI=1, tests/test_mpi.sh
set -e
pkgs="gcc make libcjson-dev libpcre2-dev zlib1g-dev"
case "$1" in
    dev) pkgs="$pkgs clang libclang-rt-14-dev libomp-14-dev librsvg2-bin" ;;
    bench) pkgs="$pkgs time bc" ;;
    mpi) pkgs="$pkgs libopenmpi-dev openmpi-bin" ;;
    arm64) pkgs="gcc-aarch64-linux-gnu qemu-user-static libc6-dev-arm64-cross libcjson-dev:arm64 libpcre2-dev:arm64 zlib1g-dev:arm64 bc" ;;
esac
missing=""
native=$(dpkg --print-architecture)
for p in $pkgs; do
    # a multiarch library installed for two architectures needs its architecture named
    case "$p" in *:*) q=$p ;; *) q="$p:$native" ;; esac
    dpkg -s "$q" >/dev/null 2>&1 || dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "gguf-forge needs:$missing"
    echo "run: sudo apt-get install -y$missing"
    exit 1
fi
case "$missing" in *:arm64*) dpkg --print-foreign-architectures | grep -q arm64 || dpkg --add-architecture arm64 ;; esac
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q $missing >/dev/null
