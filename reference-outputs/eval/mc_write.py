#!/usr/bin/env python3
# mc_write.py - writes a test file in llama.cpp's binary multiple-choice layout (perplexity.cpp,
# c392e50) from the first N tasks of a HellaSwag text file: question = context, task i keeps
# 2 + i % 3 of its endings (the gold one and the first wrong ones, in file order), labels 1 for
# the gold ending and 0 otherwise; mc2 repeats mc1.  tests/test_eval.c writes the same bytes
# (it checks their SHA-256 against mc-N.sha256) and scores them.
# usage: mc_write.py HELLASWAG.txt N OUT.bin
import hashlib, struct, sys

def task_bytes(ctx, gold, endings, i):
    k = 2 + i % 3
    keep = [gold] + [j for j in range(4) if j != gold][:k - 1]
    keep.sort()
    s = lambda t: struct.pack('<I', len(t)) + t
    answers = b''.join(s(endings[j]) for j in keep)
    labels = b''.join(struct.pack('<i', 1 if j == gold else 0) for j in keep)
    mc = struct.pack('<I', len(keep)) + answers + labels
    return s(ctx) + mc + mc

def main():
    path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lines = open(path, 'rb').read().split(b'\n')
    tasks = []
    for i in range(n):
        l = lines[6 * i: 6 * i + 6]
        tasks.append(task_bytes(l[0], int(l[1]), l[2:6], i))
    pos, at = [], 4 + 4 * n
    for t in tasks:
        pos.append(at)
        at += len(t)
    data = struct.pack('<I', n) + b''.join(struct.pack('<I', p) for p in pos) + b''.join(tasks)
    open(out, 'wb').write(data)
    print(hashlib.sha256(data).hexdigest())

main()
