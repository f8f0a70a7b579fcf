#!/usr/bin/env bash
# The current budgeted algorithm (two lr decays per round) on two_moons and gaussian_mixture.
# The run was stopped after gaussian_mixture at 10^5 (end of session); results.md holds the rows it finished.
lwflow benchmark --tasks two_moons,gaussian_mixture --observations 5 --budget 100000,10000,1000 --no-distances --out results/budget/current
