#!/usr/bin/env bash
# gaussian_mixture: K for scale structure (issue 19 lead). Trains variants, evaluates on the benchmark's 10 observations.
set -euo pipefail
# Run from the repository root: bash results/benchmark/ten/gaussian_mixture_k2.sh > results/benchmark/ten/gaussian_mixture_k2.txt
root=$PWD
bin=${LWFLOW:-$root/target/release/lwflow}
mkdir -p /tmp/gm-k2 && cd /tmp/gm-k2
python3 -c "
import csv
for r in csv.DictReader(open('$root/results/benchmark/ten/results.csv')):
    if r['task']=='gaussian_mixture': print(','.join(r['x'].split()))
" > obs.txt
for v in "cgmm2:--base cgmm --components 2" "gmm2:--base gmm --components 2"; do
  name=${v%%:*}; flags=${v#*:}
  [ -f $name.lwf ] || $bin train --task gaussian_mixture --seed 1 $flags --out $name.lwf --quiet
  i=0
  while read -r x; do i=$((i+1)); c=$($bin eval --model $name.lwf --obs="$x" --reference exact --num 10000 --seed 1 --json | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['c2st'])"); echo "$name obs$i $c"; done < obs.txt
done
