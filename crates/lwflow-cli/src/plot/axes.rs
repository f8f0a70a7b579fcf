//! Axis text: default column labels θ₁, θ₂, … and tick labels.

/// θ₁..θ_dim.
pub(super) fn default_labels(dim: usize) -> Vec<String> {
    (1..=dim).map(|i| format!("θ{}", subscript(i))).collect()
}

fn subscript(i: usize) -> String {
    i.to_string().chars().map(|c| char::from_u32(0x2080 + c.to_digit(10).unwrap_or(0)).unwrap_or(c)).collect()
}

/// Tick label with 3 significant digits (more left of the point), no trailing zeros: 0.025,
/// 12.5, 1250; scientific notation outside [0.01, 10 000).
pub(super) fn format_tick(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if (0.01..10000.0).contains(&v.abs()) {
        let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        format!("{v:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::format_tick;

    #[test]
    fn ticks_keep_three_significant_digits() {
        let cases = [(0.0, "0"), (0.025, "0.025"), (0.035, "0.035"), (0.5, "0.5"), (12.5, "12.5"), (1250.0, "1250")];
        for (v, want) in cases {
            assert_eq!(format_tick(v), want, "{v}");
        }
        assert_eq!(format_tick(-2.0), "-2");
        assert_eq!(format_tick(2e-4), "2.0e-4");
    }
}
