//! The content of one entry version — a prompt or a resource, shaped like MCP's — as stored
//! (JSON), exchanged (bundles, admin API) and served (protobuf).

mod message;

use std::collections::BTreeMap;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use mcp_config_proto::v1;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{InvalidInput, Kind},
    render,
};

pub use message::{EmbeddedResource, Media, MessageContent, PromptMessage, ResourceLink};

/// Largest text, blob or template accepted in one entry; a prompt's templates together are
/// held to it too.
pub const MAX_CONTENT_BYTES: usize = 1024 * 1024;
/// Largest entry as stored (JSON, base64 included), all its parts together.
pub const MAX_ENTRY_BYTES: usize = 2 * MAX_CONTENT_BYTES;
/// Most messages one prompt may hold (MCP prompts hold a handful).
pub const MAX_MESSAGES: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptArgument {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    /// Values offered to a client completing this argument (MCP `completion/complete`);
    /// suggestions, not a limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// An icon a client may show for a prompt or resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Icon {
    /// An `https:` or `data:` URI (a client fetches or decodes it; nothing else is safe to).
    pub src: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mime_type: String,
    /// `48x48`, `any`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
}

impl Icon {
    fn to_proto(&self) -> v1::Icon {
        v1::Icon {
            src: self.src.clone(),
            mime_type: self.mime_type.clone(),
            sizes: self.sizes.clone(),
        }
    }
}

/// Most icons one entry may have.
pub const MAX_ICONS: usize = 16;

fn validate_icons(icons: &[Icon]) -> Result<(), InvalidInput> {
    if icons.len() > MAX_ICONS {
        return Err(InvalidInput::new(
            "icons",
            format!("at most {MAX_ICONS} icons"),
        ));
    }
    for (i, icon) in icons.iter().enumerate() {
        if !(icon.src.starts_with("https://") || icon.src.starts_with("data:")) {
            return Err(InvalidInput::new(
                format!("icons[{i}].src"),
                "must be an https: or data: URI",
            ));
        }
    }
    Ok(())
}

/// Most choices one argument may offer (MCP sends at most 100 completions at once).
pub const MAX_CHOICES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    /// A role as protobuf spells it; anything but `assistant` is the user.
    pub(super) fn parse(name: &str) -> Self {
        if name == "assistant" {
            Role::Assistant
        } else {
            Role::User
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// A prompt without its name (the name is the entry's key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptContent {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<PromptArgument>,
    pub messages: Vec<PromptMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub icons: Vec<Icon>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Annotations {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audience: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_modified: String,
}

impl Annotations {
    pub(super) fn to_proto(&self) -> v1::Annotations {
        v1::Annotations {
            audience: self
                .audience
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            priority: self.priority,
            last_modified: self.last_modified.clone(),
        }
    }

    pub(super) fn from_proto(annotations: v1::Annotations) -> Self {
        Self {
            audience: annotations
                .audience
                .iter()
                .map(|r| Role::parse(r))
                .collect(),
            priority: annotations.priority,
            last_modified: annotations.last_modified,
        }
    }
}

/// A resource without its URI (the URI is the entry's key). In JSON its contents are one of
/// `text` and `blob` (base64); parsed, they are a [`ResourceBody`], so no code checks at run
/// time which of two options is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ResourceJson", into = "ResourceJson")]
pub struct ResourceContent {
    pub name: String,
    pub title: String,
    pub description: String,
    pub mime_type: String,
    pub body: ResourceBody,
    pub annotations: Option<Annotations>,
    pub icons: Vec<Icon>,
    /// A resource template's completion values, by URI variable.
    pub choices: BTreeMap<String, Vec<String>>,
}

/// What a resource holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceBody {
    Text(String),
    Blob(Vec<u8>),
}

/// A resource as JSON has it (stored, exchanged in bundles and the admin API).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResourceContent)]
struct ResourceJson {
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    mime_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    icons: Vec<Icon>,
    /// A resource template's completion values, by URI variable.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    choices: BTreeMap<String, Vec<String>>,
}

/// The OpenAPI schema of a resource is its JSON form's.
impl utoipa::PartialSchema for ResourceContent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ResourceJson::schema()
    }
}

impl ToSchema for ResourceContent {
    fn name() -> std::borrow::Cow<'static, str> {
        ResourceJson::name()
    }
}

impl TryFrom<ResourceJson> for ResourceContent {
    type Error = String;

    fn try_from(json: ResourceJson) -> Result<Self, String> {
        let body = body_from_json(json.text, json.blob)?
            .ok_or("text: exactly one of text and blob must be set")?;
        Ok(Self {
            name: json.name,
            title: json.title,
            description: json.description,
            mime_type: json.mime_type,
            body,
            annotations: json.annotations,
            icons: json.icons,
            choices: json.choices,
        })
    }
}

impl From<ResourceContent> for ResourceJson {
    fn from(resource: ResourceContent) -> Self {
        let (text, blob) = body_to_json(Some(resource.body));
        Self {
            name: resource.name,
            title: resource.title,
            description: resource.description,
            mime_type: resource.mime_type,
            text,
            blob,
            annotations: resource.annotations,
            icons: resource.icons,
            choices: resource.choices,
        }
    }
}

/// A body from JSON's `text` and `blob` (base64): one of them, or neither (`None`).
fn body_from_json(
    text: Option<String>,
    blob: Option<String>,
) -> Result<Option<ResourceBody>, String> {
    match (text, blob) {
        (Some(text), None) => Ok(Some(ResourceBody::Text(text))),
        (None, Some(blob)) => BASE64
            .decode(&blob)
            .map(|bytes| Some(ResourceBody::Blob(bytes)))
            .map_err(|e| format!("blob: not base64: {e}")),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err("text: text and blob are both set".to_owned()),
    }
}

/// JSON's `text` and `blob` (base64) of a body.
fn body_to_json(body: Option<ResourceBody>) -> (Option<String>, Option<String>) {
    match body {
        Some(ResourceBody::Text(text)) => (Some(text), None),
        Some(ResourceBody::Blob(bytes)) => (None, Some(BASE64.encode(bytes))),
        None => (None, None),
    }
}

/// The content of one version of an entry, of either kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Content {
    Prompt(PromptContent),
    Resource(ResourceContent),
}

impl Content {
    /// Parses and validates content of `kind` from JSON (the stored form and the API's).
    pub fn from_json(kind: Kind, json: serde_json::Value) -> Result<Self, InvalidInput> {
        // The error names the part it is in (`messages[1]`), the whole content when at the top.
        let located = |e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            let field = if path == "." {
                "content".to_owned()
            } else {
                path
            };
            InvalidInput::new(field, e.into_inner().to_string())
        };
        let content = match kind {
            Kind::Prompts => serde_path_to_error::deserialize(json).map(Content::Prompt),
            Kind::Resources => serde_path_to_error::deserialize(json).map(Content::Resource),
        }
        .map_err(located)?;
        content.validate()?;
        Ok(content)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Content::Prompt(_) => Kind::Prompts,
            Content::Resource(_) => Kind::Resources,
        }
    }

    /// Checks what serde cannot: templates compile, arguments are unique, sizes are bounded,
    /// a resource has exactly one of text and blob. What rendering a prompt costs is checked
    /// once per save by the write path ([`crate::edits::Editor`]), in a render worker.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        match self {
            Content::Prompt(prompt) => validate_prompt(prompt)?,
            Content::Resource(resource) => validate_resource(resource)?,
        }
        // Every part counted (icons, choices, links, titles): an entry is served in every list.
        let stored = self.to_json().len();
        if stored > MAX_ENTRY_BYTES {
            return Err(InvalidInput::new(
                "content",
                format!("{stored} bytes as stored, more than {MAX_ENTRY_BYTES}"),
            ));
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("content serializes to JSON")
    }
}

/// MCP's priority is between 0 (least) and 1 (most important).
fn validate_annotations(
    field: &str,
    annotations: Option<&Annotations>,
) -> Result<(), InvalidInput> {
    match annotations.and_then(|a| a.priority) {
        Some(priority) if !(0.0..=1.0).contains(&priority) => Err(InvalidInput::new(
            format!("{field}.priority"),
            "must be between 0 and 1",
        )),
        _ => Ok(()),
    }
}

fn validate_prompt(prompt: &PromptContent) -> Result<(), InvalidInput> {
    validate_icons(&prompt.icons)?;
    for (i, message) in prompt.messages.iter().enumerate() {
        validate_annotations(
            &format!("messages[{i}].annotations"),
            message.annotations.as_ref(),
        )?;
    }
    if prompt.messages.is_empty() {
        return Err(InvalidInput::new(
            "messages",
            "a prompt needs at least one message",
        ));
    }
    if prompt.messages.len() > MAX_MESSAGES {
        return Err(InvalidInput::new(
            "messages",
            format!("at most {MAX_MESSAGES} messages per prompt"),
        ));
    }
    let content_bytes: usize = prompt.messages.iter().map(|m| m.content.byte_len()).sum();
    if content_bytes > MAX_CONTENT_BYTES {
        return Err(InvalidInput::new(
            "messages",
            format!("the messages together are longer than {MAX_CONTENT_BYTES} bytes"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, argument) in prompt.arguments.iter().enumerate() {
        let field = format!("arguments[{i}].name");
        if !crate::domain::is_identifier(&argument.name) {
            return Err(InvalidInput::new(
                field,
                format!("{:?} is not an identifier", argument.name),
            ));
        }
        if !seen.insert(argument.name.as_str()) {
            return Err(InvalidInput::new(
                field,
                format!("{:?} is declared twice", argument.name),
            ));
        }
        if argument.choices.len() > MAX_CHOICES {
            return Err(InvalidInput::new(
                format!("arguments[{i}].choices"),
                format!("at most {MAX_CHOICES} choices per argument"),
            ));
        }
    }
    for (i, message) in prompt.messages.iter().enumerate() {
        if let MessageContent::ResourceLink(link) = &message.content
            && link.name.is_empty()
        {
            return Err(InvalidInput::new(
                format!("messages[{i}].resource_link.name"),
                "must not be empty",
            ));
        }
        if let MessageContent::Image(media) | MessageContent::Audio(media) = &message.content
            && media.mime_type.is_empty()
        {
            let kind = if matches!(message.content, MessageContent::Image(_)) {
                "image"
            } else {
                "audio"
            };
            return Err(InvalidInput::new(
                format!("messages[{i}].{kind}.mime_type"),
                "must not be empty",
            ));
        }
        for (field, template) in message.content.templates() {
            let field = format!("messages[{i}].{field}");
            if template.len() > MAX_CONTENT_BYTES {
                return Err(InvalidInput::new(
                    field,
                    format!("longer than {MAX_CONTENT_BYTES} bytes"),
                ));
            }
            render::check_template(template)
                .map_err(|e| InvalidInput::new(field.clone(), e.to_string()))?;
            // A URI no argument changes is checked now, not at every render.
            let fixed = !["{{", "{%"].iter().any(|d| template.contains(d));
            if field.ends_with(".uri") && fixed {
                crate::domain::EntryKey::parse(Kind::Resources, template)
                    .map_err(|e| InvalidInput::new(field, e.message))?;
            }
        }
    }
    Ok(())
}

fn validate_resource(resource: &ResourceContent) -> Result<(), InvalidInput> {
    validate_icons(&resource.icons)?;
    validate_annotations("annotations", resource.annotations.as_ref())?;
    for (variable, values) in &resource.choices {
        if values.len() > MAX_CHOICES {
            return Err(InvalidInput::new(
                format!("choices.{variable}"),
                format!("at most {MAX_CHOICES} choices per variable"),
            ));
        }
    }
    if resource.name.is_empty() {
        return Err(InvalidInput::new("name", "must not be empty"));
    }
    let (field, bytes) = match &resource.body {
        ResourceBody::Text(text) => ("text", text.len()),
        ResourceBody::Blob(blob) => ("blob", blob.len()),
    };
    if bytes > MAX_CONTENT_BYTES {
        return Err(InvalidInput::new(
            field,
            format!("longer than {MAX_CONTENT_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl PromptContent {
    pub fn to_proto(&self, name: &str) -> v1::Prompt {
        v1::Prompt {
            name: name.to_owned(),
            title: self.title.clone(),
            description: self.description.clone(),
            arguments: self
                .arguments
                .iter()
                .map(|a| v1::PromptArgument {
                    name: a.name.clone(),
                    description: a.description.clone(),
                    required: a.required,
                    choices: a.choices.clone(),
                })
                .collect(),
            messages: self.messages.iter().map(PromptMessage::to_proto).collect(),
            icons: self.icons.iter().map(Icon::to_proto).collect(),
        }
    }

    /// Every Jinja template of the prompt's messages, in order.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        self.messages
            .iter()
            .flat_map(|m| m.content.templates().into_iter().map(|(_, t)| t))
    }
}

impl ResourceContent {
    pub fn to_proto(&self, uri: &str) -> v1::Resource {
        use v1::resource::Contents;
        let (contents, size) = match &self.body {
            ResourceBody::Text(text) => (Contents::Text(text.clone()), text.len()),
            ResourceBody::Blob(bytes) => (Contents::Blob(bytes.clone()), bytes.len()),
        };
        v1::Resource {
            uri: uri.to_owned(),
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            mime_type: self.mime_type.clone(),
            size: size as u64,
            contents: Some(contents),
            annotations: self.annotations.as_ref().map(Annotations::to_proto),
            is_template: crate::domain::UriPattern::cached(uri).is_some(),
            icons: self.icons.iter().map(Icon::to_proto).collect(),
            choices: self
                .choices
                .iter()
                .map(|(variable, values)| {
                    let values = values.clone();
                    (variable.clone(), v1::Choices { values })
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_syntax_error_names_the_message() {
        let err = Content::from_json(
            Kind::Prompts,
            json!({"messages": [{"role": "user", "text": "ok"}, {"role": "user", "text": "{{ oops"}]}),
        )
        .unwrap_err();
        assert_eq!(err.field, "messages[1].text");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = Content::from_json(
            Kind::Prompts,
            json!({"messages": [{"role": "user", "text": "x"}], "colour": "red"}),
        )
        .unwrap_err();
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn a_resource_needs_exactly_one_of_text_and_blob() {
        let both = json!({"name": "r", "text": "a", "blob": "YQ=="});
        assert!(Content::from_json(Kind::Resources, both).is_err());
        let neither = json!({"name": "r"});
        assert!(Content::from_json(Kind::Resources, neither).is_err());
        let blob =
            Content::from_json(Kind::Resources, json!({"name": "r", "blob": "YWJj"})).unwrap();
        let Content::Resource(resource) = blob else {
            panic!("not a resource")
        };
        assert_eq!(resource.to_proto("file:///r").size, 3);
    }

    #[test]
    fn icons_must_be_https_or_data_and_carry_over() {
        let icon = |src: &str| json!({"name": "r", "text": "x", "icons": [{"src": src, "sizes": ["48x48"]}]});
        let err = Content::from_json(Kind::Resources, icon("javascript:alert(1)")).unwrap_err();
        assert_eq!(err.field, "icons[0].src");
        let Content::Resource(resource) =
            Content::from_json(Kind::Resources, icon("https://example.com/a.png")).unwrap()
        else {
            panic!("not a resource")
        };
        assert_eq!(resource.to_proto("file:///r").icons[0].sizes, ["48x48"]);
    }

    #[test]
    fn every_part_counts_toward_the_entry_bound_and_priority_is_between_0_and_1() {
        let big_icon = format!("data:,{}", "x".repeat(MAX_ENTRY_BYTES));
        let err = Content::from_json(
            Kind::Resources,
            json!({"name": "r", "text": "x", "icons": [{"src": big_icon}]}),
        )
        .unwrap_err();
        assert_eq!(err.field, "content");
        let err = Content::from_json(
            Kind::Prompts,
            json!({"messages": [{"role": "user", "text": "x", "annotations": {"priority": 2.0}}]}),
        )
        .unwrap_err();
        assert_eq!(err.field, "messages[0].annotations.priority");
    }

    #[test]
    fn duplicate_arguments_are_rejected() {
        let err = Content::from_json(
            Kind::Prompts,
            json!({"arguments": [{"name": "a"}, {"name": "a"}], "messages": [{"role": "user", "text": "x"}]}),
        )
        .unwrap_err();
        assert_eq!(err.field, "arguments[1].name");
    }
}
