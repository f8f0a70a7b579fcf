#!/bin/bash
# Importance-corrected samples vs the flow's own draws on the benchmark's five observations per
# task (results/benchmark/*/TASK/obs_i/observation.csv), 10,000 samples each.
# Models: results/importance/models/TASK.lwf, trained with `lwflow train --task TASK --seed 1`
# when missing (slcp: ~40 min on 2 cores). Writes TASK_flow.txt and TASK_importance.txt.
# usage: results/importance/run.sh [TASK...]   (from the repository root; default: all six)
set -euo pipefail
cargo build --release -p lwflow-cli
B=target/release/lwflow
OUT=results/importance
TASKS=${*:-two_moons gaussian_mixture gaussian_linear gaussian_linear_uniform slcp bernoulli_glm}
for t in $TASKS; do
  case $t in slcp|bernoulli_glm) REF=smc ;; *) REF=exact ;; esac
  DIR=$(ls -d results/benchmark/part*/$t | head -n1)
  OBS=$(for i in 1 2 3 4 5; do tail -n1 "$DIR/obs_$i/observation.csv"; done | paste -sd';')
  MODEL=$OUT/models/$t.lwf
  mkdir -p $OUT/models
  [ -f "$MODEL" ] || $B train --task $t --seed 1 --quiet --out "$MODEL"
  $B eval --model "$MODEL" --reference $REF --num 10000 --obs "$OBS" > $OUT/${t}_flow.txt
  $B eval --model "$MODEL" --reference $REF --num 10000 --obs "$OBS" --importance > $OUT/${t}_importance.txt 2>&1
done
# Summary table (results.md) from every TASK_*.txt present.
python3 - <<'PY'
import glob, re, statistics as st
rows = []
for flow in sorted(glob.glob('results/importance/*_flow.txt')):
    t = flow.split('/')[-1][:-len('_flow.txt')]
    imp = flow.replace('_flow', '_importance')
    if not all(any(l.startswith('mean') for l in open(f)) for f in (flow, imp)):
        continue
    def mean_c2st(f):
        last = [l for l in open(f) if l.startswith('mean')][-1]
        return float(re.findall(r'\s(0\.\d{3})\s', last)[0])
    ess = [float(m) for m in re.findall(r'ESS \d+ \(([\d.]+)%\)', open(imp).read())]
    draws = [int(m) for m in re.findall(r'importance: (\d+) draws', open(imp).read())]
    rows.append(f'| {t} | {mean_c2st(flow):.3f} | {mean_c2st(imp):.3f} | {st.mean(ess):.0f} % (min {min(ess):.0f} %) | {st.mean(draws):,.0f} |')
open('results/importance/results.md', 'w').write(
    '| task | C2ST of q | C2ST importance-corrected | ESS / draws | draws per observation |\n|---|---|---|---|---|\n' + '\n'.join(rows) + '\n')
PY
cat results/importance/results.md
