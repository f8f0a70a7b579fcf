//! Axis text: default column labels θ₁, θ₂, … and tick labels.

/// θ₁..θ_dim.
pub(super) fn default_labels(dim: usize) -> Vec<String> {
    (1..=dim).map(|i| format!("θ{}", subscript(i))).collect()
}

fn subscript(i: usize) -> String {
    i.to_string().chars().map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c)).collect()
}

/// Tick label with at most 3 significant digits and no trailing zeros.
pub(super) fn format_tick(v: f64) -> String {
    if v == 0.0 || (0.01..10000.0).contains(&v.abs()) {
        let s = format!("{v:.2}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        format!("{v:.1e}")
    }
}
