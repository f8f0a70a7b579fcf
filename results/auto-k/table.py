"""Turns `lwflow components --json` lines into the tables of results.md (stdin -> stdout)."""
import json, math, sys
from collections import Counter

def quantile(counts, q):
    s = sorted(counts)
    return s[min(len(s), max(1, math.ceil(q * len(s)))) - 1]

def hist(v):
    return " ".join(f"{k}×{n}" for k, n in sorted(Counter(v).items()))

rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
print("| task | seed | K | modes per x (count×obs) | BIC Gaussians per x | max split < ½ | s (SMC s) |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    a = r["auto_components"]
    print(f"| {r['task']} | {r['seed']} | **{a['k']}** | {hist(a['per_obs_counts'])} | {hist(a['per_obs_bic_components'])} "
          f"| {max(a['per_obs_strongest_split']):.3f} | {a['seconds']:.1f} ({a['smc_seconds']:.1f}) |")
print()
print("| task | seed | K at q = 0.5 (median) | q = 0.8 (used) | q = 0.9 | q = 1 (max) | most frequent |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    c = r["auto_components"]["per_obs_counts"]
    mode = Counter(c).most_common(1)[0][0]
    print(f"| {r['task']} | {r['seed']} | {quantile(c, .5)} | {quantile(c, .8)} | {quantile(c, .9)} | {quantile(c, 1)} | {mode} |")
