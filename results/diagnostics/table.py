#!/usr/bin/env python3
"""The verdict table of docs/diagnostics.md from run.sh's outputs: per task and budget, the
verdicts of `lwflow check` (check.json) beside the C2ST of `lwflow eval` (eval.json).
Writes table.md and prints it. C2ST < 0.55 counts as good, ≥ 0.6 as poor, in between as
borderline (either verdict agrees)."""

import json
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
TASKS = ["square2d", "square3d", "two_moons", "gaussian_mixture", "slcp", "gaussian_linear",
         "gaussian_linear_uniform", "bernoulli_glm"]
STEPS = {"slcp": 16000}


def p(v):
    if v is None:
        return "–"
    if v == 0:
        return "< 1e-300"
    return f"{v:.2g}" if v >= 1e-3 else f"{v:.0e}"


def verdict(t):
    return "pass" if t["passed"] else "FAIL"


def seconds(path):
    if not path.exists():
        return None
    text = path.read_text()
    wall = re.findall(r"wall_seconds ([0-9.]+) load_after ([0-9.]+)", text)
    cpu = re.findall(r"cpu_seconds ([0-9.]+)\+([0-9.]+)", text)
    if not wall or not cpu:
        return None
    return float(wall[-1][0]), float(cpu[-1][0]) + float(cpu[-1][1]), float(wall[-1][1])


rows, agree, total = [], 0, 0
for task in TASKS:
    for budget in ["default", "short"]:
        d = HERE / f"{task}_{budget}"
        if not (d / "check.json").exists():
            continue
        c = json.loads((d / "check.json").read_text())
        tests = {t["name"]: t for t in c["summary"]["tests"]}
        steps = STEPS.get(task, 4000) // (20 if budget == "short" else 1)
        ess = c.get("ess")
        ess_text = (f"{ess['quantiles']['q05']:.2f} · {ess['quantiles']['median']:.2f} "
                    f"({100 * ess['flagged_share']:.0f} %, {verdict(tests['importance_ess'])})") if ess else "–"
        ppc = c.get("ppc")
        ppc_text = f"{len(ppc['flagged'])}/{len(ppc['observations'])}" if ppc else "–"
        cov = c["coverage"]
        c2st_text, says, ok = "not run", None, ""
        if (d / "eval.json").exists():
            ev = json.loads((d / "eval.json").read_text())
            scores = [e["c2st"] for e in ev]
            mean = sum(scores) / len(scores)
            c2st_text = f"{mean:.3f} ({', '.join(f'{s:.3f}' for s in scores)})"
            says = "good" if mean < 0.55 else ("poor" if mean >= 0.6 else "borderline")
            cal = c["summary"]["calibrated"]
            ok = "yes" if says == "borderline" or (says == "good") == cal else "no"
            total += 1
            agree += ok == "yes"
        t = seconds(d / "check.time")
        time_text = f"{t[0]:.0f} s ({t[1]:.0f} s CPU, load {t[2]:.0f})" if t else "–"
        rows.append(
            f"| {task}, {steps} steps | {p(tests['sbc']['p_value'])} {verdict(tests['sbc'])} "
            f"| {p(tests['coverage']['p_value'])} {verdict(tests['coverage'])} ({cov['mean_deviation']:+.3f}) "
            f"| {p(tests['tarp']['p_value'])} {verdict(tests['tarp'])} | {ess_text} | {ppc_text} "
            f"| {'yes' if c['summary']['calibrated'] else 'no'} | {c2st_text} | {ok} | {time_text} |")

header = ("| model | SBC p (Holm) | coverage p (deviation) | TARP p | ESS/M 5 % · median (flagged) "
          "| PPC flagged | calibrated | C2ST mean (per observation) | agree | check wall (CPU, load) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
table = header + "\n" + "\n".join(rows) + f"\n\nAgreement of `calibrated` with C2ST: {agree} of {total}.\n"
(HERE / "table.md").write_text(table)
print(table)
