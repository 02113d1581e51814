#!/bin/sh
# draw.sh - builds draw.cpp with the system g++ (libstdc++) and writes draw-1000.txt:
# the 1000 draws over a 1000-task file (columns: draw, position among the remaining, task index),
# and the "swap" draw of multiple choice and Winogrande (draw-swap-*.txt).
set -e
cd "$(dirname "$0")"
g++ --version | head -1 > draw-1000.txt.version
g++ -O2 -o /tmp/gf-draw draw.cpp
/tmp/gf-draw 1000 1000 > draw-1000.txt
/tmp/gf-draw 100000 20 > draw-100000-20.txt
/tmp/gf-draw 1000 1000 swap > draw-swap-1000.txt
/tmp/gf-draw 1267 300 swap > draw-swap-1267-300.txt
