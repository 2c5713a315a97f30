//! `mcp-config capture`: an MCP server that already runs, read as a client, written as a
//! bundle `mcp-config import` accepts — the first step of moving its prompts into mcp-config.
//!
//! Prompts are asked for with a placeholder for every argument ([`template`]), so each
//! message comes back with the placeholders where the arguments go and is saved as the
//! template that renders the same text. What cannot be captured faithfully is reported, never
//! dropped in silence: a prompt that refuses the placeholders, a resource too large for an
//! entry, a binary resource (captured as a blob, but said so), a resource template (its
//! contents depend on the URI), a name mcp-config would refuse.

mod template;

use std::collections::{BTreeMap, HashMap};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use rmcp::{
    RoleClient, ServiceExt,
    model::{
        Annotations, ContentBlock, GetPromptRequestParams, Icon, Prompt, PromptMessage,
        ReadResourceRequestParams, Resource, ResourceContents, Role,
    },
    service::{Peer, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

use template::{Optional, optional_region, placeholder, templated, templated_with};

use crate::{
    bundle::{Bundle, OrgBundle, ServerEntries},
    content::{Content, MAX_CONTENT_BYTES, PromptContent, ResourceContent},
    domain::{EntryKey, Kind, Slug},
};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("invalid {0}")]
    Argument(String),
    #[error("cannot connect to the MCP server: {0}")]
    Connect(String),
    #[error("the MCP server failed {0}")]
    Request(String),
}

/// Where and how to reach the server, and where its entries go in the bundle.
pub struct Capture {
    /// Its streamable HTTP endpoint.
    pub from: String,
    /// Headers sent with every request (a token, an org the server expects).
    pub headers: Vec<(String, String)>,
    /// The bundle's server name; the server's own name (as a slug) when not given.
    pub server: Option<String>,
    /// The org whose entries the capture becomes; the defaults when not given.
    pub org: Option<String>,
}

/// A captured server: the bundle, and what could not be captured as it is.
pub struct Captured {
    pub bundle: Bundle,
    pub server: String,
    pub prompts: usize,
    pub resources: usize,
    pub reported: Vec<String>,
}

impl Capture {
    pub async fn run(&self) -> Result<Captured, CaptureError> {
        let client = self.connect().await?;
        let peer = client.peer().clone();
        let info = peer.peer_info();
        let server = match &self.server {
            Some(server) => server.clone(),
            None => slug_of(
                info.as_ref()
                    .and_then(|i| i.server_info.as_ref())
                    .map_or("", |s| s.name.as_str()),
            ),
        };
        Slug::parse("server", &server).map_err(|e| CaptureError::Argument(e.to_string()))?;
        let capabilities = info
            .as_ref()
            .map(|i| i.capabilities.clone())
            .unwrap_or_default();
        let mut entries = ServerEntries::default();
        let mut reported = Vec::new();
        if capabilities.prompts.is_some() {
            let prompts = peer
                .list_all_prompts()
                .await
                .map_err(|e| CaptureError::Request(format!("prompts/list: {e}")))?;
            let completions = capabilities.completions.is_some();
            for prompt in prompts {
                match capture_prompt(&peer, &prompt, completions, &mut reported).await {
                    Ok(content) => {
                        entries.prompts.insert(prompt.name, content);
                    }
                    Err(why) => {
                        reported.push(format!("prompt {:?} not captured: {why}", prompt.name))
                    }
                }
            }
        }
        if capabilities.resources.is_some() {
            let resources = peer
                .list_all_resources()
                .await
                .map_err(|e| CaptureError::Request(format!("resources/list: {e}")))?;
            for resource in resources {
                match capture_resource(&peer, &resource, &mut reported).await {
                    Ok(content) => {
                        entries.resources.insert(resource.uri.clone(), content);
                    }
                    Err(why) => {
                        reported.push(format!("resource {:?} not captured: {why}", resource.uri))
                    }
                }
            }
            match peer.list_all_resource_templates().await {
                Ok(templates) => reported.extend(templates.into_iter().map(|t| {
                    format!(
                        "resource template {:?} not captured: its contents depend on the URI it is read with",
                        t.uri_template
                    )
                })),
                // A server without templates may not know the method: nothing to report.
                Err(e) if e.to_string().contains("-32601") => {}
                Err(e) => reported.push(format!("resource templates not listed: {e}")),
            }
        }
        let _ = client.cancel().await;
        let (prompts, resources) = (entries.prompts.len(), entries.resources.len());
        let servers = BTreeMap::from([(server.clone(), entries)]);
        let bundle = match &self.org {
            None => Bundle {
                defaults: servers,
                ..Bundle::default()
            },
            Some(org) => {
                Slug::parse("org", org).map_err(|e| CaptureError::Argument(e.to_string()))?;
                Bundle {
                    orgs: BTreeMap::from([(
                        org.clone(),
                        OrgBundle {
                            servers,
                            ..OrgBundle::default()
                        },
                    )]),
                    ..Bundle::default()
                }
            }
        };
        Ok(Captured {
            bundle,
            server,
            prompts,
            resources,
            reported,
        })
    }

    async fn connect(&self) -> Result<RunningService<RoleClient, ()>, CaptureError> {
        let mut headers = HashMap::new();
        for (name, value) in &self.headers {
            let name = name.parse().map_err(|_| {
                CaptureError::Argument(format!("header: {name:?} is not a header name"))
            })?;
            let value = value.parse().map_err(|_| {
                CaptureError::Argument(format!("header: the value of {name} is not a header value"))
            })?;
            headers.insert(name, value);
        }
        let config = StreamableHttpClientTransportConfig::with_uri(self.from.as_str())
            .custom_headers(headers);
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .map_err(|e| CaptureError::Connect(e.to_string()))
    }
}

/// A server's name as a slug: `Everything Server` → `everything-server`.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "server".to_owned()
    } else {
        slug.chars().take(63).collect()
    }
}

/// One prompt, asked for with placeholders, as the template that renders what it answered:
/// asked again without each optional argument, text that then disappears is wrapped in a
/// condition on it; its arguments' completions (from nothing typed) become their choices.
async fn capture_prompt(
    peer: &Peer<RoleClient>,
    prompt: &Prompt,
    completions: bool,
    reported: &mut Vec<String>,
) -> Result<PromptContent, String> {
    EntryKey::parse(Kind::Prompts, &prompt.name).map_err(|e| e.to_string())?;
    let declared = prompt.arguments.clone().unwrap_or_default();
    let arguments: Vec<(String, String)> = declared
        .iter()
        .enumerate()
        .map(|(i, a)| (placeholder(i), a.name.clone()))
        .collect();
    let answered = ask(peer, &prompt.name, &arguments, None)
        .await
        .map_err(|e| format!("it refused placeholder arguments: {e}"))?;
    let mut optionals: Vec<Vec<Optional>> = vec![Vec::new(); answered.len()];
    for (i, argument) in declared.iter().enumerate() {
        if argument.required.unwrap_or(false) {
            continue;
        }
        let note = |why: &str| {
            format!(
                "prompt {:?}: {why} without its optional argument {:?}; captured as if it were given",
                prompt.name, argument.name
            )
        };
        let Ok(without) = ask(peer, &prompt.name, &arguments, Some(i)).await else {
            reported.push(note("the server refuses it"));
            continue;
        };
        if without.len() != answered.len() {
            reported.push(note("another number of messages comes back"));
            continue;
        }
        for (m, (with, without)) in answered.iter().zip(&without).enumerate() {
            if with == without {
                continue;
            }
            let region = match (&with.content, &without.content) {
                (ContentBlock::Text(a), ContentBlock::Text(b)) if with.role == without.role => {
                    optional_region(&a.text, &b.text, &arguments[i].0)
                }
                _ => None,
            };
            match region {
                Some(range) => optionals[m].push(Optional {
                    range,
                    argument: argument.name.clone(),
                }),
                None => reported.push(note(&format!(
                    "message {m} changes in a way no condition captures"
                ))),
            }
        }
    }
    let mut messages = Vec::new();
    for (m, (message, mut optional)) in answered.iter().zip(optionals).enumerate() {
        optional.sort_by_key(|o| o.range.start);
        let text = match &message.content {
            ContentBlock::Text(text) if !optional.is_empty() => {
                templated_with(&text.text, &arguments, &optional).or_else(|| {
                    reported.push(format!(
                        "prompt {:?}: message {m}'s optional parts overlap; captured as if every argument were given",
                        prompt.name
                    ));
                    None
                })
            }
            _ => None,
        };
        messages.push(self::message(
            &message.role,
            &message.content,
            &arguments,
            text,
        )?);
    }
    let mut argument_json = Vec::new();
    for argument in &declared {
        let mut choices = Vec::new();
        if completions
            && let Ok(info) = peer
                .complete_prompt_argument(&prompt.name, &argument.name, "", None)
                .await
        {
            if info.has_more_results() {
                reported.push(format!(
                    "prompt {:?}: argument {:?} completes to more values than one answer holds; the first {} captured as choices",
                    prompt.name,
                    argument.name,
                    info.values.len()
                ));
            }
            choices = info.values;
        }
        argument_json.push(json!({
            "name": argument.name,
            "description": argument.description.clone().unwrap_or_default(),
            "required": argument.required.unwrap_or(false),
            "choices": choices,
        }));
    }
    let json = json!({
        "title": prompt.title.clone().unwrap_or_default(),
        "description": prompt.description.clone().unwrap_or_default(),
        "arguments": argument_json,
        "messages": messages,
        "icons": icons(prompt.icons.as_deref(), &format!("prompt {:?}", prompt.name), reported),
    });
    match Content::from_json(Kind::Prompts, json).map_err(|e| e.to_string())? {
        Content::Prompt(content) => Ok(content),
        Content::Resource(_) => unreachable!("parsed as a prompt"),
    }
}

/// The prompt's messages with every argument's placeholder, but the one at `leaving_out`.
async fn ask(
    peer: &Peer<RoleClient>,
    name: &str,
    arguments: &[(String, String)],
    leaving_out: Option<usize>,
) -> Result<Vec<PromptMessage>, String> {
    let mut request = GetPromptRequestParams::new(name);
    let given: serde_json::Map<String, Value> = arguments
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != leaving_out)
        .map(|(_, (placeholder, name))| (name.clone(), Value::from(placeholder.as_str())))
        .collect();
    if !given.is_empty() {
        request = request.with_arguments(given);
    }
    peer.get_prompt(request)
        .await
        .map(|answered| answered.messages)
        .map_err(|e| e.to_string())
}

/// One message of a prompt's answer in the content model's JSON, its texts as templates.
fn message(
    role: &Role,
    content: &ContentBlock,
    arguments: &[(String, String)],
    text_template: Option<String>,
) -> Result<Value, String> {
    let role = match role {
        Role::Assistant => "assistant",
        _ => "user",
    };
    let part = match content {
        ContentBlock::Text(text) => json!({
            "text": text_template.unwrap_or_else(|| templated(&text.text, arguments))
        }),
        ContentBlock::Image(image) => {
            json!({"image": {"mime_type": image.mime_type, "data": image.data}})
        }
        ContentBlock::Audio(audio) => {
            json!({"audio": {"mime_type": audio.mime_type, "data": audio.data}})
        }
        ContentBlock::Resource(embedded) => {
            let mut resource = match &embedded.resource {
                ResourceContents::TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    ..
                } => json!({
                    "uri": templated(uri, arguments),
                    "mime_type": mime_type.clone().unwrap_or_default(),
                    "text": templated(text, arguments),
                }),
                ResourceContents::BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    ..
                } => json!({
                    "uri": templated(uri, arguments),
                    "mime_type": mime_type.clone().unwrap_or_default(),
                    "blob": blob,
                }),
                other => {
                    return Err(format!(
                        "an embedded resource of an unknown kind: {other:?}"
                    ));
                }
            };
            if resource["mime_type"] == "" {
                resource.as_object_mut().map(|o| o.remove("mime_type"));
            }
            json!({"resource": resource})
        }
        ContentBlock::ResourceLink(link) => json!({"resource_link": {
            "uri": templated(&link.uri, arguments),
            "name": link.name,
            "title": link.title.clone().unwrap_or_default(),
            "description": link.description.clone().unwrap_or_default(),
            "mime_type": link.mime_type.clone().unwrap_or_default(),
        }}),
        other => {
            return Err(format!(
                "a message of a kind mcp-config does not hold: {other:?}"
            ));
        }
    };
    let mut message = part;
    message["role"] = role.into();
    let annotated = match content {
        ContentBlock::Text(c) => c.annotations.as_ref(),
        ContentBlock::Image(c) => c.annotations.as_ref(),
        ContentBlock::Audio(c) => c.annotations.as_ref(),
        ContentBlock::Resource(c) => c.annotations.as_ref(),
        ContentBlock::ResourceLink(c) => c.annotations.as_ref(),
        _ => None,
    };
    if let Some(annotated) = annotated {
        message["annotations"] = annotations(annotated);
    }
    Ok(message)
}

/// MCP annotations in the content model's JSON.
fn annotations(annotations: &Annotations) -> Value {
    let mut json = json!({});
    if let Some(audience) = &annotations.audience {
        json["audience"] = serde_json::to_value(audience).unwrap_or_default();
    }
    if let Some(priority) = annotations.priority {
        json["priority"] = priority.into();
    }
    if let Some(last_modified) = &annotations.last_modified {
        json["last_modified"] = last_modified.clone().into();
    }
    json
}

/// MCP icons in the content model's JSON: those mcp-config keeps (`https:` and `data:`), the
/// others reported.
fn icons(icons: Option<&[Icon]>, of: &str, reported: &mut Vec<String>) -> Value {
    let kept: Vec<Value> = icons
        .unwrap_or_default()
        .iter()
        .filter(|icon| {
            let kept = icon.src.starts_with("https://") || icon.src.starts_with("data:");
            if !kept {
                reported.push(format!(
                    "{of}: icon {:?} not captured: only https: and data: icons are kept",
                    icon.src
                ));
            }
            kept
        })
        .map(|icon| {
            json!({
                "src": icon.src,
                "mime_type": icon.mime_type.clone().unwrap_or_default(),
                "sizes": icon.sizes.clone().unwrap_or_default(),
            })
        })
        .collect();
    kept.into()
}

/// One resource's contents (the first, when the server answers several: reported).
async fn capture_resource(
    peer: &Peer<RoleClient>,
    resource: &Resource,
    reported: &mut Vec<String>,
) -> Result<ResourceContent, String> {
    EntryKey::parse(Kind::Resources, &resource.uri).map_err(|e| e.to_string())?;
    let read = peer
        .read_resource(ReadResourceRequestParams::new(&resource.uri))
        .await
        .map_err(|e| format!("resources/read failed: {e}"))?;
    if read.contents.len() > 1 {
        reported.push(format!(
            "resource {:?}: {} contents answered, the first captured",
            resource.uri,
            read.contents.len()
        ));
    }
    let (body, mime_type) = match read.contents.into_iter().next() {
        Some(ResourceContents::TextResourceContents {
            text, mime_type, ..
        }) => {
            if text.len() > MAX_CONTENT_BYTES {
                return Err(format!(
                    "{} bytes, more than an entry holds ({MAX_CONTENT_BYTES})",
                    text.len()
                ));
            }
            (json!({"text": text}), mime_type)
        }
        Some(ResourceContents::BlobResourceContents {
            blob, mime_type, ..
        }) => {
            let bytes = BASE64
                .decode(&blob)
                .map_err(|e| format!("its blob is not base64: {e}"))?;
            if bytes.len() > MAX_CONTENT_BYTES {
                return Err(format!(
                    "{} bytes, more than an entry holds ({MAX_CONTENT_BYTES})",
                    bytes.len()
                ));
            }
            reported.push(format!(
                "resource {:?}: binary ({} bytes), captured as a blob",
                resource.uri,
                bytes.len()
            ));
            (json!({"blob": blob}), mime_type)
        }
        Some(other) => return Err(format!("contents of an unknown kind: {other:?}")),
        None => return Err("no contents answered".to_owned()),
    };
    let mut json = body;
    json["name"] = resource.name.clone().into();
    json["icons"] = icons(
        resource.icons.as_deref(),
        &format!("resource {:?}", resource.uri),
        reported,
    );
    if let Some(annotated) = &resource.annotations {
        json["annotations"] = annotations(annotated);
    }
    for (field, value) in [
        ("title", resource.title.clone()),
        ("description", resource.description.clone()),
        (
            "mime_type",
            mime_type.or_else(|| resource.mime_type.clone()),
        ),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            json[field] = value.into();
        }
    }
    match Content::from_json(Kind::Resources, json).map_err(|e| e.to_string())? {
        Content::Resource(content) => Ok(content),
        Content::Prompt(_) => unreachable!("parsed as a resource"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_name_becomes_a_slug() {
        assert_eq!(slug_of("Everything Server"), "everything-server");
        assert_eq!(slug_of("  my_server!! v2 "), "my-server-v2");
        assert_eq!(slug_of("???"), "server");
    }
}
