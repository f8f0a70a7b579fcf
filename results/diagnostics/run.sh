#!/usr/bin/env bash
# The verdict table of docs/diagnostics.md: for every built-in task, the default model
# (`lwflow train --task NAME`) and the same task at 1/20 of its default steps, then
# `lwflow check` (SBC, coverage, TARP, importance ESS) and `lwflow eval` (C2ST) on the
# benchmark observations. One task at a time; every step skips what already exists, so the
# script can be stopped and rerun.
#
#   results/diagnostics/run.sh all     # everything below, one task after another
#   results/diagnostics/run.sh train   # train the models (results/diagnostics/models/, not committed)
#   results/diagnostics/run.sh check   # lwflow check --simulations $N → <task>_<budget>/{check.txt,check.json,*.png}
#   results/diagnostics/run.sh eval    # lwflow eval on the benchmark observations → <task>_<budget>/eval.json
#   results/diagnostics/run.sh runtime # lwflow check on slcp, N = 1000, defaults → slcp_runtime.{txt,time}
#
# Environment: LWFLOW (binary, default target/release/lwflow), N (simulations, default 1000),
# ESS_OBS (observations of the importance ESS check, default 200),
# TASKS (default every built-in task), BUDGETS (default "short default"), NICE (default 15).
set -euo pipefail
cd "$(dirname "$0")/../.."
LWFLOW=${LWFLOW:-target/release/lwflow}
N=${N:-1000}
ESS_OBS=${ESS_OBS:-200}
NICE=${NICE:-15}
OUT=results/diagnostics
TASKS=${TASKS:-"two_moons square2d gaussian_mixture gaussian_linear gaussian_linear_uniform bernoulli_glm square3d slcp"}
mkdir -p "$OUT/models"

# Default steps of each task (TrainConfig::default, slcp's adjusted settings); 1/20 of them.
default_steps() { case "$1" in slcp) echo 16000 ;; *) echo 4000 ;; esac; }

timed() { # timed LOG cmd...: runs cmd, appends wall/CPU seconds and the load average to LOG
    local log=$1; shift
    local t0; t0=$(date +%s.%N)
    /usr/bin/time -f "cpu_seconds %U+%S max_rss_kb %M" -a -o "$log" nice -n "$NICE" "$@"
    echo "wall_seconds $(echo "$(date +%s.%N) - $t0" | bc) load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$log"
}

# The benchmark observations (seed 1,000,000 + i, `lwflow benchmark`): results/benchmark/*/TASK/obs_*,
# or, for tasks the benchmark has not been run on, written by a 1-step benchmark run into $OUT/obs/.
observations() {
    local task=$1 dir
    dir=$(ls -d results/benchmark/part*/"$task" 2>/dev/null | tail -1 || true)
    if [ -z "$dir" ]; then
        dir=$OUT/obs/$task
        if [ ! -f "$dir/obs_1/observation.csv" ]; then
            nice -n "$NICE" "$LWFLOW" benchmark --tasks "$task" --observations 3 --steps 1 --samples 200 \
                --no-distances --quiet --out "$OUT/obs" >/dev/null
            rm -f "$OUT/obs/$task/model.lwf" "$OUT"/obs/"$task"/obs_*/*.npy
        fi
    fi
    for i in 1 2 3; do tail -n 1 "$dir/obs_$i/observation.csv"; done | paste -sd ';'
}

# One stage of one model: train, check or eval of TASK at BUDGET (short = 1/20 of the steps).
stage() {
    local what=$1 task=$2 budget=$3
    local steps model dir ref
    steps=$(default_steps "$task")
    model=$OUT/models/${task}_$budget.lwf
    dir=$OUT/${task}_$budget
    mkdir -p "$dir"
    case "$what" in
    train)
        [ -f "$model" ] && return 0
        local extra=()
        [ "$budget" = short ] && extra=(--steps $((steps / 20)))
        timed "$dir/train.time" "$LWFLOW" train --task "$task" --seed 1 "${extra[@]}" --out "$model" --quiet
        ;;
    check)
        [ -f "$model" ] && [ ! -f "$dir/check.txt" ] || return 0
        timed "$dir/check.time" "$LWFLOW" check --model "$model" --simulations "$N" --ess-obs "$ESS_OBS" --seed 1 \
            --quiet --out "$dir" >"$dir/check.txt.tmp"
        mv "$dir/check.txt.tmp" "$dir/check.txt"
        ;;
    eval)
        [ -f "$model" ] && [ ! -f "$dir/eval.json" ] || return 0
        ref=exact
        case "$task" in slcp | bernoulli_glm) ref=smc ;; esac
        timed "$dir/eval.time" "$LWFLOW" eval --model "$model" --obs "$(observations "$task")" --num 2000 \
            --reference $ref --json >"$dir/eval.json.tmp"
        mv "$dir/eval.json.tmp" "$dir/eval.json"
        ;;
    esac
}

# `runtime`: `lwflow check` on slcp with N = 1000 and every other setting at its default (ESS on
# all 1000 observations), the default model if trained, else the 1/20 one.
if [ "$1" = runtime ]; then
    model=$OUT/models/slcp_default.lwf
    [ -f "$model" ] || model=$OUT/models/slcp_short.lwf
    echo "model $model" >"$OUT/slcp_runtime.time"
    timed "$OUT/slcp_runtime.time" "$LWFLOW" check --model "$model" --simulations 1000 --quiet >"$OUT/slcp_runtime.txt"
    exit 0
fi

# `all`: task by task, so that whole rows of the table are done first; the default models are
# trained in the same queue (slcp's 16 000 steps last).
for task in $TASKS; do
    case "$1" in
    all) for what in train check eval; do for budget in short default; do stage $what "$task" $budget; done; done ;;
    *) for budget in ${BUDGETS:-short default}; do stage "$1" "$task" "$budget"; done ;;
    esac
done
