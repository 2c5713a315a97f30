//! Prompt templates: checked when saved, rendered in a sandbox when asked for.
//!
//! Templates are Jinja2 (minijinja), so a Python client renders the same text. Undefined values
//! are strict, so a missing argument is an error that names it rather than an empty string.
//! Rendering is bounded: `fuel` caps the work a template may do (a loop without bound runs out of
//! it) and output beyond `max_output_bytes` stops the render.

use std::{collections::HashMap, io};

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

/// Limits applied to every render.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// minijinja instructions a render may execute.
    pub fuel: u64,
    /// Bytes of output across all messages of a prompt.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 100_000,
            max_output_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("missing argument {0:?}")]
    MissingArgument(String),
    #[error("template error in message {message}: {detail}")]
    Template { message: usize, detail: String },
    #[error("rendered output exceeds {0} bytes")]
    OutputTooLarge(usize),
    #[error("template did too much work (fuel of {0} exhausted)")]
    TooMuchWork(u64),
}

/// A template's syntax error, with the line it is on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(String);

/// Compiles `source` to check its syntax, as every save does before anything is written.
pub fn check_template(source: &str) -> Result<(), SyntaxError> {
    let env = environment(Limits::default());
    env.template_from_str(source).map(|_| ()).map_err(|e| {
        let line = e
            .line()
            .map(|l| format!(" at line {l}"))
            .unwrap_or_default();
        SyntaxError(format!("{}{line}", e.detail().unwrap_or("syntax error")))
    })
}

/// Whether `name` can be used as a template variable.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

/// An argument a prompt declares: its name and whether it must be given.
pub struct Declared<'a> {
    pub name: &'a str,
    pub required: bool,
}

/// Renders each template of a prompt with `arguments`.
///
/// A declared optional argument that was not given renders as an empty string; a required one,
/// or any variable the template uses that is neither declared nor given, is a
/// [`RenderError::MissingArgument`] naming it.
pub fn render_messages<'a>(
    templates: impl IntoIterator<Item = &'a str>,
    declared: &[Declared<'_>],
    arguments: &HashMap<String, String>,
    limits: Limits,
) -> Result<Vec<String>, RenderError> {
    if let Some(missing) = declared
        .iter()
        .find(|d| d.required && !arguments.contains_key(d.name))
    {
        return Err(RenderError::MissingArgument(missing.name.to_owned()));
    }
    let context = Value::from_pairs(
        declared
            .iter()
            .map(|d| (d.name.to_owned(), String::new()))
            .filter(|(name, _)| !arguments.contains_key(name))
            .chain(arguments.iter().map(|(k, v)| (k.clone(), v.clone())))
            .map(|(k, v)| (k, Value::from(v))),
    );
    let env = environment(limits);
    let globals: std::collections::HashSet<&str> = env.globals().map(|(name, _)| name).collect();
    let mut budget = limits.max_output_bytes;
    let mut rendered = Vec::new();
    for (message, source) in templates.into_iter().enumerate() {
        let template_error = |e: minijinja::Error| RenderError::Template {
            message,
            detail: e
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| e.kind().to_string()),
        };
        let template = env.template_from_str(source).map_err(template_error)?;
        let mut used: Vec<String> = template.undeclared_variables(false).into_iter().collect();
        used.sort();
        let is_missing = |name: &String| {
            !globals.contains(name.as_str())
                && context.get_attr(name).is_ok_and(|v| v.is_undefined())
        };
        if let Some(missing) = used.into_iter().find(is_missing) {
            return Err(RenderError::MissingArgument(missing));
        }
        let mut output = Bounded {
            bytes: Vec::new(),
            limit: budget,
        };
        template
            .render_captured_to(context.clone(), &mut output)
            .map_err(|e| match e.kind() {
                ErrorKind::WriteFailure => RenderError::OutputTooLarge(limits.max_output_bytes),
                ErrorKind::OutOfFuel => RenderError::TooMuchWork(limits.fuel),
                _ => template_error(e),
            })?;
        budget -= output.bytes.len();
        rendered.push(String::from_utf8(output.bytes).expect("minijinja writes UTF-8"));
    }
    Ok(rendered)
}

/// Renders every message of `prompt` (its texts are templates) with `arguments`, as
/// `GetPrompt` answers and the admin API previews.
pub fn render_prompt(
    prompt: &mcp_config_proto::v1::Prompt,
    arguments: &HashMap<String, String>,
    limits: Limits,
) -> Result<Vec<mcp_config_proto::v1::PromptMessage>, RenderError> {
    let declared: Vec<Declared> = prompt
        .arguments
        .iter()
        .map(|a| Declared {
            name: &a.name,
            required: a.required,
        })
        .collect();
    let texts = render_messages(
        prompt.messages.iter().map(|m| m.text.as_str()),
        &declared,
        arguments,
        limits,
    )?;
    Ok(prompt
        .messages
        .iter()
        .zip(texts)
        .map(|(m, text)| mcp_config_proto::v1::PromptMessage {
            role: m.role.clone(),
            text,
        })
        .collect())
}

fn environment<'s>(limits: Limits) -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(limits.fuel));
    env
}

/// A writer that refuses to grow past `limit` bytes, so a huge render stops early instead of
/// exhausting memory.
struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
}

impl io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(io::Error::other("output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn render(
        template: &str,
        declared: &[Declared<'_>],
        given: &[(&str, &str)],
    ) -> Result<String, RenderError> {
        render_messages([template], declared, &args(given), Limits::default())
            .map(|mut v| v.remove(0))
    }

    #[test]
    fn renders_arguments() {
        let declared = [Declared {
            name: "lang",
            required: true,
        }];
        assert_eq!(
            render("Review {{ lang }} code", &declared, &[("lang", "Rust")]).unwrap(),
            "Review Rust code"
        );
    }

    #[test]
    fn a_missing_required_argument_is_named() {
        let declared = [Declared {
            name: "lang",
            required: true,
        }];
        assert_eq!(
            render("{{ lang }}", &declared, &[]),
            Err(RenderError::MissingArgument("lang".into()))
        );
    }

    #[test]
    fn an_undeclared_variable_the_template_uses_is_named() {
        assert_eq!(
            render("{{ a }} {{ zeta }}", &[], &[("a", "1")]),
            Err(RenderError::MissingArgument("zeta".into()))
        );
    }

    #[test]
    fn an_absent_optional_argument_is_empty() {
        let declared = [Declared {
            name: "focus",
            required: false,
        }];
        assert_eq!(
            render("[{% if focus %}x{% endif %}{{ focus }}]", &declared, &[]).unwrap(),
            "[]"
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = check_template("line one\n{% if %}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn template_injection_finds_nothing_to_reach() {
        let declared = [Declared {
            name: "x",
            required: true,
        }];
        for attack in [
            "{{ x.__class__ }}",
            "{{ x.__class__.__mro__ }}",
            "{{ range.__globals__ }}",
            "{% include '/etc/passwd' %}",
            "{% import 'os' as os %}",
            "{{ self.__init__ }}",
        ] {
            let rendered = render(attack, &declared, &[("x", "hello")]);
            assert!(rendered.is_err(), "{attack} rendered {rendered:?}");
        }
    }

    #[test]
    fn runaway_templates_are_cut_off() {
        let huge = render(
            "{% for i in range(90000) %}{% for j in range(90000) %}x{% endfor %}{% endfor %}",
            &[],
            &[],
        );
        assert!(
            matches!(
                huge,
                Err(RenderError::TooMuchWork(_) | RenderError::OutputTooLarge(_))
            ),
            "{huge:?}"
        );
        let limits = Limits {
            fuel: 10_000_000,
            max_output_bytes: 1000,
        };
        let long = render_messages(["{{ 'x' * 5000 }}"], &[], &HashMap::new(), limits);
        assert_eq!(long, Err(RenderError::OutputTooLarge(1000)));
    }
}
