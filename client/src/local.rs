//! A prompt rendered by the client itself, from a cached view, while the service cannot be
//! reached (contract C-RENDER-1): the same templates, filled with the service's rules
//! (`mcp-config-templates`), checked against the shared vectors in `client/render-vectors/`.
//!
//! An embedded resource that stands for the org's resource at its URI (no contents) is left as
//! it is: reading it is the service's.

use std::collections::HashMap;

use mcp_config_proto::v1::{Prompt, PromptMessage};
use mcp_config_templates::{CompiledPrompt, Declared, Limits, RenderError};

/// `prompt`'s messages with their templates rendered with `arguments`.
pub(crate) fn render(
    prompt: &Prompt,
    arguments: &HashMap<String, String>,
) -> Result<Vec<PromptMessage>, RenderError> {
    let mut messages = prompt.messages.clone();
    let templates: Vec<String> = messages
        .iter_mut()
        .flat_map(PromptMessage::templates_mut)
        .map(std::mem::take)
        .collect();
    let declared: Vec<Declared<'_>> = prompt
        .arguments
        .iter()
        .map(|a| Declared {
            name: &a.name,
            required: a.required,
        })
        .collect();
    let texts = CompiledPrompt::compile(templates.iter().map(String::as_str))?.render(
        &declared,
        arguments,
        Limits::default(),
    )?;
    for (slot, text) in messages
        .iter_mut()
        .flat_map(PromptMessage::templates_mut)
        .zip(texts)
    {
        *slot = text;
    }
    Ok(messages)
}

/// The status the service answers a render that fails this way, so a caller sees the same
/// error whoever rendered.
pub(crate) fn status_of(error: &RenderError) -> tonic::Status {
    match error {
        RenderError::MissingArgument(name) => {
            tonic::Status::invalid_argument(format!("arguments.{name}: missing argument {name:?}"))
        }
        RenderError::Template { .. } => tonic::Status::failed_precondition(error.to_string()),
        other => tonic::Status::resource_exhausted(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use mcp_config_proto::v1::PromptArgument;
    use serde::Deserialize;

    use super::*;

    /// One case of `client/render-vectors/` (its README has the format).
    #[derive(Deserialize)]
    struct Vector {
        name: String,
        prompt: VectorPrompt,
        #[serde(default)]
        arguments: HashMap<String, String>,
        expect: Expect,
    }

    #[derive(Deserialize)]
    struct VectorPrompt {
        #[serde(default)]
        arguments: Vec<VectorArgument>,
        messages: Vec<VectorMessage>,
    }

    #[derive(Deserialize)]
    struct VectorArgument {
        name: String,
        #[serde(default)]
        required: bool,
    }

    #[derive(Deserialize)]
    struct VectorMessage {
        role: String,
        text: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Expect {
        Texts(Vec<String>),
        MissingArgument(String),
    }

    fn prompt_of(vector: &VectorPrompt) -> Prompt {
        Prompt {
            arguments: vector
                .arguments
                .iter()
                .map(|a| PromptArgument {
                    name: a.name.clone(),
                    required: a.required,
                    ..Default::default()
                })
                .collect(),
            messages: vector
                .messages
                .iter()
                .map(|m| PromptMessage {
                    role: m.role.clone(),
                    text: m.text.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Every shared render vector: the same text, or the same missing argument, as the
    /// service (the service's own test runs them through `GetPrompt`).
    #[test]
    fn render_vectors() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("render-vectors");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        assert!(paths.len() >= 5, "vectors in {}", dir.display());
        for path in paths {
            let text = std::fs::read_to_string(&path).expect("a readable vector");
            let vector: Vector =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let rendered = render(&prompt_of(&vector.prompt), &vector.arguments);
            match (&vector.expect, rendered) {
                (Expect::Texts(texts), Ok(messages)) => {
                    let got: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
                    assert_eq!(got, *texts, "{}", vector.name);
                }
                (Expect::MissingArgument(name), Err(RenderError::MissingArgument(missing))) => {
                    assert_eq!(missing, *name, "{}", vector.name);
                }
                (_, other) => panic!("{}: {other:?}", vector.name),
            }
        }
    }

    #[test]
    fn a_failed_local_render_fails_as_the_services() {
        let prompt = Prompt {
            arguments: vec![PromptArgument {
                name: "repo".into(),
                required: true,
                ..Default::default()
            }],
            messages: vec![PromptMessage {
                role: "user".into(),
                text: "Review {{ repo }}".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let error = render(&prompt, &HashMap::new()).unwrap_err();
        let status = status_of(&error);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            r#"arguments.repo: missing argument "repo""#
        );
        let given = HashMap::from([("repo".to_owned(), "acme/api".to_owned())]);
        assert_eq!(render(&prompt, &given).unwrap()[0].text, "Review acme/api");
    }
}
