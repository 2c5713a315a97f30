//! Prompt templates: checked when saved, compiled once, rendered in a sandbox when asked for.
//!
//! Templates are Jinja2 (minijinja), so a Python client renders the same text. Undefined values
//! are strict, so a missing argument is an error that names it rather than an empty string.
//! Rendering is bounded per *prompt*, not per message: one `fuel` budget is shared by all of a
//! prompt's messages (a prompt of many messages that each loop gets no more work than one), and
//! output beyond `max_output_bytes` stops the render. A save is refused when the prompt cannot
//! render within that budget with sample arguments ([`check_cost`]), so an author hears of a
//! runaway template when saving it, not when an MCP client asks for it.

use std::collections::HashMap;

pub use mcp_config_templates::{CompiledPrompt, Declared, Limits, RenderError, environment};

use crate::domain::InvalidInput;

/// Most arguments a render may be given, and the largest value of one (gRPC and admin API).
pub const MAX_ARGUMENTS: usize = 64;
pub const MAX_ARGUMENT_BYTES: usize = 64 * 1024;
/// The value every argument takes when a save checks what rendering the prompt costs: longer
/// than any realistic argument, so a template whose work grows with its input shows it.
const SAMPLE_ARGUMENT_BYTES: usize = 1024;

/// Refuses more arguments, or a longer one, than a render takes.
pub fn check_arguments(arguments: &HashMap<String, String>) -> Result<(), InvalidInput> {
    if arguments.len() > MAX_ARGUMENTS {
        return Err(InvalidInput::new(
            "arguments",
            format!("at most {MAX_ARGUMENTS} arguments"),
        ));
    }
    match arguments.iter().find(|(_, v)| v.len() > MAX_ARGUMENT_BYTES) {
        Some((name, _)) => Err(InvalidInput::new(
            format!("arguments.{name}"),
            format!("longer than {MAX_ARGUMENT_BYTES} bytes"),
        )),
        None => Ok(()),
    }
}

/// A template's syntax error, with the line it is on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(String);

/// Compiles `source` to check its syntax, as every save does before anything is written.
pub fn check_template(source: &str) -> Result<(), SyntaxError> {
    let env = environment();
    env.template_from_str(source).map(|_| ()).map_err(|e| {
        let line = e
            .line()
            .map(|l| format!(" at line {l}"))
            .unwrap_or_default();
        SyntaxError(format!("{}{line}", e.detail().unwrap_or("syntax error")))
    })
}

/// What a person editing a prompt should hear about one of its templates before saving.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The index of the message whose template it is about.
    pub message: usize,
    /// An error stops the save; a warning is a render that will fail for some calls.
    pub error: bool,
    /// 1-based position in the template, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub text: String,
}

/// Checks a prompt's templates the way a save and a render would: syntax errors with their
/// line and column, and variables a template uses that are neither `declared` arguments nor
/// globals (such a prompt saves, then fails whenever it is rendered without that variable).
pub fn lint<'a>(templates: impl IntoIterator<Item = &'a str>, declared: &[&str]) -> Vec<Finding> {
    let env = environment();
    let mut findings = Vec::new();
    for (message, source) in templates.into_iter().enumerate() {
        match env.template_from_str(source) {
            Err(e) => {
                let column = e.range().map(|range| {
                    let before = &source[..range.start.min(source.len())];
                    before.rsplit('\n').next().unwrap_or("").chars().count() + 1
                });
                findings.push(Finding {
                    message,
                    error: true,
                    line: e.line(),
                    column,
                    text: e.detail().unwrap_or("syntax error").to_owned(),
                });
            }
            Ok(template) => {
                let mut unknown: Vec<String> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|name| !declared.contains(&name.as_str()))
                    .filter(|name| env.globals().all(|(global, _)| global != name))
                    .collect();
                unknown.sort();
                findings.extend(unknown.into_iter().map(|name| Finding {
                    message,
                    error: false,
                    line: None,
                    column: None,
                    text: format!(
                        "uses {name:?}, which is not a declared argument: every render without it fails"
                    ),
                }));
            }
        }
    }
    findings
}

/// Whether a prompt renders within `limits` when every argument (and every variable its
/// templates use) is a [`SAMPLE_ARGUMENT_BYTES`]-long value. Data-dependent blow-ups that the
/// sample does not trigger are still stopped by the same budget at render time.
pub fn check_cost<'a>(
    templates: impl IntoIterator<Item = &'a str>,
    declared: &[Declared<'_>],
    limits: Limits,
) -> Result<(), RenderError> {
    let compiled = CompiledPrompt::compile(templates)?;
    let sample = "x".repeat(SAMPLE_ARGUMENT_BYTES);
    let arguments: HashMap<String, String> = declared
        .iter()
        .map(|d| d.name)
        .chain(compiled.variables())
        .map(|name| (name.to_owned(), sample.clone()))
        .collect();
    match compiled.render(declared, &arguments, limits) {
        Ok(_) => Ok(()),
        Err(e @ (RenderError::TooMuchWork(_) | RenderError::OutputTooLarge(_))) => Err(e),
        // Errors that depend on the arguments' values (a filter refusing "xxx…") say nothing
        // about cost.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lint_places_syntax_errors_and_names_undeclared_variables() {
        let findings = super::lint(
            ["Hello {{ name }} and {{ other }}", "line one\n  {% if %}"],
            &["name"],
        );
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(!findings[0].error);
        assert!(findings[0].text.contains("\"other\""));
        assert_eq!(findings[1].message, 1);
        assert!(findings[1].error);
        assert_eq!(findings[1].line, Some(2));
        assert!(
            findings[1].column.is_some_and(|c| c > 1),
            "{:?}",
            findings[1]
        );
        assert!(super::lint(["{{ name }}"], &["name"]).is_empty());
    }

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
        render_with([template], declared, &args(given), Limits::default()).map(|mut v| v.remove(0))
    }

    fn render_with<'a>(
        templates: impl IntoIterator<Item = &'a str>,
        declared: &[Declared<'_>],
        arguments: &HashMap<String, String>,
        limits: Limits,
    ) -> Result<Vec<String>, RenderError> {
        CompiledPrompt::compile(templates)?.render(declared, arguments, limits)
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
        let long = render_with(["{{ 'x' * 5000 }}"], &[], &HashMap::new(), limits);
        assert_eq!(long, Err(RenderError::OutputTooLarge(1000)));
    }

    /// The attack the budget guards against: many messages, each within a per-message budget.
    #[test]
    fn one_budget_covers_all_of_a_prompts_messages() {
        let looping = "{% for i in range(3000) %}.{% endfor %}";
        let one = render_with([looping], &[], &HashMap::new(), Limits::default());
        assert!(one.is_ok(), "one message fits the budget: {one:?}");
        let many = render_with(
            std::iter::repeat_n(looping, 40),
            &[],
            &HashMap::new(),
            Limits::default(),
        );
        assert_eq!(
            many,
            Err(RenderError::TooMuchWork(Limits::default().fuel)),
            "forty of them do not"
        );
    }

    #[test]
    fn a_save_refuses_a_prompt_whose_work_grows_past_the_budget_with_its_arguments() {
        let declared = [Declared {
            name: "text",
            required: true,
        }];
        let per_char = "{% for c in text %}{% for i in range(20) %}{{ c }}{% endfor %}{% endfor %}";
        assert_eq!(
            check_cost([per_char], &declared, Limits::default()),
            Err(RenderError::TooMuchWork(Limits::default().fuel))
        );
        assert_eq!(
            check_cost(["Summarise {{ text }}"], &declared, Limits::default()),
            Ok(())
        );
        assert_eq!(
            check_cost(["{{ undeclared }}"], &[], Limits::default()),
            Ok(()),
            "a variable that is not declared is sampled too (its absence is a render error)"
        );
    }

    #[test]
    fn a_compiled_prompt_renders_again_with_a_fresh_budget() {
        let compiled =
            CompiledPrompt::compile(["{% for i in range(5000) %}.{% endfor %}"]).unwrap();
        for _ in 0..3 {
            assert_eq!(
                compiled
                    .render(&[], &HashMap::new(), Limits::default())
                    .unwrap()[0]
                    .len(),
                5000
            );
        }
    }
}
