//! An entry being edited: the edit form's fields, the raw YAML/JSON of the same content, and
//! the steps that add, remove or move a row without JavaScript. A draft becomes content only
//! through [`Content::from_json`], the check every save goes through.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::Fields;
use crate::{
    bundle::{check_yaml_shape, yaml_options, yaml_output},
    content::{Content, PromptContent, ResourceContent},
    domain::{InvalidInput, Kind},
    render,
};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(super) struct Argument {
    pub name: String,
    pub description: String,
    pub required: bool,
    /// The argument's completion choices, comma-separated.
    pub choices: String,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(super) struct Message {
    pub role: String,
    pub text: String,
}

/// Which of the edit form's tabs holds the content.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(super) enum Tab {
    #[default]
    Fields,
    Raw,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(super) struct Draft {
    pub key: String,
    /// The version the edit started from (0: the entry does not exist in this scope yet).
    pub expected_version: u64,
    pub tab: Tab,
    pub title: String,
    pub description: String,
    pub arguments: Vec<Argument>,
    pub messages: Vec<Message>,
    pub name: String,
    pub mime_type: String,
    pub text: String,
    /// A resource's binary content, base64 (kept from the stored version or an upload).
    pub blob: String,
    /// A resource's annotations as JSON, carried through unchanged (edited in the raw tab).
    pub annotations: String,
    pub raw: String,
}

impl Draft {
    /// A draft of stored content (`Null` for a new entry: one empty message to start from).
    pub fn of(key: &str, expected_version: u64, content: &Value) -> Self {
        let text = |name: &str| {
            content
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let list = |name: &str| {
            content
                .get(name)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut draft = Draft {
            key: key.to_owned(),
            expected_version,
            title: text("title"),
            description: text("description"),
            arguments: list("arguments")
                .iter()
                .map(|a| Argument {
                    name: a["name"].as_str().unwrap_or("").to_owned(),
                    description: a["description"].as_str().unwrap_or("").to_owned(),
                    required: a["required"].as_bool().unwrap_or(false),
                    choices: a["choices"]
                        .as_array()
                        .map(|c| {
                            c.iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            messages: list("messages")
                .iter()
                .map(|m| Message {
                    role: m["role"].as_str().unwrap_or("user").to_owned(),
                    text: m["text"].as_str().unwrap_or("").to_owned(),
                })
                .collect(),
            name: text("name"),
            mime_type: text("mime_type"),
            text: text("text"),
            blob: text("blob"),
            annotations: content
                .get("annotations")
                .map(Value::to_string)
                .unwrap_or_default(),
            ..Draft::default()
        };
        if content.is_null() {
            draft.messages.push(Message {
                role: "user".into(),
                text: String::new(),
            });
        }
        draft.raw = yaml(content);
        if !draft.holds(content) {
            draft.tab = Tab::Raw;
        }
        draft
    }

    /// Whether the fields hold all of `content`: made content again, they are the same content.
    /// Content that is no valid content of either kind is the fields' to show as they can.
    fn holds(&self, content: &Value) -> bool {
        if content.is_null() {
            return true;
        }
        let kind = if content.get("messages").is_some() {
            Kind::Prompts
        } else {
            Kind::Resources
        };
        match Content::from_json(kind, content.clone()) {
            Ok(stored) => {
                Content::from_json(kind, self.fields_json(kind)).is_ok_and(|f| f == stored)
            }
            Err(_) => true,
        }
    }

    /// The draft a submitted edit form holds, with the row step it asked for (`op`) applied.
    pub fn submitted(kind: Kind, fields: &Fields) -> Result<Self, InvalidInput> {
        let required: Vec<&str> = fields.all("argument_required").collect();
        let choices: Vec<&str> = fields.all("argument_choices").collect();
        let mut draft = Draft {
            key: fields.get("key").trim().to_owned(),
            expected_version: fields.number("expected_version")?.unwrap_or(0),
            tab: if fields.get("tab") == "raw" {
                Tab::Raw
            } else {
                Tab::Fields
            },
            title: fields.get("title").to_owned(),
            description: fields.get("description").to_owned(),
            arguments: fields
                .all("argument_name")
                .zip(fields.all("argument_description"))
                .enumerate()
                .map(|(i, (name, description))| Argument {
                    name: name.trim().to_owned(),
                    description: description.to_owned(),
                    required: required.get(i) == Some(&"yes"),
                    choices: choices.get(i).copied().unwrap_or("").to_owned(),
                })
                .collect(),
            messages: fields
                .all("message_role")
                .zip(fields.all("message_text"))
                .map(|(role, text)| Message {
                    role: role.to_owned(),
                    text: text.to_owned(),
                })
                .collect(),
            name: fields.get("name").to_owned(),
            mime_type: fields.get("mime_type").to_owned(),
            text: fields.get("text").to_owned(),
            blob: fields.get("blob").to_owned(),
            annotations: fields.get("annotations").to_owned(),
            raw: fields.get("raw").to_owned(),
        };
        if let Some(upload) = fields.file("upload") {
            draft.blob = BASE64.encode(upload);
            draft.text.clear();
        }
        draft.apply(kind, fields.get("op"))?;
        Ok(draft)
    }

    /// Applies one step of the form: a row added, removed or moved up, or a switch of tab
    /// (which carries the content across).
    fn apply(&mut self, kind: Kind, op: &str) -> Result<(), InvalidInput> {
        let (verb, index) = match op.rsplit_once('-') {
            Some((verb, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                (verb, n.parse::<usize>().ok())
            }
            _ => (op, None),
        };
        match (verb, index) {
            ("add-argument", None) => self.arguments.push(Argument::default()),
            ("add-message", None) => self.messages.push(Message {
                role: "user".into(),
                text: String::new(),
            }),
            ("remove-argument", Some(i)) if i < self.arguments.len() => {
                self.arguments.remove(i);
            }
            ("remove-message", Some(i)) if i < self.messages.len() => {
                self.messages.remove(i);
            }
            ("up-argument", Some(i)) if i > 0 && i < self.arguments.len() => {
                self.arguments.swap(i - 1, i)
            }
            ("up-message", Some(i)) if i > 0 && i < self.messages.len() => {
                self.messages.swap(i - 1, i)
            }
            ("tab-raw", None) => {
                self.raw = yaml(&self.fields_json(kind));
                self.tab = Tab::Raw;
            }
            ("tab-fields", None) => {
                let value = parse_raw(&self.raw)?;
                let next = Draft::of(&self.key, self.expected_version, &value);
                if next.tab == Tab::Raw {
                    let part = fields_cannot_hold(&value).unwrap_or_else(|| {
                        "part of it (icons, annotations, a template's choices) has no field".into()
                    });
                    return Err(InvalidInput::new(
                        "raw",
                        format!("{part}: the fields tab cannot hold it; edit it here"),
                    ));
                }
                *self = next;
            }
            _ => {}
        }
        Ok(())
    }

    /// The content the draft holds, checked as a save checks it.
    pub fn content(&self, kind: Kind) -> Result<Content, InvalidInput> {
        let value = match self.tab {
            Tab::Raw => parse_raw(&self.raw).map_err(|e| e.within("raw"))?,
            Tab::Fields => self.fields_json(kind),
        };
        Content::from_json(kind, value)
    }

    /// What the live check says about the draft's templates (prompts only).
    pub fn findings(&self, kind: Kind) -> Result<Vec<render::Finding>, InvalidInput> {
        if kind != Kind::Prompts {
            return Ok(Vec::new());
        }
        let (templates, declared): (Vec<String>, Vec<String>) = match self.tab {
            Tab::Fields => (
                self.messages.iter().map(|m| m.text.clone()).collect(),
                self.arguments.iter().map(|a| a.name.clone()).collect(),
            ),
            Tab::Raw => {
                let value = parse_raw(&self.raw).map_err(|e| e.within("raw"))?;
                match serde_json::from_value::<PromptContent>(value.clone()) {
                    Ok(prompt) => (
                        prompt.templates().map(str::to_owned).collect(),
                        prompt.arguments.into_iter().map(|a| a.name).collect(),
                    ),
                    // Not a prompt yet: what the fields tab would see of it.
                    Err(_) => {
                        let other = Draft::of("", 0, &value);
                        (
                            other.messages.into_iter().map(|m| m.text).collect(),
                            other.arguments.into_iter().map(|a| a.name).collect(),
                        )
                    }
                }
            }
        };
        let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
        Ok(render::lint(
            templates.iter().map(String::as_str),
            &declared,
        ))
    }

    /// The fields as content JSON (not yet checked).
    fn fields_json(&self, kind: Kind) -> Value {
        let mut object = Map::new();
        let mut put = |name: &str, value: &str| {
            if !value.is_empty() {
                object.insert(name.to_owned(), Value::from(value));
            }
        };
        put("title", &self.title);
        put("description", &self.description);
        match kind {
            Kind::Prompts => {
                let arguments: Vec<Value> = self
                    .arguments
                    .iter()
                    .filter(|a| !a.name.is_empty())
                    .map(|a| {
                        let mut argument = json!({"name": a.name, "description": a.description, "required": a.required});
                        let choices: Vec<&str> = a
                            .choices
                            .split(',')
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .collect();
                        if !choices.is_empty() {
                            argument["choices"] = choices.into();
                        }
                        argument
                    })
                    .collect();
                if !arguments.is_empty() {
                    object.insert("arguments".into(), arguments.into());
                }
                let messages: Vec<Value> = self
                    .messages
                    .iter()
                    .map(|m| json!({"role": m.role, "text": m.text}))
                    .collect();
                object.insert("messages".into(), messages.into());
            }
            Kind::Resources => {
                object.insert("name".into(), self.name.clone().into());
                if !self.mime_type.is_empty() {
                    object.insert("mime_type".into(), self.mime_type.clone().into());
                }
                if !self.blob.is_empty() && self.text.is_empty() {
                    object.insert("blob".into(), self.blob.clone().into());
                } else {
                    object.insert("text".into(), self.text.clone().into());
                }
                if let Ok(annotations) = serde_json::from_str::<Value>(&self.annotations) {
                    object.insert("annotations".into(), annotations);
                }
            }
        }
        Value::Object(object)
    }
}

/// Why the fields tab cannot hold `content`, when the reason is one of the common two: a
/// message other than text, or a choice with a comma in it (the tab separates them by commas).
fn fields_cannot_hold(content: &Value) -> Option<String> {
    let messages = content.get("messages").and_then(Value::as_array);
    if let Some(i) = messages
        .into_iter()
        .flatten()
        .position(|m| m.get("text").is_none())
    {
        return Some(format!("messages[{i}] is not text"));
    }
    let arguments = content.get("arguments").and_then(Value::as_array);
    arguments
        .into_iter()
        .flatten()
        .enumerate()
        .find_map(|(i, a)| {
            let choices = a.get("choices").and_then(Value::as_array)?;
            choices
                .iter()
                .any(|c| c.as_str().is_some_and(|c| c.contains(',')))
                .then(|| format!("arguments[{i}].choices has a comma in a choice"))
        })
}

/// Content as a person reads and edits it: YAML, multi-line text as blocks, fields in the
/// order they are written in (`title`, `description`, `arguments`, `messages`; a message's
/// `role` before its `text`), as a bundle exports them. A JSON value's keys would come out
/// sorted; content that does not read as a prompt or a resource (a draft half typed) does.
pub(super) fn yaml(content: &Value) -> String {
    if content.is_null() {
        return String::new();
    }
    let written = if let Ok(prompt) = PromptContent::deserialize(content) {
        serde_saphyr::to_string_with_options(&prompt, yaml_output())
    } else if let Ok(resource) = ResourceContent::deserialize(content) {
        serde_saphyr::to_string_with_options(&resource, yaml_output())
    } else {
        serde_saphyr::to_string_with_options(content, yaml_output())
    };
    written.unwrap_or_else(|_| content.to_string())
}

/// The raw tab's text: JSON when it starts with `{`, else YAML (checked for aliases and depth
/// first, as a bundle is).
fn parse_raw(raw: &str) -> Result<Value, InvalidInput> {
    if raw.trim_start().starts_with('{') {
        return serde_json::from_str(raw).map_err(|e| InvalidInput::new("content", e.to_string()));
    }
    check_yaml_shape(raw)?;
    serde_saphyr::from_str_with_options(raw, yaml_options())
        .map_err(|e| InvalidInput::new("content", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields::from_pairs(pairs)
    }

    #[test]
    fn yaml_keeps_the_order_fields_are_written_in() {
        let prompt = json!({
            "messages": [{"text": "Review {{ repo }}", "role": "user"}],
            "arguments": [{"required": true, "name": "repo"}],
            "title": "Review",
            "description": "A review",
        });
        assert_eq!(
            yaml(&prompt),
            "title: Review\ndescription: A review\narguments:\n- name: repo\n  required: true\nmessages:\n- role: user\n  text: Review {{ repo }}\n"
        );
        let resource = json!({"text": "hello", "mime_type": "text/plain", "name": "readme"});
        let text = yaml(&resource);
        assert!(text.starts_with("name: readme\n"), "{text}");
        // Not content (yet): the value as it is.
        assert_eq!(yaml(&json!({"b": 1, "a": 2})), "a: 2\nb: 1\n");
    }

    #[test]
    fn rows_are_added_moved_and_removed_without_losing_the_rest() {
        let base = [
            ("key", "review"),
            ("expected_version", "3"),
            ("argument_name", "a"),
            ("argument_description", "first"),
            ("argument_required", "yes"),
            ("argument_name", "b"),
            ("argument_description", ""),
            ("argument_required", "no"),
            ("message_role", "user"),
            ("message_text", "{{ a }} {{ b }}"),
        ];
        let with = |op: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("op", op));
            Draft::submitted(Kind::Prompts, &fields(&pairs)).unwrap()
        };
        let moved = with("up-argument-1");
        assert_eq!(moved.arguments[0].name, "b");
        assert!(moved.arguments[1].required);
        assert_eq!(with("remove-argument-0").arguments.len(), 1);
        assert_eq!(with("add-message").messages.len(), 2);
        assert_eq!(with("").expected_version, 3);

        let raw = with("tab-raw");
        assert_eq!(raw.tab, Tab::Raw);
        assert!(raw.raw.contains("first"), "{}", raw.raw);
        let content = raw.content(Kind::Prompts).unwrap();
        assert_eq!(content, with("").content(Kind::Prompts).unwrap());
    }

    #[test]
    fn a_bad_draft_names_its_field_and_undeclared_variables_are_warned() {
        let draft = Draft::submitted(
            Kind::Prompts,
            &fields(&[("message_role", "user"), ("message_text", "{{ who }}")]),
        )
        .unwrap();
        let findings = draft.findings(Kind::Prompts).unwrap();
        assert!(findings[0].text.contains("\"who\""));
        let broken = Draft::submitted(
            Kind::Prompts,
            &fields(&[("message_role", "user"), ("message_text", "{% if %}")]),
        )
        .unwrap();
        let error = broken.content(Kind::Prompts).unwrap_err();
        assert_eq!(error.field, "messages[0].text");
    }

    #[test]
    fn raw_yaml_with_aliases_is_refused() {
        let draft = Draft {
            tab: Tab::Raw,
            raw: "a: &x [1]\nb: *x\n".into(),
            ..Draft::default()
        };
        assert!(draft.content(Kind::Prompts).is_err());
    }

    #[test]
    fn content_the_fields_cannot_hold_opens_raw_and_everything_else_in_the_fields() {
        let opens = |content: Value| Draft::of("k", 1, &content).tab;
        let text = json!({"arguments": [{"name": "a", "choices": ["x", "y"]}], "messages": [{"role": "user", "text": "{{ a }}"}]});
        assert_eq!(opens(text), Tab::Fields);
        assert_eq!(opens(json!({"name": "r", "text": "x"})), Tab::Fields);
        for lossy in [
            json!({"messages": [{"role": "user", "text": "x"}], "icons": [{"src": "https://a/i.png"}]}),
            json!({"messages": [{"role": "user", "text": "x", "annotations": {"priority": 0.5}}]}),
            json!({"arguments": [{"name": "a", "choices": [" padded"]}], "messages": [{"role": "user", "text": "{{ a }}"}]}),
            json!({"name": "r", "text": "x", "icons": [{"src": "data:,x"}]}),
        ] {
            assert_eq!(opens(lossy.clone()), Tab::Raw, "{lossy}");
        }
    }
}
