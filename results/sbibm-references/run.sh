#!/usr/bin/env bash
# Validates lwflow's reference posteriors against sbibm's published reference samples.
#
# For each task and each of sbibm's observations: `lwflow reference` draws SAMPLES samples from our
# reference at sbibm's observation (its CPU time is the reference's cost), then `lwflow compare` scores them
# against sbibm's reference_posterior_samples.csv.bz2 with the sbibm-style C2ST (sbibm's samples
# are set A, whose mean and sd standardise both sets). Two independent sample sets of one
# distribution give C2ST ≈ 0.50–0.51 at 10,000 samples each.
#
# Usage: results/sbibm-references/run.sh SBIBM_DIR [TASK ...]
#   SBIBM_DIR  sbibm's package directory (with tasks/<task>/files/num_observation_<i>/) or its
#              tasks/ directory. Nothing from it is copied into the repository.
#   TASK       tasks to run (default: the six below; also slcp_distractors, bernoulli_glm_raw, sir,
#              lotka_volterra).
# Environment:
#   LWFLOW        the binary (default: target/release/lwflow of this repository)
#   OBSERVATIONS  observation numbers (default: "1 2 3 4 5 6 7 8 9 10")
#   SAMPLES       samples from our reference (default: 10000, as sbibm's files)
#   RAYON_NUM_THREADS  threads (default here: 1, the machine is shared)
#   LABEL         appended to the task name in results.csv/.md, e.g. LABEL=" (old binary)" with
#                 LWFLOW pointing at an older build, to keep its rows beside the current ones
#
# Writes results.csv (one line per task and observation; lines already there are kept and not
# recomputed, so an interrupted run resumes where it stopped; delete a line to redo it) and
# results.md (tables built from results.csv), both beside this script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
[[ $# -ge 1 ]] || { echo "usage: $0 SBIBM_DIR [TASK ...]" >&2; exit 2; }
sbibm=$1
shift
[[ -d $sbibm/tasks ]] && sbibm=$sbibm/tasks
[[ -d $sbibm ]] || { echo "error: SBIBM_DIR: $1 is not a directory" >&2; exit 2; }
tasks=("$@")
[[ ${#tasks[@]} -gt 0 ]] || tasks=(slcp bernoulli_glm two_moons gaussian_mixture gaussian_linear_uniform gaussian_linear)
lwflow=${LWFLOW:-$repo/target/release/lwflow}
[[ -x $lwflow ]] || { echo "error: $lwflow not found; run cargo build --release -p lwflow-cli" >&2; exit 2; }
observations=${OBSERVATIONS:-"1 2 3 4 5 6 7 8 9 10"}
samples=${SAMPLES:-10000}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1}

csv=$here/results.csv
md=$here/results.md
scratch=$(mktemp -d /tmp/lwflow-sbibm-refs.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
header=task,observation,method,c2st,mmd2,sliced_w2,w2,reference_cpu_seconds,compare_cpu_seconds
[[ -f $csv ]] || echo "$header" >"$csv"

# The reference each task is validated with: the task's own (benchmark::ReferenceKind::of_task),
# SMC for bernoulli_glm.
method_of() {
  case $1 in
    slcp | bernoulli_glm | slcp_distractors | bernoulli_glm_raw | sir | lotka_volterra) echo smc ;;
    two_moons) echo grid ;;
    *) echo exact ;;
  esac
}

# CPU seconds (user + sys) of a command, which on one thread does not depend on what else runs on
# the machine; the command's stdout goes to the file $1.
TIMEFORMAT='%3U %3S'
cpu_seconds() {
  local out=$1 t
  shift
  t=$({ time "$@" >"$out" 2>"$scratch/stderr"; } 2>&1) || { cat "$scratch/stderr" >&2; exit 1; }
  awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.2f", a[1] + a[2] }'
}

# sbibm's directory and observation file of a task: slcp_distractors and bernoulli_glm_raw live in
# slcp's and bernoulli_glm's directories (same reference samples: their posteriors are the same).
files_of() {
  case $1 in
    slcp_distractors) echo "slcp observation_distractors.csv" ;;
    bernoulli_glm_raw) echo "bernoulli_glm observation_raw.csv" ;;
    *) echo "$1 observation.csv" ;;
  esac
}

label=${LABEL:-}
for task in "${tasks[@]}"; do
  method=$(method_of "$task")
  for i in $observations; do
    if awk -F, -v t="$task$label" -v i="$i" '$1 == t && $2 == i { found = 1 } END { exit !found }' "$csv"; then
      continue
    fi
    read -r task_dir obs_file <<<"$(files_of "$task")"
    dir=$sbibm/$task_dir/files/num_observation_$i
    [[ -f $dir/$obs_file && -f $dir/reference_posterior_samples.csv.bz2 ]] ||
      { echo "error: $dir lacks $obs_file or reference_posterior_samples.csv.bz2" >&2; exit 1; }
    obs=$(sed -n 2p "$dir/$obs_file" | tr -d '\r')
    bunzip2 -c "$dir/reference_posterior_samples.csv.bz2" >"$scratch/sbibm.csv"
    ref_s=$(cpu_seconds /dev/null "$lwflow" reference --task "$task" --obs "$obs" --method "$method" \
      --num "$samples" --seed "$i" --out "$scratch/ours.csv")
    cmp_s=$(cpu_seconds "$scratch/compare.json" "$lwflow" compare "$scratch/sbibm.csv" "$scratch/ours.csv" --seed 1 --json)
    row=$(jq -r --arg t "$task$label" --arg i "$i" --arg m "$method" --arg r "$ref_s" --arg c "$cmp_s" \
      '[$t, $i, $m, .c2st, .mmd2, .sliced_w2, .w2, $r, $c] | map(tostring) | join(",")' "$scratch/compare.json")
    echo "$row" >>"$csv"
    echo "$row" | awk -F, '{ printf "%s obs %s (%s): C2ST %.4f, reference %s s, compare %s s\n", $1, $2, $3, $4, $8, $9 }'
  done
done

# results.md from every line of results.csv, tasks in the order of first appearance.
{
  echo "# Our reference posteriors against sbibm's published reference samples"
  echo
  echo "Generated by \`results/sbibm-references/run.sh\` (lwflow $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown),"
  echo "$(date -u +%Y-%m-%d), RAYON_NUM_THREADS=$RAYON_NUM_THREADS on a shared 2-core machine; times are CPU seconds). Per task and"
  echo "sbibm observation: $samples samples from our reference at sbibm's observation, against sbibm's"
  echo "10,000 reference samples, sbibm-style C2ST (0.5 = indistinguishable; two independent sets of"
  echo "10,000 samples from one distribution score about 0.50–0.51). Raw numbers: \`results.csv\`."
  echo
  awk -F, 'NR > 1 {
      if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
      c[$1, $2] = $4; m[$1] = $3; sum[$1] += $4; k[$1]++
      if (!(($1) in worst) || $4 > worst[$1]) { worst[$1] = $4; worst_i[$1] = $2 }
      swd[$1] += $6; rs[$1] += $8; if ($8 > rmax[$1]) rmax[$1] = $8; cs[$1] += $9
      if ($2 > max_obs) max_obs = $2
    }
    END {
      printf "## C2ST against sbibm\n\n| task | reference |"
      for (i = 1; i <= max_obs; i++) printf " %d |", i
      printf " mean | worst (obs) |\n|---|---|"
      for (i = 1; i <= max_obs; i++) printf "---:|"
      printf "---:|---:|\n"
      for (j = 1; j <= n; j++) {
        t = order[j]; printf "| %s | %s |", t, m[t]
        for (i = 1; i <= max_obs; i++) printf " %s |", ((t, i) in c) ? sprintf("%.3f", c[t, i]) : ""
        printf " **%.3f** | %.3f (%d) |\n", sum[t] / k[t], worst[t], worst_i[t]
      }
      printf "\n## Cost, CPU seconds per observation (one thread)\n\n"
      printf "| task | reference | our reference, mean | max | compare (C2ST + distances), mean | sliced W2, mean |\n"
      printf "|---|---|---:|---:|---:|---:|\n"
      for (j = 1; j <= n; j++) {
        t = order[j]
        printf "| %s | %s | %.2f | %.2f | %.1f | %.4f |\n", t, m[t], rs[t] / k[t], rmax[t], cs[t] / k[t], swd[t] / k[t]
      }
    }' "$csv"
  if [[ -f $here/notes.md ]]; then
    echo
    cat "$here/notes.md"
  fi
} >"$md"
echo "wrote $md"
