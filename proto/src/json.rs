//! The proto3 JSON form of `InvalidationEvent`, as published on the Redis channel for
//! subscribers in any language: 64-bit integers as strings, camelCase names, the enum by name.
//!
//! `{"revision":"57","previousRevision":"56","orgId":"acme","server":"github","kind":"PROMPTS","keys":["review-pr"],"labels":["latest","production"]}`

use serde::{Deserialize, Serialize};

use crate::v1::{InvalidationEvent, Kind};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventJson {
    #[serde(with = "as_string")]
    revision: u64,
    #[serde(with = "as_string", default)]
    previous_revision: u64,
    #[serde(default)]
    org_id: String,
    // proto3 JSON may leave out a field at its default: a progress event's empty server and
    // unspecified kind.
    #[serde(default)]
    server: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    keys: Vec<String>,
    /// Left out when empty (every label), as proto3 JSON leaves out an empty repeated field,
    /// so events that touch every label read as they did before labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    labels: Vec<String>,
    /// Left out when empty (every org), likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    orgs: Vec<String>,
}

/// proto3 JSON writes 64-bit integers as strings and accepts numbers too.
mod as_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Number {
            Text(String),
            Int(u64),
        }
        match Number::deserialize(deserializer)? {
            Number::Text(text) => text.parse().map_err(D::Error::custom),
            Number::Int(n) => Ok(n),
        }
    }
}

impl InvalidationEvent {
    pub fn to_json(&self) -> String {
        let kind = Kind::try_from(self.kind).unwrap_or(Kind::Unspecified);
        serde_json::to_string(&EventJson {
            revision: self.revision,
            previous_revision: self.previous_revision,
            org_id: self.org_id.clone(),
            server: self.server.clone(),
            kind: kind.as_str_name().to_owned(),
            keys: self.keys.clone(),
            labels: self.labels.clone(),
            orgs: self.orgs.clone(),
        })
        .expect("an event serializes")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let parsed: EventJson = serde_json::from_str(json)?;
        Ok(Self {
            revision: parsed.revision,
            previous_revision: parsed.previous_revision,
            org_id: parsed.org_id,
            server: parsed.server,
            kind: Kind::from_str_name(&parsed.kind).unwrap_or(Kind::Unspecified) as i32,
            keys: parsed.keys,
            labels: parsed.labels,
            orgs: parsed.orgs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_is_the_designs() {
        let event = InvalidationEvent {
            revision: 57,
            previous_revision: 56,
            org_id: "acme".into(),
            server: "github".into(),
            kind: Kind::Prompts as i32,
            keys: vec!["review-pr".into()],
            labels: vec![],
            orgs: vec![],
        };
        let json = event.to_json();
        assert_eq!(
            json,
            r#"{"revision":"57","previousRevision":"56","orgId":"acme","server":"github","kind":"PROMPTS","keys":["review-pr"]}"#
        );
        let staged = InvalidationEvent {
            labels: vec!["latest".into()],
            ..event.clone()
        };
        assert!(
            staged
                .to_json()
                .ends_with(r#""keys":["review-pr"],"labels":["latest"]}"#)
        );
        assert_eq!(
            InvalidationEvent::from_json(&staged.to_json()).unwrap(),
            staged
        );
        assert_eq!(InvalidationEvent::from_json(&json).unwrap(), event);
        let numeric = r#"{"revision":3,"server":"s","kind":"RESOURCES"}"#;
        assert_eq!(InvalidationEvent::from_json(numeric).unwrap().revision, 3);
        let progress = r#"{"revision":"7","previousRevision":"7"}"#;
        assert_eq!(
            InvalidationEvent::from_json(progress).unwrap(),
            InvalidationEvent {
                revision: 7,
                previous_revision: 7,
                ..Default::default()
            }
        );
    }
}
