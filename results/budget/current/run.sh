#!/usr/bin/env bash
# The current budgeted algorithm (two lr decays per round) on two_moons and gaussian_mixture.
# 30.4 min on a machine otherwise running CI.
lwflow benchmark --tasks two_moons,gaussian_mixture --observations 5 --budget 100000,10000,1000 --no-distances --out results/budget/current
