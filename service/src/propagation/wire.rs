//! The one place an [`Event`] becomes the proto `InvalidationEvent` and back: the Watch stream
//! sends it as proto, the Redis channel as its proto3 JSON (`InvalidationEvent::to_json`, read
//! by subscribers in every language). Nothing inside the process handles the proto form.

use mcp_config_proto::v1::{self, InvalidationEvent};

use crate::domain::{InvalidInput, Kind, Labels, Scope, Slug};

use super::event::{ChangeEvent, Event};

/// The proto form. A progress event has no kind and no server, and its `previous_revision` is
/// its `revision`: what every client's progress rule recognises.
pub fn to_proto(event: &Event) -> InvalidationEvent {
    match event {
        Event::Change(change) => InvalidationEvent {
            revision: change.revision,
            previous_revision: change.previous_revision,
            org_id: change.scope.as_str().to_owned(),
            server: change.server.to_string(),
            kind: match change.kind {
                Kind::Prompts => v1::Kind::Prompts,
                Kind::Resources => v1::Kind::Resources,
            } as i32,
            keys: change.keys.clone(),
            labels: change
                .labels
                .as_slice()
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
            orgs: change.orgs.iter().map(ToString::to_string).collect(),
        },
        Event::Progress(revision) => InvalidationEvent {
            revision: *revision,
            previous_revision: *revision,
            ..Default::default()
        },
    }
}

/// Reads the proto form; an event this process cannot place (an unknown kind, a malformed org
/// or server) is an error, which a reader takes as a message lost.
pub fn from_proto(event: InvalidationEvent) -> Result<Event, InvalidInput> {
    let kind = match v1::Kind::try_from(event.kind) {
        Ok(v1::Kind::Prompts) => Kind::Prompts,
        Ok(v1::Kind::Resources) => Kind::Resources,
        _ if event.server.is_empty() && event.revision == event.previous_revision => {
            return Ok(Event::Progress(event.revision));
        }
        _ => {
            return Err(InvalidInput::new(
                "kind",
                format!("unknown kind {}", event.kind),
            ));
        }
    };
    Ok(Event::Change(ChangeEvent {
        revision: event.revision,
        previous_revision: event.previous_revision,
        scope: Scope::parse_optional("org_id", &event.org_id)?,
        server: Slug::parse("server", &event.server)?,
        kind,
        keys: event.keys,
        labels: Labels::from_names("labels", event.labels.iter().map(String::as_str))?,
        orgs: event
            .orgs
            .iter()
            .enumerate()
            .map(|(i, org)| Slug::parse(&format!("orgs[{i}]"), org))
            .collect::<Result<_, _>>()?,
    }))
}

/// The Redis channel's message for `event`.
pub fn to_json(event: &Event) -> String {
    to_proto(event).to_json()
}

/// An event read from the Redis channel.
pub fn from_json(text: &str) -> Result<Event, InvalidInput> {
    let proto = InvalidationEvent::from_json(text)
        .map_err(|e| InvalidInput::new("message", e.to_string()))?;
    from_proto(proto)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Label;

    fn change() -> Event {
        Event::Change(ChangeEvent {
            revision: 57,
            previous_revision: 56,
            scope: Scope::Org(Slug::parse("org", "acme").unwrap()),
            server: Slug::parse("server", "github").unwrap(),
            kind: Kind::Prompts,
            keys: vec!["review-pr".into()],
            labels: Labels::Only(vec![Label::Latest, Label::Production]),
            orgs: Vec::new(),
        })
    }

    #[test]
    fn events_cross_the_wire_unchanged() {
        for event in [change(), Event::Progress(12), Event::Progress(0)] {
            assert_eq!(from_json(&to_json(&event)).unwrap(), event);
            assert_eq!(from_proto(to_proto(&event)).unwrap(), event);
        }
        assert_eq!(
            to_json(&change()),
            r#"{"revision":"57","previousRevision":"56","orgId":"acme","server":"github","kind":"PROMPTS","keys":["review-pr"],"labels":["latest","production"]}"#
        );
    }

    #[test]
    fn an_event_that_cannot_be_placed_is_an_error_not_a_guess() {
        let unknown_kind = r#"{"revision":"5","previousRevision":"4","server":"github","kind":"KIND_OF_THE_FUTURE"}"#;
        assert_eq!(from_json(unknown_kind).unwrap_err().field, "kind");
        let bad_server =
            r#"{"revision":"5","previousRevision":"4","server":"Not A Slug","kind":"PROMPTS"}"#;
        assert_eq!(from_json(bad_server).unwrap_err().field, "server");
        assert_eq!(from_json("not json").unwrap_err().field, "message");
    }
}
