#!/usr/bin/env python3
"""Markdown table of results/embeddings/*.json (one line per run of the embedding_check example)."""
import glob, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
rows = []
for path in sorted(glob.glob(os.path.join(here, "*.json"))):
    text = open(path).read().strip()
    if not text:  # a run still going
        continue
    r = json.loads(text)
    emb = r["embedding"]["kind"]
    feats = r["x_features"]["kind"]
    rows.append((os.path.basename(path)[:-5], r["x_dim"], emb, feats, r["steps"], r["n_params"],
                 r["best_val_loss"], r["c2st"], r["c2st_mean"], r["train_seconds"]))
print("| run | x dim | embedding | features | steps | parameters | best val. loss | C2ST obs 1 / 2 / 3 | mean C2ST | train s |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, xd, emb, feats, steps, n_params, val, c2st, mean, secs in rows:
    per = " / ".join(f"{c:.3f}" for c in c2st)
    print(f"| {name} | {xd} | {emb} | {feats} | {steps} | {n_params:,} | {val:.2f} | {per} | **{mean:.3f}** | {secs:.0f} |")
