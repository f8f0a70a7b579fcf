#!/usr/bin/env bash
# Issue 20's four sbibm tasks: train each with its recommended settings (optionally fewer steps),
# then at sbibm's own observations draw 10,000 samples from the flow and score them with the
# sbibm-style C2ST against sbibm's published reference samples (the references our SMC is
# validated against in results/sbibm-references/). Same observations as sbibm's published table.
#
# Usage: results/tasks20/run.sh SBIBM_DIR [TASK ...]
#   SBIBM_DIR  sbibm's package directory (with tasks/<task>/files/num_observation_<i>/) or its
#              tasks/ directory. Nothing from it is copied into the repository.
#   TASK       default: sir lotka_volterra slcp_distractors bernoulli_glm_raw
# Environment:
#   LWFLOW        the binary (default: target/release/lwflow of this repository)
#   STEPS         training steps (default: empty = the task's recommended budget)
#   OBSERVATIONS  sbibm observation numbers (default: "1 2 3 4 5")
#   SEED          training seed (default 1)
#
# Appends one line per task and observation to results.csv beside this script (lines already
# there are kept and not recomputed) and keeps the training logs in train_<task><label>.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[[ $# -ge 1 ]] || { echo "usage: $0 SBIBM_DIR [TASK ...]" >&2; exit 2; }
sbibm=$1
shift
[[ -d $sbibm/tasks ]] && sbibm=$sbibm/tasks
tasks=("$@")
[[ ${#tasks[@]} -gt 0 ]] || tasks=(sir lotka_volterra slcp_distractors bernoulli_glm_raw)
lwflow=${LWFLOW:-$repo/target/release/lwflow}
observations=${OBSERVATIONS:-"1 2 3 4 5"}
seed=${SEED:-1}
steps=${STEPS:-}
label=${steps:+ (steps $steps)}
steps_flag=()
[[ -n $steps ]] && steps_flag=(--steps "$steps")

csv=$here/results.csv
[[ -f $csv ]] || echo "task,observation,c2st,train_seconds,likelihood_evals,simulations" >"$csv"
scratch=$(mktemp -d /tmp/lwflow-tasks20.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

files_of() {
  case $1 in
    slcp_distractors) echo "slcp observation_distractors.csv" ;;
    bernoulli_glm_raw) echo "bernoulli_glm observation_raw.csv" ;;
    *) echo "$1 observation.csv" ;;
  esac
}

for task in "${tasks[@]}"; do
  name="$task$label"
  model=$scratch/$task.lwf
  log=$here/train_$task${steps:+_steps$steps}.log
  trained=
  for i in $observations; do
    if awk -F, -v t="$name" -v i="$i" '$1 == t && $2 == i { found = 1 } END { exit !found }' "$csv"; then
      continue
    fi
    if [[ -z $trained ]]; then
      start=$(date +%s)
      "$lwflow" train --task "$task" --seed "$seed" "${steps_flag[@]}" --out "$model" >"$log" 2>&1
      train_s=$(($(date +%s) - start))
      info=$("$lwflow" info --model "$model")
      evals=$(grep -o '"likelihood_evals": [0-9]*' <<<"$info" | grep -o '[0-9]*$')
      sims=$(grep -o '"simulations": [0-9]*' <<<"$info" | grep -o '[0-9]*$')
      trained=1
    fi
    read -r task_dir obs_file <<<"$(files_of "$task")"
    dir=$sbibm/$task_dir/files/num_observation_$i
    obs=$(sed -n 2p "$dir/$obs_file" | tr -d '\r')
    bunzip2 -c "$dir/reference_posterior_samples.csv.bz2" >"$scratch/sbibm.csv"
    "$lwflow" sample --model "$model" --obs "$obs" --num 10000 --seed "$i" --out "$scratch/ours.csv" >/dev/null
    c2st=$("$lwflow" compare "$scratch/sbibm.csv" "$scratch/ours.csv" --seed 1 --json | jq -r .c2st)
    echo "$name,$i,$c2st,$train_s,$evals,$sims" | tee -a "$csv"
  done
done
