//! Bundles: the defaults and orgs, each server's prompts and resources, in one YAML or JSON
//! document, for bulk import and export.
//!
//! ```yaml
//! defaults:
//!   github:                       # server
//!     prompts:
//!       review-pr: { description: …, arguments: […], messages: […] }
//!     resources:
//!       "file:///guides/style.md": { name: …, mime_type: text/markdown, text: … }
//! orgs:
//!   acme:
//!     name: Acme Corp
//!     servers:
//!       github:
//!         prompts: { review-pr: {…} }   # overrides the default of the same name
//!         hidden_prompts: [triage]      # the default disappears for this org
//! upstreams:                        # the gateway's registry (global admins only)
//!   github: { url: "http://github-mcp:3000/mcp", timeout_ms: 30000 }
//! ```
//!
//! Parsing checks everything before anything is written and names the first problem by its
//! path in the document (`orgs.acme.servers.github.prompts.review-pr.messages[0].text`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod export;
pub mod import;
mod plan;

pub use plan::{Desired, MAX_PROBLEMS, Plan};

use crate::{
    content::{PromptContent, ResourceContent},
    domain::{InvalidInput, Upstream},
};

/// Largest bundle accepted, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;
/// Deepest nesting of a YAML bundle (its own shape needs 8 levels). Beyond it YAML parsing
/// costs time quadratic in depth, so a deeper document is refused before it is parsed.
const MAX_YAML_DEPTH: usize = 32;
/// How long reading a bundle (parse and every check) may take.
const READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defaults: BTreeMap<String, ServerEntries>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub orgs: BTreeMap<String, OrgBundle>,
    /// Per server, the upstream `/mcp/{server}` forwards to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, Upstream>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgBundle {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, ServerEntries>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerEntries {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompts: BTreeMap<String, PromptContent>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, ResourceContent>,
    /// Prompts of the defaults this org hides (orgs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_prompts: Vec<String>,
    /// Resources of the defaults this org hides (orgs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Bundle {
    /// Parses a document; a syntax or shape error names its path in the document.
    pub fn parse(text: &str, format: Format) -> Result<Self, InvalidInput> {
        if text.len() > MAX_BUNDLE_BYTES {
            return Err(InvalidInput::new(
                "bundle",
                format!("larger than {MAX_BUNDLE_BYTES} bytes"),
            ));
        }
        let located = |path: String, message: String| {
            InvalidInput::new(
                if path == "." {
                    "bundle".to_owned()
                } else {
                    path
                },
                message,
            )
        };
        match format {
            Format::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut de)
                    .map_err(|e| located(e.path().to_string(), e.inner().to_string()))
            }
            Format::Yaml => {
                check_yaml_shape(text)?;
                let mut path = None;
                serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |de| {
                    serde_path_to_error::deserialize(de).map_err(|e| {
                        path = Some(e.path().to_string());
                        e.into_inner()
                    })
                })
                .map_err(|e| located(path.unwrap_or_else(|| ".".to_owned()), e.to_string()))
            }
        }
    }

    /// Parses and plans a document on the blocking pool, under a deadline: both grow with the
    /// input (every template is compiled and cost-checked), so they stay off the async workers.
    /// Every problem of a document that parses is listed (at most [`MAX_PROBLEMS`]), in the
    /// order of the document; one that does not parse has one.
    pub async fn read(text: String, format: Format) -> Result<(Self, Plan), Vec<InvalidInput>> {
        let work = tokio::task::spawn_blocking(move || {
            let bundle = Self::parse(&text, format).map_err(|e| vec![e])?;
            let plan = bundle.check()?;
            Ok::<_, Vec<InvalidInput>>((bundle, plan))
        });
        match tokio::time::timeout(READ_DEADLINE, work).await {
            Ok(done) => done.expect("reading a bundle does not panic"),
            Err(_) => Err(vec![InvalidInput::new(
                "bundle",
                format!("not read within {READ_DEADLINE:?}; split it into smaller bundles"),
            )]),
        }
    }

    pub fn to_text(&self, format: Format) -> String {
        match format {
            Format::Yaml => serde_saphyr::to_string_with_options(self, yaml_output())
                .expect("a bundle serializes"),
            Format::Json => serde_json::to_string_pretty(self).expect("a bundle serializes"),
        }
    }
}

/// The line of `field` in a YAML `text`; see [`lines_of`].
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    lines_of(text, &[field]).pop().flatten()
}

/// The line (1-based) of each of `fields` (`orgs.acme.servers.github.prompts.review.messages[0].text`,
/// as problems name fields) in a YAML (or JSON) `text`, in one pass over the document: of the
/// deepest node on the field's path the document has (a missing key: its parent's line).
/// `None` for text that does not parse.
pub fn lines_of(text: &str, fields: &[&str]) -> Vec<Option<usize>> {
    use serde_saphyr::granit_parser::{Event, Parser};
    enum Frame {
        /// A mapping at `path`: the key being read, if its value comes next.
        Map {
            path: String,
            key: Option<String>,
        },
        Seq {
            path: String,
            index: usize,
        },
    }
    /// The path of the node that starts now inside `frames`' innermost collection.
    fn here(frames: &[Frame]) -> Option<String> {
        match frames.last()? {
            Frame::Map {
                path,
                key: Some(key),
            } if path.is_empty() => Some(key.clone()),
            Frame::Map {
                path,
                key: Some(key),
            } => Some(format!("{path}.{key}")),
            Frame::Map { key: None, .. } => None,
            Frame::Seq { path, index } => Some(format!("{path}[{index}]")),
        }
    }
    /// A node ended inside `frames`' innermost collection: the next key, or the next item.
    fn advance(frames: &mut [Frame]) {
        match frames.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }
    let on_path = |field: &str, path: &str| {
        field == path
            || field
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    let mut frames: Vec<Frame> = Vec::new();
    let mut best: Vec<Option<(usize, usize)>> = vec![None; fields.len()];
    let mut found = |path: &str, line: usize| {
        for (field, best) in fields.iter().zip(best.iter_mut()) {
            if on_path(field, path) && best.is_none_or(|(len, _)| path.len() > len) {
                *best = Some((path.len(), line));
            }
        }
    };
    for event in Parser::new_from_str(text) {
        let Ok((event, span)) = event else {
            return vec![None; fields.len()];
        };
        let line = span.start.line();
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = here(&frames).unwrap_or_default();
                found(&path, line);
                frames.push(match event {
                    Event::MappingStart(..) => Frame::Map { path, key: None },
                    _ => Frame::Seq { path, index: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                frames.pop();
                advance(&mut frames);
            }
            Event::Scalar(value, ..) => match frames.last_mut() {
                Some(Frame::Map {
                    key: key @ None,
                    path,
                }) => {
                    let path = if path.is_empty() {
                        value.to_string()
                    } else {
                        format!("{path}.{value}")
                    };
                    found(&path, line);
                    *key = Some(value.into_owned());
                }
                _ => {
                    if let Some(path) = here(&frames) {
                        found(&path, line);
                    }
                    advance(&mut frames);
                }
            },
            _ => {}
        }
    }
    best.into_iter().map(|b| b.map(|(_, line)| line)).collect()
}

/// Refuses YAML that is costly to parse or to expand: aliases (one anchor repeated hundreds of
/// times multiplies memory; bundles never need them, and exports never write them) and nesting
/// deeper than [`MAX_YAML_DEPTH`]. One linear pass over the event stream, stopped at the first
/// problem, before the document is parsed for real.
pub(crate) fn check_yaml_shape(text: &str) -> Result<(), InvalidInput> {
    use serde_saphyr::granit_parser::{Event, Parser};
    let mut depth = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| InvalidInput::new("bundle", e.to_string()))?;
        let line = span.start.line();
        match event {
            Event::Alias(_) | Event::UnresolvedAlias(..) => {
                return Err(InvalidInput::new(
                    "bundle",
                    format!("YAML aliases are not accepted (line {line}); repeat the content"),
                ));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(InvalidInput::new(
                        "bundle",
                        format!("nested deeper than {MAX_YAML_DEPTH} levels (line {line})"),
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// How YAML is read: `check_yaml_shape` refuses aliases and deep nesting first, with messages
/// that name the line; the parser's own budget repeats both (no alias, nesting within
/// [`MAX_YAML_DEPTH`]) and bounds nodes and events by the byte cap. YAML 1.2 booleans only
/// (`yes` stays text) and an empty value reads as "" where text is expected, as bundles always
/// read; a key given twice is refused instead of silently keeping the last.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        null_as_string: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_aliases: 0,
            max_depth: MAX_YAML_DEPTH,
            max_nodes: MAX_BUNDLE_BYTES,
            max_events: 2 * MAX_BUNDLE_BYTES,
        },
    }
}

/// How YAML is written: multi-line text as `|` blocks; one long line is never folded.
pub(crate) fn yaml_output() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! { folded_wrap_chars: usize::MAX }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/bundle.yaml");

    #[test]
    fn every_problem_is_listed_and_found_on_its_line() {
        let text = "defaults:\n  github:\n    prompts:\n      good:\n        messages: [{role: user, text: hi}]\n      broken:\n        messages:\n          - role: user\n            text: \"{% if %}\"\n      empty:\n        messages: []\norgs:\n  acme:\n    servers:\n      github:\n        hidden_prompts: [good]\n        prompts:\n          good:\n            messages: [{role: user, text: mine}]\n";
        let problems = Bundle::parse(text, Format::Yaml)
            .unwrap()
            .check()
            .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "defaults.github.prompts.broken.messages[0].text",
                "defaults.github.prompts.empty.messages",
                "orgs.acme.servers.github.hidden_prompts[0]",
            ],
            "{problems:?}"
        );
        let lines: Vec<Option<usize>> = fields.iter().map(|f| line_of(text, f)).collect();
        assert_eq!(lines, [Some(9), Some(11), Some(16)]);
        assert_eq!(line_of(text, "defaults.github.prompts.good"), Some(4));
        assert_eq!(
            line_of(text, "defaults.github.prompts.good.title"),
            Some(4),
            "a missing key: its parent"
        );
        assert_eq!(line_of("a: [", "a"), None, "not YAML");
    }

    #[test]
    fn the_example_bundle_is_valid() {
        let plan = Bundle::parse(EXAMPLE, Format::Yaml)
            .unwrap()
            .plan()
            .unwrap();
        assert!(plan.orgs.len() >= 2);
        assert!(plan.entries.iter().any(|(_, d)| *d == Desired::Hidden));
    }

    /// A required argument the template never uses is a prompt that lost its text (YAML reads
    /// ` #` as a comment, so `… of #{{ channel }}` unquoted ends before the argument).
    #[test]
    fn every_required_argument_of_the_example_prompts_is_used() {
        let plan = Bundle::parse(EXAMPLE, Format::Yaml)
            .unwrap()
            .plan()
            .unwrap();
        let mut checked = 0;
        for (id, desired) in &plan.entries {
            let Desired::Content(content) = desired else {
                continue;
            };
            let crate::content::Content::Prompt(prompt) = content.as_ref() else {
                continue;
            };
            let compiled = crate::render::CompiledPrompt::compile(prompt.templates()).unwrap();
            let used: Vec<&str> = compiled.variables().collect();
            for argument in prompt.arguments.iter().filter(|a| a.required) {
                assert!(
                    used.contains(&argument.name.as_str()),
                    "{} {}: required argument {} is never used",
                    id.scope.as_str(),
                    id.key,
                    argument.name
                );
                checked += 1;
            }
        }
        assert!(checked > 5, "only {checked} required arguments found");
    }

    /// What moving off serde_yaml must not change, and the one thing it does: a key given
    /// twice (a prompt defined twice) is refused, naming where, instead of keeping the last.
    #[test]
    fn yaml_reads_as_bundles_always_read_and_refuses_a_key_given_twice() {
        let text = "defaults:\n  github:\n    prompts:\n      greet:\n        description: yes\n        messages:\n          - role: user\n            text: |\n              Line one\n              Line two\n";
        let bundle = Bundle::parse(text, Format::Yaml).unwrap();
        let exported = bundle.to_text(Format::Yaml);
        assert!(
            [
                "description: yes",
                "description: 'yes'",
                "description: \"yes\""
            ]
            .iter()
            .any(|form| exported.contains(form)),
            "`yes` stays text: {exported}"
        );
        assert!(
            exported.contains("|"),
            "multi-line text is written as a block: {exported}"
        );
        assert_eq!(Bundle::parse(&exported, Format::Yaml).unwrap(), bundle);
        let long_line = "x".repeat(300);
        let json = format!(
            r#"{{"defaults": {{"github": {{"prompts": {{"long": {{"messages": [{{"role": "user", "text": "{long_line}"}}]}}}}}}}}}}"#
        );
        let long = Bundle::parse(&json, Format::Json).unwrap();
        let exported = long.to_text(Format::Yaml);
        assert!(
            exported.contains(&long_line),
            "one long line is never folded: {exported}"
        );
        assert_eq!(Bundle::parse(&exported, Format::Yaml).unwrap(), long);

        let twice = "defaults:\n  github:\n    prompts:\n      greet:\n        messages: []\n      greet:\n        messages: []\n";
        let err = Bundle::parse(twice, Format::Yaml).unwrap_err();
        assert!(err.message.to_lowercase().contains("duplicate"), "{err}");
    }

    #[test]
    fn yaml_and_json_round_trip() {
        let bundle = Bundle::parse(EXAMPLE, Format::Yaml).unwrap();
        for format in [Format::Yaml, Format::Json] {
            assert_eq!(
                Bundle::parse(&bundle.to_text(format), format).unwrap(),
                bundle
            );
        }
    }

    #[test]
    fn yaml_aliases_and_deep_nesting_are_refused_before_parsing() {
        let bomb = "a: &a [x, x, x, x]\nb: [*a, *a, *a]\n";
        let err = Bundle::parse(bomb, Format::Yaml).unwrap_err();
        assert_eq!(err.field, "bundle");
        assert!(err.message.contains("aliases"), "{}", err.message);

        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = Bundle::parse(&deep, Format::Yaml).unwrap_err();
        assert_eq!(err.field, "bundle");
        // The scanner's own limit may stop it first.
        assert!(
            err.message.contains("nested deeper than 32") || err.message.contains("recursion"),
            "{}",
            err.message
        );
        let deep_blocks: String = (0..40)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let err = Bundle::parse(&deep_blocks, Format::Yaml).unwrap_err();
        assert!(
            err.message.contains("nested deeper than 32"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_shape_error_names_its_path() {
        let text = "defaults:\n  github:\n    prompts:\n      review:\n        messages: []\n        colour: red\n";
        let err = Bundle::parse(text, Format::Yaml).unwrap_err();
        assert_eq!(err.field, "defaults.github.prompts.review.colour");
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn a_content_error_names_the_entry_and_field() {
        let text = "orgs:\n  acme:\n    servers:\n      github:\n        prompts:\n          review:\n            messages: [{role: user, text: '{{ oops'}]\n";
        let err = Bundle::parse(text, Format::Yaml)
            .unwrap()
            .plan()
            .unwrap_err();
        assert_eq!(
            err.field,
            "orgs.acme.servers.github.prompts.review.messages[0].text"
        );
    }

    #[test]
    fn bad_slugs_and_keys_are_named() {
        let bad_org = Bundle::parse("orgs:\n  Acme: {}\n", Format::Yaml)
            .unwrap()
            .plan()
            .unwrap_err();
        assert_eq!(bad_org.field, "orgs.Acme");
        let bad_uri = "defaults:\n  docs:\n    resources:\n      not-a-uri: {name: x, text: y}\n";
        let err = Bundle::parse(bad_uri, Format::Yaml)
            .unwrap()
            .plan()
            .unwrap_err();
        assert_eq!(err.field, "defaults.docs.resources.not-a-uri");
    }
}
