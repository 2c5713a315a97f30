//! A prompt message's content, as MCP has it: text, an image, audio, an embedded resource or a
//! link to a resource.
//!
//! In JSON (stored, bundles, admin API) a message is its role and exactly one of `text`,
//! `image`, `audio`, `resource` and `resource_link`, so a text message saved before the other
//! kinds existed reads as it always did. Parsed, the content is a [`MessageContent`], so no code
//! checks at run time which of five options is set.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use mcp_config_proto::v1;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Annotations, ResourceBody, Role, body_from_json, body_to_json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MessageJson", into = "MessageJson")]
pub struct PromptMessage {
    pub role: Role,
    pub content: MessageContent,
    /// How a client should use the part: its audience, priority, last change.
    pub annotations: Option<Annotations>,
}

impl PromptMessage {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: MessageContent::Text(text.into()),
            annotations: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// A Jinja template.
    Text(String),
    Image(Media),
    Audio(Media),
    Resource(EmbeddedResource),
    ResourceLink(ResourceLink),
}

/// An image or audio clip, inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Media {
    pub mime_type: String,
    /// Base64 in JSON.
    #[serde(with = "base64_text")]
    #[schema(value_type = String, format = Byte)]
    pub data: Vec<u8>,
}

/// A resource in a message: inline (`text` or `blob`), or, with neither, the org's own
/// resource at `uri`, read when the prompt is rendered (so it follows the org's overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedResource {
    /// A Jinja template.
    pub uri: String,
    pub mime_type: String,
    /// A text body is a Jinja template; `None` refers to the org's resource at `uri`.
    pub body: Option<ResourceBody>,
}

/// A link to a resource the client may read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceLink {
    /// A Jinja template.
    pub uri: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mime_type: String,
}

/// A message as JSON has it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PromptMessage)]
struct MessageJson {
    role: Role,
    /// A Jinja template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audio: Option<Media>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource: Option<EmbeddedJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_link: Option<ResourceLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations>,
}

/// An embedded resource as JSON has it: `text`, `blob` (base64) or neither.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmbeddedResource)]
struct EmbeddedJson {
    /// A Jinja template.
    uri: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    mime_type: String,
    /// A Jinja template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
}

impl utoipa::PartialSchema for PromptMessage {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        MessageJson::schema()
    }
}

impl ToSchema for PromptMessage {
    fn name() -> std::borrow::Cow<'static, str> {
        MessageJson::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        MessageJson::schemas(schemas);
    }
}

impl TryFrom<MessageJson> for PromptMessage {
    type Error = String;

    fn try_from(json: MessageJson) -> Result<Self, String> {
        let mut contents = Vec::new();
        if let Some(text) = json.text {
            contents.push(MessageContent::Text(text));
        }
        if let Some(image) = json.image {
            contents.push(MessageContent::Image(image));
        }
        if let Some(audio) = json.audio {
            contents.push(MessageContent::Audio(audio));
        }
        if let Some(resource) = json.resource {
            contents.push(MessageContent::Resource(EmbeddedResource {
                body: body_from_json(resource.text, resource.blob)
                    .map_err(|e| format!("resource: {e}"))?,
                uri: resource.uri,
                mime_type: resource.mime_type,
            }));
        }
        if let Some(link) = json.resource_link {
            contents.push(MessageContent::ResourceLink(link));
        }
        let content = contents.pop().filter(|_| contents.is_empty()).ok_or(
            "a message holds exactly one of text, image, audio, resource and resource_link",
        )?;
        Ok(Self {
            role: json.role,
            content,
            annotations: json.annotations,
        })
    }
}

impl From<PromptMessage> for MessageJson {
    fn from(message: PromptMessage) -> Self {
        let mut json = Self {
            role: message.role,
            text: None,
            image: None,
            audio: None,
            resource: None,
            resource_link: None,
            annotations: message.annotations,
        };
        match message.content {
            MessageContent::Text(text) => json.text = Some(text),
            MessageContent::Image(media) => json.image = Some(media),
            MessageContent::Audio(media) => json.audio = Some(media),
            MessageContent::Resource(resource) => {
                let (text, blob) = body_to_json(resource.body);
                json.resource = Some(EmbeddedJson {
                    uri: resource.uri,
                    mime_type: resource.mime_type,
                    text,
                    blob,
                });
            }
            MessageContent::ResourceLink(link) => json.resource_link = Some(link),
        }
        json
    }
}

impl MessageContent {
    /// The Jinja templates this content holds, each with the field it is in (below the
    /// message), in the order a render fills them.
    pub fn templates(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::Text(text) => vec![("text", text)],
            Self::Image(_) | Self::Audio(_) => Vec::new(),
            Self::Resource(resource) => {
                let mut templates = vec![("resource.uri", resource.uri.as_str())];
                if let Some(ResourceBody::Text(text)) = &resource.body {
                    templates.push(("resource.text", text));
                }
                templates
            }
            Self::ResourceLink(link) => vec![("resource_link.uri", &link.uri)],
        }
    }

    /// The bytes this content holds, for the size bound of an entry.
    pub fn byte_len(&self) -> usize {
        match self {
            Self::Image(media) | Self::Audio(media) => media.data.len(),
            Self::Resource(EmbeddedResource {
                body: Some(ResourceBody::Blob(blob)),
                ..
            }) => blob.len(),
            _ => self.templates().iter().map(|(_, t)| t.len()).sum(),
        }
    }
}

impl PromptMessage {
    pub fn to_proto(&self) -> v1::PromptMessage {
        use v1::prompt_message::Content;
        let media = |m: &Media| v1::Media {
            data: m.data.clone(),
            mime_type: m.mime_type.clone(),
        };
        let (text, content) = match &self.content {
            MessageContent::Text(text) => (text.clone(), None),
            MessageContent::Image(m) => (String::new(), Some(Content::Image(media(m)))),
            MessageContent::Audio(m) => (String::new(), Some(Content::Audio(media(m)))),
            MessageContent::Resource(resource) => (
                String::new(),
                Some(Content::Resource(v1::ResourceContents {
                    uri: resource.uri.clone(),
                    mime_type: resource.mime_type.clone(),
                    contents: resource.body.as_ref().map(|body| match body {
                        ResourceBody::Text(text) => {
                            v1::resource_contents::Contents::Text(text.clone())
                        }
                        ResourceBody::Blob(blob) => {
                            v1::resource_contents::Contents::Blob(blob.clone())
                        }
                    }),
                })),
            ),
            MessageContent::ResourceLink(link) => (
                String::new(),
                Some(Content::ResourceLink(v1::ResourceLink {
                    uri: link.uri.clone(),
                    name: link.name.clone(),
                    title: link.title.clone(),
                    description: link.description.clone(),
                    mime_type: link.mime_type.clone(),
                })),
            ),
        };
        v1::PromptMessage {
            role: self.role.as_str().to_owned(),
            text,
            content,
            annotations: self.annotations.as_ref().map(Annotations::to_proto),
        }
    }
}

/// A rendered message back in the content model's terms (the admin API's preview answers it
/// in the same JSON as the content it rendered).
impl From<v1::PromptMessage> for PromptMessage {
    fn from(message: v1::PromptMessage) -> Self {
        use v1::prompt_message::Content;
        let media = |m: v1::Media| Media {
            mime_type: m.mime_type,
            data: m.data,
        };
        let content = match message.content {
            None => MessageContent::Text(message.text),
            Some(Content::Image(m)) => MessageContent::Image(media(m)),
            Some(Content::Audio(m)) => MessageContent::Audio(media(m)),
            Some(Content::Resource(r)) => MessageContent::Resource(EmbeddedResource {
                uri: r.uri,
                mime_type: r.mime_type,
                body: r.contents.map(|c| match c {
                    v1::resource_contents::Contents::Text(text) => ResourceBody::Text(text),
                    v1::resource_contents::Contents::Blob(blob) => ResourceBody::Blob(blob),
                }),
            }),
            Some(Content::ResourceLink(l)) => MessageContent::ResourceLink(ResourceLink {
                uri: l.uri,
                name: l.name,
                title: l.title,
                description: l.description,
                mime_type: l.mime_type,
            }),
        };
        Self {
            role: Role::parse(&message.role),
            content,
            annotations: message.annotations.map(Annotations::from_proto),
        }
    }
}

impl MessageContent {
    /// What a person previewing a render reads for this content: the text, or what the part
    /// is (an image's type and size, a resource's URI and text).
    pub fn preview(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Image(m) => format!("[image {}, {} bytes]", m.mime_type, m.data.len()),
            Self::Audio(m) => format!("[audio {}, {} bytes]", m.mime_type, m.data.len()),
            Self::Resource(r) => match &r.body {
                Some(ResourceBody::Text(text)) => format!("[resource {}]\n{text}", r.uri),
                Some(ResourceBody::Blob(blob)) => {
                    format!("[resource {}, {} bytes]", r.uri, blob.len())
                }
                None => format!("[resource {}]", r.uri),
            },
            Self::ResourceLink(l) => format!("[link to {} ({})]", l.uri, l.name),
        }
    }
}

/// Bytes as base64 text.
mod base64_text {
    use super::*;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        BASE64
            .decode(text)
            .map_err(|e| serde::de::Error::custom(format!("not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(json: serde_json::Value) -> Result<PromptMessage, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_text_message_reads_and_writes_as_before() {
        let json = json!({"role": "user", "text": "Hi {{ name }}"});
        let message = parse(json.clone()).unwrap();
        assert_eq!(message, PromptMessage::text(Role::User, "Hi {{ name }}"));
        assert_eq!(serde_json::to_value(&message).unwrap(), json);
    }

    #[test]
    fn every_kind_of_content_round_trips() {
        for json in [
            json!({"role": "user", "image": {"mime_type": "image/png", "data": "AP8="}}),
            json!({"role": "assistant", "audio": {"mime_type": "audio/wav", "data": "UklG"}}),
            json!({"role": "user", "resource": {"uri": "{{ u }}", "mime_type": "text/plain", "text": "x"}}),
            json!({"role": "user", "resource": {"uri": "file:///a", "blob": "AP8="}}),
            json!({"role": "user", "resource": {"uri": "file:///{{ name }}"}}),
            json!({"role": "user", "resource_link": {"uri": "file:///a", "name": "a"}}),
        ] {
            let message = parse(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&message).unwrap(), json);
        }
    }

    #[test]
    fn a_message_holds_exactly_one_content() {
        let none = parse(json!({"role": "user"})).unwrap_err();
        assert!(none.to_string().contains("exactly one of text"), "{none}");
        let two =
            json!({"role": "user", "text": "a", "image": {"mime_type": "image/png", "data": ""}});
        assert!(parse(two).is_err());
        let both = json!({"role": "user", "resource": {"uri": "a:b", "text": "a", "blob": ""}});
        assert!(parse(both).unwrap_err().to_string().contains("resource: "));
        let bad = json!({"role": "user", "image": {"mime_type": "image/png", "data": "!!"}});
        assert!(parse(bad).unwrap_err().to_string().contains("not base64"));
    }

    #[test]
    fn a_rendered_message_reads_back_as_the_content_it_came_from() {
        for json in [
            json!({"role": "assistant", "text": "hi"}),
            json!({"role": "user", "image": {"mime_type": "image/png", "data": "AP8="}}),
            json!({"role": "user", "resource": {"uri": "a:b", "mime_type": "text/plain", "text": "x"}}),
            json!({"role": "user", "resource_link": {"uri": "a:b", "name": "b", "title": "B"}}),
            json!({"role": "user", "text": "x", "annotations": {"audience": ["assistant"], "priority": 0.5}}),
        ] {
            let message = parse(json.clone()).unwrap();
            assert_eq!(PromptMessage::from(message.to_proto()), message);
        }
    }

    #[test]
    fn templates_are_named_by_their_field() {
        let message =
            parse(json!({"role": "user", "resource": {"uri": "{{ u }}", "text": "{{ t }}"}}))
                .unwrap();
        assert_eq!(
            message.content.templates(),
            [("resource.uri", "{{ u }}"), ("resource.text", "{{ t }}")]
        );
        let image =
            parse(json!({"role": "user", "image": {"mime_type": "image/png", "data": "AP8="}}))
                .unwrap();
        assert!(image.content.templates().is_empty());
        assert_eq!(image.content.byte_len(), 2);
    }
}
