#!/usr/bin/env bash
# Embeddings against none on slcp and slcp + 92 N(0,1) distractors, same steps (issue 20).
# usage: results/embeddings/run.sh STEPS   (from the repository root; one run after another)
set -euo pipefail
steps=${1:-600}
out=results/embeddings
cargo build --release -p lwflow --example embedding_check
bin=target/release/examples/embedding_check
common="--steps $steps --observations 3 --samples 2000 --seed 1"
run() { name=$1; shift; echo "$name"; "$bin" $common "$@" | tee "$out/${name}_${steps}.json"; }
run slcp_moments --embedding none --features moments
run slcp_set --embedding set
run slcp_raw --embedding none --features raw
run distractors_none --embedding none --distractors 92
run distractors_mlp --embedding mlp --distractors 92
