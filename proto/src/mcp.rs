//! mcp-config's messages as MCP results (rmcp's model), written once for every MCP door: the
//! service's own `/mcp` endpoint and the MCP servers built on the client library.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD};
use rmcp::model::{
    Annotations, AudioContent, CompletionInfo, ContentBlock, EmbeddedResource, GetPromptResult,
    Icon, ImageContent, Prompt, PromptArgument, PromptMessage, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities, SubscriptionFilter, TextContent,
};

use crate::v1::{self, prompt_message, resource_contents};

/// A `prompts/get` request's arguments as mcp-config renders them: MCP arguments are strings;
/// anything else is rendered as its JSON text.
pub fn arguments(arguments: Option<rmcp::model::JsonObject>) -> HashMap<String, String> {
    arguments
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => (name, text),
            other => (name, other.to_string()),
        })
        .collect()
}

/// What a server of mcp-config's views offers: prompts and resources, and word when either
/// list changes.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities::builder()
        .enable_prompts()
        .enable_prompts_list_changed()
        .enable_resources()
        .enable_resources_list_changed()
        .build()
}

/// The notifications a `subscriptions/listen` stream gets, whatever it asked for: both lists'
/// list_changed (a client that did not ask ignores them).
pub fn list_changed_filter() -> SubscriptionFilter {
    SubscriptionFilter::builder()
        .prompts_list_changed()
        .resources_list_changed()
        .build()
}

/// Empty strings in proto3 mean "not set"; MCP spells that as an absent field.
fn present(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn role(name: &str) -> Role {
    if name == "assistant" {
        Role::Assistant
    } else {
        Role::User
    }
}

pub fn prompt(prompt: &v1::Prompt) -> Prompt {
    let arguments = prompt
        .arguments
        .iter()
        .map(|argument| {
            let mut converted =
                PromptArgument::new(&argument.name).with_required(argument.required);
            converted.description = present(&argument.description);
            converted
        })
        .collect::<Vec<_>>();
    let mut converted = Prompt::new(
        &prompt.name,
        present(&prompt.description),
        (!arguments.is_empty()).then_some(arguments),
    );
    converted.title = present(&prompt.title);
    converted.icons = icons(&prompt.icons);
    converted
}

pub fn rendered(response: v1::GetPromptResponse) -> GetPromptResult {
    let messages = response
        .messages
        .into_iter()
        .map(|message| PromptMessage::new(role(&message.role), content(message)))
        .collect();
    let mut result = GetPromptResult::new(messages);
    result.description = present(&response.description);
    result
}

/// A rendered message's content as an MCP content block, with its annotations.
fn content(message: v1::PromptMessage) -> ContentBlock {
    use prompt_message::Content;
    let annotated = message.annotations.as_ref().map(annotations);
    match message.content {
        None => {
            let text = TextContent::new(message.text);
            ContentBlock::Text(match annotated {
                Some(a) => text.with_annotations(a),
                None => text,
            })
        }
        Some(Content::Image(media)) => {
            let image = ImageContent::new(STANDARD.encode(media.data), media.mime_type);
            ContentBlock::Image(match annotated {
                Some(a) => image.with_annotations(a),
                None => image,
            })
        }
        Some(Content::Audio(media)) => {
            let audio = AudioContent::new(STANDARD.encode(media.data), media.mime_type);
            ContentBlock::Audio(match annotated {
                Some(a) => audio.with_annotations(a),
                None => audio,
            })
        }
        Some(Content::Resource(resource)) => {
            let embedded = EmbeddedResource::new(resource_contents(resource));
            ContentBlock::Resource(match annotated {
                Some(a) => embedded.with_annotations(a),
                None => embedded,
            })
        }
        Some(Content::ResourceLink(link)) => {
            let mut converted = Resource::new(&link.uri, &link.name);
            converted.title = present(&link.title);
            converted.description = present(&link.description);
            converted.mime_type = present(&link.mime_type);
            converted.annotations = annotated;
            ContentBlock::ResourceLink(converted)
        }
    }
}

/// A resource of a view; see [`resource_template`] for one whose `is_template` is set.
pub fn resource(resource: &v1::Resource) -> Resource {
    let mut converted = Resource::new(&resource.uri, &resource.name).with_size(resource.size);
    converted.title = present(&resource.title);
    converted.description = present(&resource.description);
    converted.mime_type = present(&resource.mime_type);
    converted.annotations = resource.annotations.as_ref().map(annotations);
    converted.icons = icons(&resource.icons);
    converted
}

/// Icons as MCP has them; none is an absent field.
fn icons(icons: &[v1::Icon]) -> Option<Vec<Icon>> {
    (!icons.is_empty()).then(|| {
        icons
            .iter()
            .map(|icon| {
                let mut converted = Icon::new(&icon.src);
                if let Some(mime_type) = present(&icon.mime_type) {
                    converted = converted.with_mime_type(mime_type);
                }
                if !icon.sizes.is_empty() {
                    converted = converted.with_sizes(icon.sizes.clone());
                }
                converted
            })
            .collect()
    })
}

/// A resource template of a view (`is_template`): its URI is the template.
pub fn resource_template(resource: &v1::Resource) -> ResourceTemplate {
    let mut converted = ResourceTemplate::new(&resource.uri, &resource.name);
    converted.title = present(&resource.title);
    converted.description = present(&resource.description);
    converted.mime_type = present(&resource.mime_type);
    converted.annotations = resource.annotations.as_ref().map(annotations);
    converted.icons = icons(&resource.icons);
    converted
}

/// The `choices` (of a prompt argument or a template variable) that start with `typed`, as
/// many as one answer may hold.
pub fn completion(choices: &[String], typed: &str) -> CompletionInfo {
    let matching: Vec<&String> = choices
        .iter()
        .filter(|choice| choice.starts_with(typed))
        .collect();
    let values: Vec<String> = matching
        .iter()
        .take(CompletionInfo::MAX_VALUES)
        .map(|choice| (*choice).clone())
        .collect();
    let has_more = matching.len() > values.len();
    CompletionInfo::with_pagination(values, u32::try_from(matching.len()).ok(), has_more)
        .expect("at most MAX_VALUES values")
}

fn annotations(annotations: &v1::Annotations) -> Annotations {
    let mut converted = Annotations::default();
    if !annotations.audience.is_empty() {
        converted = converted.with_audience(annotations.audience.iter().map(|r| role(r)).collect());
    }
    if let Some(priority) = annotations.priority {
        converted = converted.with_priority(priority as f32);
    }
    converted.last_modified = present(&annotations.last_modified);
    converted
}

pub fn contents(response: v1::ReadResourceResponse) -> ReadResourceResult {
    ReadResourceResult::new(
        response
            .contents
            .into_iter()
            .map(resource_contents)
            .collect(),
    )
}

fn resource_contents(item: v1::ResourceContents) -> ResourceContents {
    let converted = match item.contents {
        Some(resource_contents::Contents::Blob(bytes)) => {
            ResourceContents::blob(STANDARD.encode(bytes), &item.uri)
        }
        Some(resource_contents::Contents::Text(text)) => ResourceContents::text(text, &item.uri),
        None => ResourceContents::text("", &item.uri),
    };
    match present(&item.mime_type) {
        Some(mime_type) => converted.with_mime_type(mime_type),
        None => converted,
    }
}

#[cfg(test)]
mod tests {
    use crate::v1::resource;

    use super::*;

    #[test]
    fn empty_proto_strings_become_absent_fields() {
        let converted = prompt(&v1::Prompt {
            name: "review-pr".into(),
            arguments: vec![v1::PromptArgument {
                name: "number".into(),
                required: true,
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(converted.title, None);
        assert_eq!(converted.description, None);
        let arguments = converted.arguments.expect("arguments");
        assert_eq!(arguments[0].required, Some(true));
        assert_eq!(arguments[0].description, None);
    }

    #[test]
    fn blobs_are_base64_and_text_stays_text() {
        let result = contents(v1::ReadResourceResponse {
            contents: vec![
                v1::ResourceContents {
                    uri: "file:///a.bin".into(),
                    mime_type: "application/octet-stream".into(),
                    contents: Some(resource_contents::Contents::Blob(vec![0, 255])),
                },
                v1::ResourceContents {
                    uri: "file:///b.md".into(),
                    mime_type: String::new(),
                    contents: Some(resource_contents::Contents::Text("# b".into())),
                },
            ],
            revision: 3,
        });
        let json = serde_json::to_value(&result.contents).expect("serializes");
        assert_eq!(json[0]["blob"], "AP8=");
        assert_eq!(json[0]["mimeType"], "application/octet-stream");
        assert_eq!(json[1]["text"], "# b");
    }

    #[test]
    fn every_kind_of_message_content_becomes_its_mcp_block() {
        use prompt_message::Content;
        let message = |content| v1::PromptMessage {
            role: "user".into(),
            content: Some(content),
            ..Default::default()
        };
        let result = rendered(v1::GetPromptResponse {
            messages: vec![
                v1::PromptMessage {
                    role: "assistant".into(),
                    text: "hi".into(),
                    content: None,
                    annotations: Some(v1::Annotations {
                        audience: vec!["user".into()],
                        priority: Some(1.0),
                        last_modified: String::new(),
                    }),
                },
                message(Content::Image(v1::Media {
                    data: vec![0, 255],
                    mime_type: "image/png".into(),
                })),
                message(Content::Audio(v1::Media {
                    data: vec![1],
                    mime_type: "audio/wav".into(),
                })),
                message(Content::Resource(v1::ResourceContents {
                    uri: "test://a".into(),
                    mime_type: "text/plain".into(),
                    contents: Some(resource_contents::Contents::Text("body".into())),
                })),
                message(Content::ResourceLink(v1::ResourceLink {
                    uri: "test://b".into(),
                    name: "b".into(),
                    ..Default::default()
                })),
            ],
            ..Default::default()
        });
        let json = serde_json::to_value(&result.messages).expect("serializes");
        assert_eq!(
            json[0]["content"],
            serde_json::json!({"type": "text", "text": "hi", "annotations": {"audience": ["user"], "priority": 1.0}})
        );
        assert_eq!(json[0]["role"], "assistant");
        assert_eq!(json[1]["content"]["type"], "image");
        assert_eq!(json[1]["content"]["data"], "AP8=");
        assert_eq!(json[1]["content"]["mimeType"], "image/png");
        assert_eq!(json[2]["content"]["type"], "audio");
        assert_eq!(json[3]["content"]["type"], "resource");
        assert_eq!(json[3]["content"]["resource"]["text"], "body");
        assert_eq!(json[3]["content"]["resource"]["uri"], "test://a");
        assert_eq!(json[4]["content"]["type"], "resource_link");
        assert_eq!(json[4]["content"]["uri"], "test://b");
    }

    #[test]
    fn completion_offers_the_choices_that_start_with_what_was_typed() {
        let argument = v1::PromptArgument {
            name: "city".into(),
            choices: vec!["paris".into(), "park".into(), "rome".into()],
            ..Default::default()
        };
        let info = completion(&argument.choices, "par");
        assert_eq!(info.values, ["paris", "park"]);
        assert_eq!((info.total, info.has_more), (Some(2), Some(false)));
        let many = v1::PromptArgument {
            choices: (0..150).map(|i| format!("v{i}")).collect(),
            ..Default::default()
        };
        let info = completion(&many.choices, "v");
        assert_eq!(info.values.len(), CompletionInfo::MAX_VALUES);
        assert_eq!((info.total, info.has_more), (Some(150), Some(true)));
        assert!(completion(&argument.choices, "x").values.is_empty());
    }

    #[test]
    fn resource_annotations_carry_over() {
        let converted = resource(&v1::Resource {
            uri: "file:///x".into(),
            name: "x".into(),
            size: 1,
            annotations: Some(v1::Annotations {
                audience: vec!["assistant".into()],
                priority: Some(0.5),
                last_modified: String::new(),
            }),
            contents: Some(resource::Contents::Text("x".into())),
            ..Default::default()
        });
        assert_eq!(converted.size, Some(1));
        let annotations = converted.annotations.expect("annotations");
        assert_eq!(annotations.audience, Some(vec![Role::Assistant]));
        assert_eq!(annotations.priority, Some(0.5));
        assert_eq!(annotations.last_modified, None);
    }
}
