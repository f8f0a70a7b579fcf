//! The bytes of the external-model protocol: requests out, answers in, in either framing.
//!
//! A request or answer is one JSON object on one line. A matrix in it is either inline, a JSON
//! array of rows (or of numbers), or a *payload descriptor* `{"f64le": [rows, cols]}` (or
//! `{"f64le": rows}` for a vector): its rows·cols values then follow the line as raw
//! little-endian IEEE-754 doubles, row-major, with no separator. A request's payloads follow
//! its line in the order of its descriptors (x, then θ); an answer has at most one. The descriptor form exists because, for
//! the 64 × 8192 likelihood pairs of one training step, writing and parsing decimal text costs
//! ~200× the likelihood arithmetic of a numpy model (`benches/external_breakdown.py`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::mat::MatRef;

/// How lwflow frames the matrices of its requests to one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// Every number as JSON text (the default; what every model must understand first).
    Json,
    /// Matrices as payload descriptors followed by raw little-endian f64 (after the model
    /// accepted the offer with `"format": "f64le"` in its first answer).
    F64le,
}

/// The formats offered on a process's first request, under the key `"formats"`.
pub(super) const OFFERED_FORMATS: &[&str] = &["json", "f64le"];

/// Longest line that may be a binary answer header; longer lines are inline JSON answers.
const MAX_HEADER_BYTES: usize = 4096;
/// Largest payload an answer header may announce (1 GiB); past it the answer is unreadable.
pub(super) const MAX_PAYLOAD_BYTES: usize = 1 << 30;

/// Rows of a request: a matrix, or one row repeated.
#[derive(Clone, Copy)]
pub(super) enum Rows<'a> {
    Mat(MatRef<'a, f64>),
    Repeat { row: &'a [f64], n_rows: usize },
}

impl Rows<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Rows::Mat(m) => m.rows(),
            Rows::Repeat { n_rows, .. } => *n_rows,
        }
    }

    /// Rows `range` of these rows.
    pub(super) fn rows_range(&self, range: std::ops::Range<usize>) -> Self {
        match *self {
            Rows::Mat(m) => Rows::Mat(m.rows_range(range.start, range.len())),
            Rows::Repeat { row, .. } => Rows::Repeat { row, n_rows: range.len() },
        }
    }

    fn cols(&self) -> usize {
        match self {
            Rows::Mat(m) => m.cols(),
            Rows::Repeat { row, .. } => row.len(),
        }
    }

    /// Every value, row-major.
    fn for_each_row(&self, mut f: impl FnMut(&[f64])) {
        match *self {
            Rows::Mat(m) => (0..m.rows()).for_each(|r| f(m.row(r))),
            Rows::Repeat { row, n_rows } => (0..n_rows).for_each(|_| f(row)),
        }
    }

    /// Appends the rows as little-endian f64 bytes.
    fn write_f64le(&self, buf: &mut Vec<u8>) {
        buf.reserve(8 * self.len() * self.cols());
        self.for_each_row(|row| row.iter().for_each(|v| buf.extend_from_slice(&v.to_le_bytes())));
    }
}

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        let mut result = Ok(());
        self.for_each_row(|row| {
            if result.is_ok() {
                result = seq.serialize_element(row);
            }
        });
        result?;
        seq.end()
    }
}

/// A matrix field of a request in the chosen framing.
struct Field<'a> {
    rows: Rows<'a>,
    format: Format,
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.format {
            Format::Json => self.rows.serialize(s),
            Format::F64le => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("f64le", &[self.rows.len(), self.rows.cols()])?;
                map.end()
            }
        }
    }
}

/// One request to the process.
pub(super) enum Request<'a> {
    /// One x per θ row, from the given seed.
    Simulate { theta: Rows<'a>, seed: u64 },
    /// log L(x_r | θ_r) for each row pair.
    LogLikelihood { x: Rows<'a>, theta: Rows<'a> },
}

impl Request<'_> {
    pub(super) fn op(&self) -> &'static str {
        match self {
            Request::Simulate { .. } => "simulate",
            Request::LogLikelihood { .. } => "log_likelihood",
        }
    }

    /// Writes the request line (with the format offer if `offer`) and, for `F64le`, the payloads.
    pub(super) fn encode(&self, format: Format, offer: bool, id: u64, buf: &mut Vec<u8>) {
        #[derive(Serialize)]
        struct Line<'a> {
            id: u64,
            op: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            x: Option<Field<'a>>,
            theta: Field<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            seed: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            formats: Option<&'static [&'static str]>,
        }
        let (x, theta, seed) = match *self {
            Request::Simulate { theta, seed } => (None, theta, Some(seed)),
            Request::LogLikelihood { x, theta } => (Some(x), theta, None),
        };
        let line = Line {
            id,
            op: self.op(),
            x: x.map(|rows| Field { rows, format }),
            theta: Field { rows: theta, format },
            seed,
            formats: offer.then_some(OFFERED_FORMATS),
        };
        serde_json::to_writer(&mut *buf, &line).expect("requests of finite numbers serialise");
        buf.push(b'\n');
        if format == Format::F64le {
            // Payloads in the order of their descriptors in the line: x, then θ.
            x.iter().chain([&theta]).for_each(|rows| rows.write_f64le(buf));
        }
    }
}

/// One answer: its line (without the newline) and the bytes of its payloads, if any.
pub(super) struct Answer {
    pub line: String,
    pub payload: Vec<u8>,
}

/// Bytes of payload that follow the answer `line`: the sum over its payload descriptors. Lines
/// that are long, not JSON or have no descriptor have none; an announced payload beyond
/// [`MAX_PAYLOAD_BYTES`] is an error (reading it could exhaust memory or never end).
pub(super) fn payload_len(line: &str) -> Result<usize, String> {
    if line.len() > MAX_HEADER_BYTES || !line.contains("f64le") {
        return Ok(0);
    }
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(&quote_non_finite(line))
    else {
        return Ok(0);
    };
    let mut total = 0usize;
    for value in fields.values() {
        let Some(shape) = value.as_object().and_then(|o| o.get("f64le")) else { continue };
        let dims: Option<Vec<usize>> = match shape {
            serde_json::Value::Array(dims) => dims.iter().map(|d| d.as_u64().map(|d| d as usize)).collect(),
            other => other.as_u64().map(|d| vec![d as usize]),
        };
        let Some(dims) = dims else {
            return Err(format!(
                "the payload descriptor {{\"f64le\": {shape}}} is not a shape; expected a whole number of values \
                 or [rows, cols] of whole numbers: {}",
                preview(line)
            ));
        };
        let bytes = Some(dims)
            .and_then(|dims| dims.iter().try_fold(8usize, |acc, &d| acc.checked_mul(d)))
            .and_then(|bytes| total.checked_add(bytes))
            .filter(|&bytes| bytes <= MAX_PAYLOAD_BYTES);
        total = bytes.ok_or_else(|| {
            format!(
                "the answer announces a payload of {shape} f64 values, more than the limit of {} MiB: {}",
                MAX_PAYLOAD_BYTES >> 20,
                preview(line)
            )
        })?;
    }
    Ok(total)
}

/// A matrix or vector of an answer: inline JSON, or a payload descriptor with its shape.
pub(super) enum Payload<T> {
    Inline(T),
    F64le(Vec<usize>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Payload<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// `{"f64le": rows}` or `{"f64le": [rows, cols]}`.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Descriptor {
            f64le: Shape,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Len(usize),
            Dims(Vec<usize>),
        }
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Payload<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array, or a payload descriptor {\"f64le\": [rows, cols]}")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                T::deserialize(SeqAccessDeserializer::new(seq)).map(Payload::Inline)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let d = Descriptor::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Payload::F64le(match d.f64le {
                    Shape::Len(n) => vec![n],
                    Shape::Dims(dims) => dims,
                }))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// The `id` an answer echoes, if any: read from the top level of the line without parsing the
/// (possibly megabytes of) values, since models write `{"id": n, ...}` first; a line that starts
/// otherwise is searched for a top-level `"id"` key by a full parse only when it mentions one.
pub(super) fn answer_id(line: &str) -> Option<u64> {
    let rest = line.trim_start().strip_prefix('{')?.trim_start();
    if let Some(after) = rest.strip_prefix("\"id\"") {
        let digits = after.trim_start().strip_prefix(':')?.trim_start();
        let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
        return digits[..end].parse().ok();
    }
    if !line.contains("\"id\"") {
        return None;
    }
    #[derive(Deserialize)]
    struct Id {
        id: Option<u64>,
    }
    parse_answer::<Id>(line).ok().and_then(|a| a.id)
}

/// The values of a payload, in order.
pub(super) fn f64le_values(bytes: &[u8]) -> impl Iterator<Item = f64> + '_ {
    bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8 bytes")))
}

/// Answer to `simulate`.
#[derive(Deserialize)]
pub(super) struct SimulateAnswer {
    pub x: Option<Payload<Vec<Vec<Number>>>>,
    pub error: Option<String>,
}

/// Answer to `log_likelihood`.
#[derive(Deserialize)]
pub(super) struct LogLikelihoodAnswer {
    pub log_likelihood: Option<Payload<Vec<Number>>>,
    pub error: Option<String>,
}

/// The format a model chose in its first answer (`"format": "f64le"`), if any.
#[derive(Deserialize)]
pub(super) struct FormatChoice {
    pub format: Option<String>,
}

/// A number as models write it: a JSON number; `null` (−∞, a zero likelihood); or, after the
/// pre-pass, the quoted literals "-Infinity", "Infinity", "NaN". Other strings are errors.
pub(super) struct Number(pub f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, null, -Infinity, Infinity or NaN")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Number, E> {
                Ok(Number(f64::NEG_INFINITY))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                match v {
                    "-Infinity" => Ok(Number(f64::NEG_INFINITY)),
                    "Infinity" => Ok(Number(f64::INFINITY)),
                    "NaN" => Ok(Number(f64::NAN)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses one answer line, after quoting the non-JSON literals Python writes.
pub(super) fn parse_answer<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, String> {
    let quoted = quote_non_finite(line);
    serde_json::from_str(&quoted).map_err(|e| format!("unreadable answer ({e}): {}", preview(line)))
}

/// `-Infinity`, `Infinity` and `NaN` outside JSON strings become `"-Infinity"`, `"Infinity"` and
/// `"NaN"`; everything else is copied. Borrows when there is nothing to quote (the common case).
fn quote_non_finite(line: &str) -> Cow<'_, str> {
    if !line.contains("Infinity") && !line.contains("NaN") {
        return Cow::Borrowed(line);
    }
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len() + 16);
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let literal = ["-Infinity", "Infinity", "NaN"].into_iter().find(|lit| bytes[i..].starts_with(lit.as_bytes()));
        match literal {
            Some(lit) => {
                out.push_str(&line[copied..i]);
                out.push('"');
                out.push_str(lit);
                out.push('"');
                i += lit.len();
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&line[copied..]);
    Cow::Owned(out)
}

/// "the answer has neither "key" nor "error": <line>".
pub(super) fn missing_key(key: &str, line: &str) -> String {
    format!("the answer has neither {key:?} nor \"error\": {}", preview(line))
}

/// A model's own error message, cut to its start if long (a 5 MB message is not printed whole).
pub(super) fn model_message(message: &str) -> String {
    preview(message)
}

/// The start of a long line, for error messages.
pub(super) fn preview(line: &str) -> String {
    const MAX_CHARS: usize = 200;
    match line.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes)", &line[..cut], line.len()),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::Mat;

    #[test]
    fn non_finite_literals_are_quoted_outside_strings_only() {
        let line = r#"{"log_likelihood": [-Infinity, 1.5, NaN, Infinity, null], "note": "NaN -Infinity \" NaN"}"#;
        let want = r#"{"log_likelihood": ["-Infinity", 1.5, "NaN", "Infinity", null], "note": "NaN -Infinity \" NaN"}"#;
        assert_eq!(quote_non_finite(line), want);
        let answer: LogLikelihoodAnswer = parse_answer(line).expect("parses");
        let Some(Payload::Inline(values)) = answer.log_likelihood else { panic!("inline values") };
        let v: Vec<f64> = values.into_iter().map(|n| n.0).collect();
        assert_eq!(v[0], f64::NEG_INFINITY);
        assert_eq!(v[1], 1.5);
        assert!(v[2].is_nan());
        assert_eq!((v[3], v[4]), (f64::INFINITY, f64::NEG_INFINITY));
        assert!(matches!(quote_non_finite("[1, 2]"), Cow::Borrowed(_)));
    }

    #[test]
    fn strings_other_than_the_literals_are_rejected() {
        let err = parse_answer::<LogLikelihoodAnswer>(r#"{"log_likelihood": [1, "abc"]}"#).err().expect("fails");
        assert!(err.contains("abc") && err.contains("unreadable answer"), "{err}");
    }

    #[test]
    fn payload_descriptors_that_are_not_shapes_are_named_as_such() {
        for bad in [r#"{"x": {"f64le": -5}}"#, r#"{"x": {"f64le": 2.5}}"#, r#"{"x": {"f64le": "many"}}"#] {
            let err = payload_len(bad).unwrap_err();
            assert!(err.contains("not a shape") && !err.contains("MiB"), "{bad}: {err}");
        }
        let err = payload_len(r#"{"x": {"f64le": [1099511627776, 2]}}"#).unwrap_err();
        assert!(err.contains("more than the limit"), "{err}");
        let long = "e".repeat(5_000_000);
        assert!(model_message(&long).len() < 1000);
    }

    #[test]
    fn answer_id_reads_a_leading_or_later_id_and_nothing_else() {
        assert_eq!(answer_id(r#"{"id": 12, "x": [[1.0]]}"#), Some(12));
        assert_eq!(answer_id(r#"{"x": [[1.0]], "id": 3}"#), Some(3));
        assert_eq!(answer_id(r#"{"x": [[1.0]]}"#), None);
        assert_eq!(answer_id(r#"{"error": "bad \"id\" value"}"#), None);
        assert_eq!(answer_id("not json"), None);
    }

    #[test]
    fn f64le_request_is_a_header_line_then_x_then_theta_bytes() {
        let theta = Mat::from_fn(3, 2, |r, c| (10 * r + c) as f64 + 0.25);
        let x = [1.5, -2.0];
        let request =
            Request::LogLikelihood { x: Rows::Repeat { row: &x, n_rows: 3 }, theta: Rows::Mat(theta.as_ref()) };
        let mut buf = Vec::new();
        request.encode(Format::F64le, false, 7, &mut buf);
        let newline = buf.iter().position(|&b| b == b'\n').expect("one line");
        let header = std::str::from_utf8(&buf[..newline]).expect("utf-8");
        assert_eq!(header, r#"{"id":7,"op":"log_likelihood","x":{"f64le":[3,2]},"theta":{"f64le":[3,2]}}"#);
        let values: Vec<f64> = f64le_values(&buf[newline + 1..]).collect();
        let want: Vec<f64> = x.repeat(3).into_iter().chain(theta.as_slice().iter().copied()).collect();
        assert_eq!(values, want);
        assert_eq!(buf.len() - newline - 1, 8 * 12);
    }

    #[test]
    fn json_request_carries_the_format_offer_only_when_asked() {
        let theta = Mat::from_fn(1, 2, |_, c| c as f64);
        let request = Request::Simulate { theta: Rows::Mat(theta.as_ref()), seed: 7 };
        let (mut first, mut later) = (Vec::new(), Vec::new());
        request.encode(Format::Json, true, 1, &mut first);
        request.encode(Format::Json, false, 2, &mut later);
        assert_eq!(
            std::str::from_utf8(&first).expect("utf-8"),
            "{\"id\":1,\"op\":\"simulate\",\"theta\":[[0.0,1.0]],\"seed\":7,\"formats\":[\"json\",\"f64le\"]}\n"
        );
        assert_eq!(
            std::str::from_utf8(&later).expect("utf-8"),
            "{\"id\":2,\"op\":\"simulate\",\"theta\":[[0.0,1.0]],\"seed\":7}\n"
        );
    }

    #[test]
    fn payload_len_reads_descriptors_and_caps_the_size() {
        assert_eq!(payload_len(r#"{"log_likelihood": {"f64le": 5}}"#), Ok(40));
        assert_eq!(payload_len(r#"{"x": {"f64le": [4, 3]}}"#), Ok(96));
        assert_eq!(payload_len(r#"{"log_likelihood": [1, 2]}"#), Ok(0));
        assert_eq!(payload_len(r#"{"error": "no f64le here"}"#), Ok(0));
        assert_eq!(payload_len("not json f64le"), Ok(0));
        let err = payload_len(r#"{"x": {"f64le": [1099511627776, 2]}}"#).expect_err("too large");
        assert!(err.contains("limit"), "{err}");
        let answer: SimulateAnswer = parse_answer(r#"{"x": {"f64le": [4, 3]}}"#).expect("parses");
        assert!(matches!(answer.x, Some(Payload::F64le(dims)) if dims == [4, 3]));
        let err = parse_answer::<SimulateAnswer>(r#"{"x": {"f64le": [4, 3], "extra": 1}}"#).err().expect("fails");
        assert!(err.contains("extra"), "{err}");
    }

    mod fuzz {
        //! Property-based fuzzing of the answer parsers (proptest, inside `cargo test`): any line
        //! gives a value or an error, never a panic or an allocation beyond the payload limit.
        use super::super::*;
        use proptest::prelude::*;

        /// Cases per property: 512 × 2, well under a second in release mode.
        const CASES: u32 = 512;

        proptest! {
            #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

            /// Arbitrary lines: payload sizes are bounded, parsers never panic.
            #[test]
            fn answer_parsers_take_any_line(line in "\\PC{0,120}") {
                if let Ok(n) = payload_len(&line) {
                    prop_assert!(n <= MAX_PAYLOAD_BYTES);
                }
                let _ = parse_answer::<SimulateAnswer>(&line);
                let _ = parse_answer::<LogLikelihoodAnswer>(&line);
                let _ = answer_id(&line);
            }

            /// Answer-shaped lines: keys, descriptors, ids, non-finite literals, nesting.
            #[test]
            fn answer_parsers_take_answer_shaped_lines(
                line in r#"\{("id": ?-?[0-9]{0,21}, ?)?"(x|log_likelihood|error|format)": ?(\[(\[?(-?[0-9.e]{1,8}|null|NaN|-?Infinity|"[a-z]*")(, ?)?\]?){0,6}\]|\{"f64le": ?(\[-?[0-9.]{0,22}(, ?-?[0-9.]{0,22})?\]|-?[0-9.]{0,22}|"many")\}|"[a-z \\"]*")\}"#
            ) {
                if let Ok(n) = payload_len(&line) {
                    prop_assert!(n <= MAX_PAYLOAD_BYTES);
                }
                let _ = parse_answer::<SimulateAnswer>(&line);
                let _ = parse_answer::<LogLikelihoodAnswer>(&line);
                let _ = answer_id(&line);
            }
        }
    }
}
