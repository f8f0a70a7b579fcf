#!/usr/bin/env bash
# The periodic-parameter experiment of docs/periodic.md: sinusoid trained four ways (phase periodic
# or not × a gmm-2 base or a Gaussian one) at one budget, judged on the same observations against
# the 1000² grid posterior. Writes results.md, run.log and sample CSVs here. The defaults below are
# the budget of the table in docs/periodic.md (seed 1; 5–8 min per training on the 2-core
# machine). More: raise SEEDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p lwflow --example periodic
./target/release/examples/periodic --out results/periodic --steps "${STEPS:-4000}" --observations "${OBS:-5}" \
    --samples "${SAMPLES:-10000}" --seeds "${SEEDS:-1}" 2>&1 | tee results/periodic/run.log
