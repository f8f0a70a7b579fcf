#!/usr/bin/env bash
# Refines a benchmark run's model for each of its observations and judges the refined flow
# against the run's own reference samples (C2ST, 10,000 samples), as `lwflow benchmark --refine`
# would, without building the references again.
# usage: refine_eval.sh RUN_DIR TASK [refine flags...]   (RUN_DIR from `lwflow benchmark --out RUN_DIR`)
set -euo pipefail
run=$1; task=$2; shift 2
lwflow=${LWFLOW:-lwflow}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for obs in "$run/$task"/obs_*; do
    i=${obs##*_}
    x=$(tail -n 1 "$obs/observation.csv")
    $lwflow refine --model "$run/$task/model.lwf" --obs "$x" --out "$tmp/r.lwf" --quiet "$@"
    $lwflow sample --model "$tmp/r.lwf" --obs "$x" --num 10000 --out "$tmp/q.npy"
    c2st=$($lwflow compare "$obs/reference_samples.npy" "$tmp/q.npy" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["c2st"])')
    evals=$($lwflow info --model "$tmp/r.lwf" | python3 -c 'import json,sys; s=json.load(sys.stdin)["refined"]["summary"]; print(s["likelihood_evals"], round(s["seconds"], 1), round(s["median_ess_late"], 1))')
    echo "$task obs $i: C2ST $c2st (likelihood evaluations, seconds, late median ESS: $evals)"
done
