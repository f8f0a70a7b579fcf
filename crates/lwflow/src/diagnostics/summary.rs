//! The verdicts of every test in one serialisable place, and the top-level `calibrated`.

/// One test's verdict.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TestVerdict {
    /// "sbc", "coverage", "tarp", "importance_ess" or "ppc".
    pub name: &'static str,
    /// What `statistic` is.
    pub statistic_name: &'static str,
    /// The test statistic.
    pub statistic: f64,
    /// Its p-value (multiple-comparison corrected for SBC); `None` for the ESS and predictive
    /// checks, thresholds on a grade rather than hypothesis tests.
    pub p_value: Option<f64>,
    /// p-value ≥ α (or, for the ESS and predictive checks, at most the allowed share flagged).
    pub passed: bool,
}

/// All verdicts at one level α.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// The level every p-value is compared with.
    pub alpha: f64,
    /// Every test passed.
    pub calibrated: bool,
    /// The tests, in the order sbc, coverage, tarp, importance_ess, ppc.
    pub tests: Vec<TestVerdict>,
}

impl Summary {
    /// The summary of `tests` at `alpha`.
    pub fn new(alpha: f64, tests: Vec<TestVerdict>) -> Self {
        Self { alpha, calibrated: tests.iter().all(|t| t.passed), tests }
    }

    /// The verdict of the test called `name`, if it ran.
    pub fn test(&self, name: &str) -> Option<&TestVerdict> {
        self.tests.iter().find(|t| t.name == name)
    }
}
