#!/usr/bin/env bash
# Issue 20's remaining tasks (session 7): 5 observations, 10,000 samples, seed 1, our SMC references.
# slcp_distractors at its new recommended budget (slcp's: 16000 steps of 256 observations × 8 draws);
# lotka_volterra at its default amortized training, then refined for each observation (1000 steps × 256 draws);
# sir at 16000 steps with reverse-KL λ = 5. Each writes results.md/csv (the committed ones are copied from OUT).
set -euo pipefail
out=${1:-part7-out}
lwflow benchmark --tasks slcp_distractors --observations 5 --no-distances --out "$out/slcp_distractors"
lwflow benchmark --tasks lotka_volterra --observations 5 --no-distances --refine 1000 --out "$out/lotka_volterra_refined"
lwflow benchmark --tasks sir --observations 5 --no-distances --out "$out/sir"
# The trained flows refined for each observation, judged against the same runs' references:
here=$(dirname "$0")
LWFLOW=lwflow "$here/refine_eval.sh" "$out/slcp_distractors" slcp_distractors
LWFLOW=lwflow "$here/refine_eval.sh" "$out/sir" sir
