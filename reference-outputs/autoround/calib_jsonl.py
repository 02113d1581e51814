"""calib_jsonl.py - calibration text as auto-round's local dataset: JSON lines {"text": ...}, each a run of whole
lines of at least CHARS characters (auto-round drops samples shorter than --seqlen tokens and truncates longer
ones; gguf-forge draws windows of --seqlen tokens from the same text). Usage: calib_jsonl.py TEXT CHARS OUT.jsonl"""
import json
import sys

text, chars, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
chunks, cur = [], ""
for line in open(text, encoding="utf-8", errors="replace"):
    cur += line
    if len(cur) >= chars:
        chunks.append(cur)
        cur = ""
with open(out, "w") as f:
    for c in chunks:
        f.write(json.dumps({"text": c}) + "\n")
print(f"calib_jsonl: {len(chunks)} samples of >= {chars} characters in {out}")
