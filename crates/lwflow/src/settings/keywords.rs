//! [`Settings`] as flat keywords, the way Python's `lwflow.train(model, steps=500, base="cgmm")`
//! passes them: each keyword is a command-line flag's name with `_` for `-` (`obs_per_step`),
//! so `[base] kind` and `[flow] kind` are `base` and `flow` and every other key is its own name.
//! Which table a keyword belongs to is read from the serde form of [`Settings`], so a new key
//! needs no line here.

use serde_json::{Map, Value};

use super::Settings;
use crate::error::{Error, Result};

/// One flat keyword and the key it sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyword {
    /// What a caller writes: `steps`, `base`, `seed`.
    pub name: String,
    /// The table it belongs to (`"train"`), `None` for a top-level key (`seed`).
    pub table: Option<String>,
    /// The key inside that table (`"kind"` for `base`).
    pub key: String,
}

impl Keyword {
    /// The settings key as errors from [`Settings::resolve`] name it: `"train.steps"`, `"seed"`.
    pub fn path(&self) -> String {
        match &self.table {
            Some(table) => format!("{table}.{}", self.key),
            None => self.key.clone(),
        }
    }
}

impl Settings {
    /// Every keyword, in the order of the settings' fields (top-level keys first, then table by
    /// table).
    pub fn keywords() -> Vec<Keyword> {
        let Value::Object(top) = serde_json::to_value(Settings::default()).expect("settings are plain data") else {
            unreachable!("Settings serialises as a map")
        };
        let mut keywords = Vec::new();
        let mut tables = Vec::new();
        for (key, value) in top {
            match value {
                Value::Object(table) => tables.push((key, table)),
                _ => keywords.push(Keyword { name: key.clone(), table: None, key }),
            }
        }
        for (table, keys) in tables {
            for key in keys.keys() {
                let name = if key == "kind" { table.clone() } else { key.clone() };
                keywords.push(Keyword { name, table: Some(table.clone()), key: key.clone() });
            }
        }
        keywords
    }

    /// The settings `keywords` give; a `null` value leaves its key unset. An unknown keyword, or
    /// a value its key rejects, is an error naming the keyword (and, for an unknown one, listing
    /// the valid names).
    pub fn from_keywords(keywords: Map<String, Value>) -> Result<Settings> {
        let known = Settings::keywords();
        let mut sources = Vec::with_capacity(keywords.len());
        for (name, value) in keywords {
            let Some(keyword) = known.iter().find(|k| k.name == name) else {
                let names: Vec<&str> = known.iter().map(|k| k.name.as_str()).collect();
                return Err(Error::invalid(
                    format!("keyword '{name}'"),
                    format!("not a training setting; expected one of: {}", names.join(", ")),
                ));
            };
            let mut one = Map::new();
            one.insert(keyword.key.clone(), value);
            let json = match &keyword.table {
                Some(table) => Value::Object(Map::from_iter([(table.clone(), Value::Object(one))])),
                None => Value::Object(one),
            };
            // One keyword at a time, so a rejected value names its keyword.
            let source: Settings =
                serde_json::from_value(json).map_err(|e| Error::invalid(format!("keyword '{name}'"), e.to_string()))?;
            sources.push(source);
        }
        Ok(Settings::overlay(sources))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{BaseFamily, Components, CouplingFamily, Positive};

    fn keywords(json: Value) -> Result<Settings> {
        let Value::Object(map) = json else { panic!("an object") };
        Settings::from_keywords(map)
    }

    #[test]
    fn every_key_has_one_keyword_named_like_its_flag() {
        let all = Settings::keywords();
        let names: Vec<&str> = all.iter().map(|k| k.name.as_str()).collect();
        for expected in ["seed", "base", "components", "flow", "layers", "steps", "obs_per_step", "reverse_kl"] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "keywords must not collide: {names:?}");
        let base = all.iter().find(|k| k.name == "base").expect("listed");
        assert_eq!(base.path(), "base.kind");
        assert_eq!(all.iter().find(|k| k.name == "seed").expect("listed").path(), "seed");
    }

    #[test]
    fn keywords_land_in_their_tables() {
        let s = keywords(serde_json::json!({
            "seed": 4, "base": "cgmm", "components": "auto", "flow": "affine", "layers": 3, "steps": 20,
            "layout": "top-weights", "lr": null
        }))
        .expect("valid");
        assert_eq!(s.seed, Some(4));
        assert_eq!((s.base.kind, s.base.components), (Some(BaseFamily::Cgmm), Some(Components::Auto)));
        assert_eq!((s.flow.kind, s.flow.layers), (Some(CouplingFamily::Affine), Some(Positive::new(3).expect("ok"))));
        assert_eq!(s.train.steps.map(Positive::get), Some(20));
        assert_eq!(s.train.lr, None);
        // Every keyword the flags know reaches the same key as its flag.
        let every: Map<String, Value> = Settings::keywords().into_iter().map(|k| (k.name, Value::Null)).collect();
        assert_eq!(Settings::from_keywords(every).expect("nulls are unset"), Settings::default());
    }

    #[test]
    fn unknown_keywords_and_bad_values_name_the_keyword() {
        let e = keywords(serde_json::json!({ "stepz": 3 })).expect_err("unknown").to_string();
        assert!(e.starts_with("invalid keyword 'stepz': not a training setting; expected one of: seed,"), "{e}");
        let e = keywords(serde_json::json!({ "steps": 0 })).expect_err("zero").to_string();
        assert!(e.contains("keyword 'steps'") && e.contains("at least 1"), "{e}");
        let e = keywords(serde_json::json!({ "base": "flat" })).expect_err("unknown base").to_string();
        assert!(e.contains("keyword 'base'") && e.contains("`gaussian`, `gmm`, `cgmm`"), "{e}");
        // `kind` is spelled `base`/`flow`, never `kind`.
        assert!(keywords(serde_json::json!({ "kind": "gmm" })).is_err());
    }
}
