#!/usr/bin/env python3
# wg_write.py - writes a test file in llama.cpp's Winogrande CSV layout (perplexity.cpp, c392e50)
# from the first N tasks of a HellaSwag text file, to exercise its parser and scoring paths:
# a header line (skipped, as in the real files), then per task i: A = the gold ending, B = the next
# one; the options are the first word of each (commas and quotes removed); the sentence is
# "<context> _ <rest of A>", or "<context> _." for every 4th task (a short tail: the path where
# llama.cpp scores the option too); the sentence is quoted when it holds a comma; the answer
# alternates, the options swapped to match.  tests/test_eval.c writes the same bytes (checks
# their SHA-256 against wg-N.sha256).  usage: wg_write.py HELLASWAG.txt N OUT.csv
import hashlib, sys

def clean(b):
    return b.replace(b',', b'').replace(b'"', b'')

def main():
    path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lines = open(path, 'rb').read().split(b'\n')
    rows = [b'index,sentence,option1,option2,answer']
    for i in range(n):
        l = lines[6 * i: 6 * i + 6]
        gold = int(l[1])
        a, b = l[2 + gold].replace(b'"', b''), l[2 + (gold + 1) % 4].replace(b'"', b'')
        wa, wb = clean(a.split(b' ')[0]), clean(b.split(b' ')[0])
        rest = b' '.join(a.split(b' ')[1:])
        ctx = l[0].replace(b'"', b'')
        sentence = ctx + b' _.' if i % 4 == 3 else ctx + b' _ ' + rest
        if b',' in sentence:
            sentence = b'"' + sentence + b'"'
        answer = 1 + i % 2
        o1, o2 = (wa, wb) if answer == 1 else (wb, wa)
        rows.append(b'%d,%s,%s,%s,%d' % (i, sentence, o1, o2, answer))
    data = b'\n'.join(rows) + b'\n'
    open(out, 'wb').write(data)
    print(hashlib.sha256(data).hexdigest())

main()
