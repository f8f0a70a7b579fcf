//! Checked setting values. Each newtype rejects a bad value while it is read: from a TOML file
//! (serde `try_from`, so the file's error carries the value's line and column), from a
//! command-line flag (`FromStr`, so clap names the flag) or from any other serde source. One
//! rule and one message per kind of value.

use std::fmt;
use std::str::FromStr;

use crate::limits::{MAX_LEARNING_RATE, MAX_TAIL_BOUND};

/// Why a setting's value was rejected: what was given and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub(crate) String);

/// A newtype over `$inner` read as `$raw` (what TOML and flags give) and kept if `$check`
/// returns `Some`; otherwise "{value} $expected". Strings that do not parse as `$raw` are
/// "'{s}' is not $what".
macro_rules! checked_value {
    ($(#[$doc:meta])* $name:ident($inner:ty) read as $raw:ty = $raw_name:literal, $what:literal,
     |$v:ident| $check:expr, $expected:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = $raw_name)]
        pub struct $name($inner);

        impl $name {
            /// The value, if it passes the check.
            pub fn new(value: $raw) -> Result<Self, ValueError> {
                Self::try_from(value)
            }

            /// The checked value.
            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl TryFrom<$raw> for $name {
            type Error = ValueError;
            fn try_from($v: $raw) -> Result<Self, ValueError> {
                match $check {
                    Some(ok) => Ok(Self(ok)),
                    // Debug: the shortest form that reads back (1e308, not 309 digits).
                    None => Err(ValueError(format!("{:?} {}", $v, $expected))),
                }
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                let raw: $raw = s.trim().parse().map_err(|_| ValueError(format!(concat!("'{}' is not ", $what), s)))?;
                Self::try_from(raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

checked_value! {
    /// A whole number ≥ 1: steps, layers, bins, batch sizes.
    Positive(usize) read as i64 = "i64", "a whole number",
    |v| usize::try_from(v).ok().filter(|&u| u >= 1),
    "must be a whole number of at least 1"
}

checked_value! {
    /// A whole number ≥ 1 that may exceed a machine word's worth of items: a budget of model calls.
    PositiveCount(u64) read as i64 = "i64", "a whole number",
    |v| u64::try_from(v).ok().filter(|&u| u >= 1),
    "must be a whole number of at least 1"
}

checked_value! {
    /// A finite number > 0: clip norm, time limit.
    PositiveF64(f64) read as f64 = "f64", "a number",
    |v| (v.is_finite() && v > 0.0).then_some(v),
    "must be a finite number greater than 0"
}

checked_value! {
    /// An Adam learning rate in (0, [`MAX_LEARNING_RATE`]].
    LearningRate(f64) read as f64 = "f64", "a number",
    |v| (v > 0.0 && v <= MAX_LEARNING_RATE).then_some(v),
    format!("is outside the learning-rate range (0, {MAX_LEARNING_RATE}]")
}

checked_value! {
    /// A spline tail bound B in (0, [`MAX_TAIL_BOUND`]]: the splines act on [−B, B].
    TailBound(f64) read as f64 = "f64", "a number",
    |v| (v > 0.0 && v <= MAX_TAIL_BOUND).then_some(v),
    format!("is outside the tail-bound range (0, {MAX_TAIL_BOUND}]")
}

checked_value! {
    /// A finite number ≥ 0: the weight of an optional loss term.
    NonNegativeF64(f64) read as f64 = "f64", "a number",
    |v| (v.is_finite() && v >= 0.0).then_some(v),
    "must be a finite number ≥ 0"
}

checked_value! {
    /// A fraction in (0, 1]: a share of the proposal, a fraction of the steps.
    Fraction(f64) read as f64 = "f64", "a number",
    |v| (v > 0.0 && v <= 1.0).then_some(v),
    "must be a fraction in (0, 1]"
}

checked_value! {
    /// A fraction strictly between 0 and 1: a target share of the effective sample size.
    OpenFraction(f64) read as f64 = "f64", "a number",
    |v| (v > 0.0 && v < 1.0).then_some(v),
    "must be a fraction strictly between 0 and 1"
}

/// Number of mixture components of a `gmm` or `cgmm` base: a count, or `auto`
/// ([`crate::train::choose_components`] counts the posterior's modes on simulated observations).
/// Written `6` or `"auto"` in TOML, `6` or `auto` on the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Components {
    /// Exactly this many components.
    Count(Positive),
    /// Chosen from the posterior's modes.
    Auto,
}

impl FromStr for Components {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(Components::Auto);
        }
        s.parse().map(Components::Count).map_err(|e| ValueError(format!("{e}; expected a whole number ≥ 1 or 'auto'")))
    }
}

impl fmt::Display for Components {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Components::Count(k) => k.fmt(f),
            Components::Auto => f.write_str("auto"),
        }
    }
}

impl serde::Serialize for Components {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Components::Count(k) => s.serialize_u64(k.get() as u64),
            Components::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Components {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Components;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number of at least 1 or \"auto\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Components, E> {
                Positive::try_from(v).map(Components::Count).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Components, E> {
                let v = i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))?;
                self.visit_i64(v)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Components, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_pass_the_same_rule() {
        assert_eq!("3".parse::<Positive>().map(Positive::get), Ok(3));
        assert_eq!(Positive::new(3).map(Positive::get), Ok(3));
        for bad in ["0", "-2"] {
            let e = bad.parse::<Positive>().expect_err(bad).to_string();
            assert_eq!(e, format!("{bad} must be a whole number of at least 1"));
        }
        assert_eq!("100000".parse::<PositiveCount>().map(PositiveCount::get), Ok(100_000));
        assert!("0".parse::<PositiveCount>().is_err() && PositiveCount::new(-1).is_err());
        assert_eq!("1.5".parse::<Positive>().expect_err("not whole").to_string(), "'1.5' is not a whole number");
        assert_eq!("0.25".parse::<Fraction>().map(Fraction::get), Ok(0.25));
        assert!("1".parse::<Fraction>().is_ok() && "1".parse::<OpenFraction>().is_err());
        assert!("0".parse::<NonNegativeF64>().is_ok() && "0".parse::<PositiveF64>().is_err());
        let e = "inf".parse::<PositiveF64>().expect_err("infinite").to_string();
        assert_eq!(e, "inf must be a finite number greater than 0");
        assert_eq!("x".parse::<PositiveF64>().expect_err("text").to_string(), "'x' is not a number");
        assert!(NonNegativeF64::new(f64::NAN).is_err() && Fraction::new(f64::NAN).is_err());
    }

    #[test]
    fn learning_rate_and_tail_bound_have_an_upper_limit() {
        assert_eq!("1e-3".parse::<LearningRate>().map(LearningRate::get), Ok(1e-3));
        assert_eq!(LearningRate::new(MAX_LEARNING_RATE).map(LearningRate::get), Ok(MAX_LEARNING_RATE));
        let e = "1e308".parse::<LearningRate>().expect_err("too large").to_string();
        assert_eq!(e, format!("1e308 is outside the learning-rate range (0, {MAX_LEARNING_RATE}]"));
        assert!(LearningRate::new(0.0).is_err() && LearningRate::new(f64::NAN).is_err());
        assert_eq!("5".parse::<TailBound>().map(TailBound::get), Ok(5.0));
        let e = TailBound::new(1e308).expect_err("too large").to_string();
        assert_eq!(e, format!("1e308 is outside the tail-bound range (0, {MAX_TAIL_BOUND}]"));
        assert!(TailBound::new(-1.0).is_err() && TailBound::new(f64::INFINITY).is_err());
    }

    #[test]
    fn components_are_a_count_or_auto_in_every_form() {
        let six = Components::Count(Positive::new(6).expect("valid"));
        assert_eq!(("6".parse(), " Auto ".parse()), (Ok(six), Ok(Components::Auto)));
        assert_eq!((six.to_string(), Components::Auto.to_string()), ("6".to_string(), "auto".to_string()));
        for c in [six, Components::Auto] {
            let json = serde_json::to_value(c).expect("serialises");
            assert_eq!(serde_json::from_value::<Components>(json).expect("reads back"), c);
        }
        let e = "many".parse::<Components>().expect_err("not a count").to_string();
        assert!(e.contains("'many'") && e.ends_with("'auto'"), "{e}");
        assert!(serde_json::from_value::<Components>(serde_json::json!(0)).is_err());
        assert!(serde_json::from_value::<Components>(serde_json::json!(2.5)).is_err());
    }
}
