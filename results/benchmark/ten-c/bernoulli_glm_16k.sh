#!/usr/bin/env bash
# bernoulli_glm trained 4× longer than its default (16000 steps), judged on the benchmark's ten
# observations against the SMC references `lwflow benchmark --tasks bernoulli_glm --out DIR` saved
# (DIR/bernoulli_glm/obs_i/reference_samples.npy): 10,000 draws from q, `lwflow compare` (C2ST).
set -euo pipefail
B=${LWFLOW:-target/release/lwflow}
DIR=${1:?the directory of a finished bernoulli_glm benchmark}
OUT=${2:-/tmp/bernoulli-glm-16k}
mkdir -p "$OUT"
$B train --task bernoulli_glm --seed 1 --steps 16000 --quiet --out "$OUT/model.lwf"
for i in $(seq 1 10); do
  obs="$DIR/bernoulli_glm/obs_$i"
  $B sample --model "$OUT/model.lwf" --obs "$(tail -1 "$obs/observation.csv")" --num 10000 --seed 1 --out "$OUT/q_$i.npy"
  echo "obs $i: $($B compare "$obs/reference_samples.npy" "$OUT/q_$i.npy" --json | tr -d '\n ')"
done
