#!/usr/bin/env bash
# The periodic-parameter experiment of docs/periodic.md: sinusoid trained four ways (phase periodic
# or not × the task's gmm-2 base or a Gaussian one) at one budget, judged on the same observations
# against the 1000² grid posterior. Writes results.md, run.log and sample CSVs here.
# Budget used for the table in docs/periodic.md (shared 2-core machine, ~5 min per training
# under load): 800 steps, 3 observations, 4000 samples, seed 1. More: raise --steps / --seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p lwflow --example periodic
./target/release/examples/periodic --out results/periodic --steps "${STEPS:-800}" --observations "${OBS:-3}" \
    --samples "${SAMPLES:-4000}" --seeds "${SEEDS:-1}" 2>&1 | tee results/periodic/run.log
