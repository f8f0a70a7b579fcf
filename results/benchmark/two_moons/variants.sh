#!/usr/bin/env bash
# two_moons' settings on the benchmark's 10 observations: each variant trained with
# `lwflow train --task two_moons --seed 1` plus its flags, then judged by `lwflow eval` against the
# grid posterior (10,000 samples: C2ST, KL(p‖q), bridge mass). Flags override today's recommended
# settings (cgmm K = 2, adaptive, 16000 steps, λ = 5), so every row spells all four out.
set -euo pipefail
B=${LWFLOW:-target/release/lwflow}
OUT=${1:-/tmp/two-moons-variants}
mkdir -p "$OUT"
# The benchmark's observations 1..10 (seeds 1000001…): a one-step benchmark writes them.
$B benchmark --tasks two_moons --observations 10 --steps 1 --samples 200 --no-distances --quiet --out "$OUT/obs"
OBS=$(for i in $(seq 1 10); do tail -1 "$OUT/obs/two_moons/obs_$i/observation.csv"; done | paste -sd';')
run() {
  name=$1; shift
  $B train --task two_moons --seed 1 --quiet --out "$OUT/$name.lwf" "$@"
  $B eval --model "$OUT/$name.lwf" --obs "$OBS" --num 10000 --json > "$OUT/$name.json"
}
run cgmm --base cgmm --components 2 --proposal prior --steps 4000 --reverse-kl 0
run gmm_adaptive --base gmm --components 2 --proposal adaptive --steps 4000 --reverse-kl 0
run gmm_prior_16k --base gmm --components 2 --proposal prior --steps 16000 --reverse-kl 0
run gmm_adaptive_16k --base gmm --components 2 --proposal adaptive --steps 16000 --reverse-kl 0
run gmm_adaptive_16k_rkl5 --base gmm --components 2 --proposal adaptive --steps 16000 --reverse-kl 5
run cgmm_adaptive_16k_rkl5 --base cgmm --components 2 --proposal adaptive --steps 16000 --reverse-kl 5
