//! mcp-config's messages as MCP results (rmcp's model), written once for every MCP door: the
//! service's own `/mcp` endpoint and the MCP servers built on the client library.

use base64::{Engine, engine::general_purpose::STANDARD};
use rmcp::model::{
    Annotations, GetPromptResult, Prompt, PromptArgument, PromptMessage, ReadResourceResult,
    Resource, ResourceContents, Role, ServerCapabilities, SubscriptionFilter,
};

use crate::v1::{self, resource_contents};

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
    converted
}

pub fn rendered(response: v1::GetPromptResponse) -> GetPromptResult {
    let messages = response
        .messages
        .into_iter()
        .map(|message| PromptMessage::new_text(role(&message.role), message.text))
        .collect();
    let mut result = GetPromptResult::new(messages);
    result.description = present(&response.description);
    result
}

pub fn resource(resource: &v1::Resource) -> Resource {
    let mut converted = Resource::new(&resource.uri, &resource.name).with_size(resource.size);
    converted.title = present(&resource.title);
    converted.description = present(&resource.description);
    converted.mime_type = present(&resource.mime_type);
    converted.annotations = resource.annotations.as_ref().map(annotations);
    converted
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
    let contents = response
        .contents
        .into_iter()
        .map(|item| {
            let converted = match item.contents {
                Some(resource_contents::Contents::Blob(bytes)) => {
                    ResourceContents::blob(STANDARD.encode(bytes), &item.uri)
                }
                Some(resource_contents::Contents::Text(text)) => {
                    ResourceContents::text(text, &item.uri)
                }
                None => ResourceContents::text("", &item.uri),
            };
            match present(&item.mime_type) {
                Some(mime_type) => converted.with_mime_type(mime_type),
                None => converted,
            }
        })
        .collect();
    ReadResourceResult::new(contents)
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
