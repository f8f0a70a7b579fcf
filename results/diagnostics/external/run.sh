#!/usr/bin/env bash
# Issue 18's first must-show: every tool on the example external model
# (crates/lwflow/examples/square2d_model.py, settings of square2d_external.toml but 1000 steps).
# Run from anywhere: the model file records the command, its directory, timeout and copies.
set -euo pipefail
cd "$(dirname "$0")/../../.."
LWFLOW=${LWFLOW:-target/release/lwflow}
NICE=${NICE:-15}
OUT=results/diagnostics/external
MODEL=$OUT/square2d_external_1000.lwf   # not committed (*.lwf)
timed() { # timed NAME cmd...: stdout to $OUT/NAME.txt, wall/CPU seconds and load average to $OUT/NAME.time
    local name=$1; shift
    local t0; t0=$(date +%s.%N)
    /usr/bin/time -f "cpu_seconds %U+%S max_rss_kb %M" -o "$OUT/$name.time" nice -n "$NICE" "$@" >"$OUT/$name.txt" 2>"$OUT/$name.stderr"
    echo "wall_seconds $(echo "$(date +%s.%N) - $t0" | bc) load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$name.time"
}
[ -f "$MODEL" ] || timed train "$LWFLOW" train --config crates/lwflow/examples/square2d_external.toml --steps 1000 --out "$MODEL" --quiet
timed sample "$LWFLOW" sample --model "$MODEL" --obs 1,2 --num 10000 --importance --out "$OUT/samples.csv"
rm -f "$OUT/samples.csv"
timed eval_grid "$LWFLOW" eval --model "$MODEL" --obs "1,1;2,0.5;0.5,3;4,2" --num 4000 --reference grid
timed eval_grid_importance "$LWFLOW" eval --model "$MODEL" --obs "1,1;2,0.5;0.5,3;4,2" --num 4000 --reference grid --importance
timed check "$LWFLOW" check --model "$MODEL" --simulations 1000 --quiet --out "$OUT/check"
