//! Property-based fuzzing (proptest) of what parses untrusted input: bundles and templates.
//! Whatever the input, parsing answers `Ok` or an error naming a field — it never panics — and
//! rendering stays within its limits.
//!
//! More cases: `PROPTEST_CASES=100000 cargo test -p mcp-config --test fuzz`.

use std::collections::HashMap;

use mcp_config::{
    bundle::{Bundle, Format},
    content::Content,
    domain::Kind,
    render::{CompiledPrompt, Limits, RenderError},
};
use proptest::prelude::*;
use serde_json::json;

/// Fragments that make template and YAML parsers take unusual paths.
fn jinja_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        " for x in range(99999) ",
        " endfor ",
        " if ",
        " endif ",
        "x",
        "'",
        "\"",
        "|",
        "upper",
        ".__class__",
        "[0]",
        "loop",
        "~",
        "*",
        "9999999",
        "\n",
        " ",
        "é",
        "\u{0}",
        "-",
        "set",
        "=",
        "macro",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn bundle_parsing_never_panics(text in ".{0,400}") {
        for format in [Format::Yaml, Format::Json] {
            if let Ok(bundle) = Bundle::parse(&text, format) {
                let _ = bundle.plan();
            }
        }
    }

    #[test]
    fn bundle_shaped_input_is_accepted_or_rejected_with_a_field(name in "[a-zA-Z0-9_ -]{0,12}", template in jinja_soup()) {
        let text = format!("defaults:\n  github:\n    prompts:\n      {name:?}:\n        messages: [{{role: user, text: {template:?}}}]\n");
        if let Ok(bundle) = Bundle::parse(&text, Format::Yaml) {
            match bundle.plan() {
                Ok(plan) => prop_assert_eq!(plan.entries.len(), 1),
                Err(invalid) => prop_assert!(invalid.field.starts_with("defaults.github"), "{}", invalid.field),
            }
        }
    }

    #[test]
    fn templates_validate_and_render_within_limits(template in jinja_soup(), value in ".{0,40}") {
        let content = Content::from_json(Kind::Prompts, json!({"messages": [{"role": "user", "text": template}]}));
        if let Ok(Content::Prompt(prompt)) = content {
            let limits = Limits { fuel: 20_000, max_output_bytes: 4096 };
            let arguments: HashMap<String, String> = [("x".to_owned(), value)].into();
            let compiled = CompiledPrompt::compile(prompt.templates());
            prop_assert!(compiled.is_ok(), "a saved prompt compiles");
            match compiled.unwrap().render(&[], &arguments, limits) {
                Ok(rendered) => prop_assert!(rendered.iter().map(String::len).sum::<usize>() <= 4096),
                Err(RenderError::MissingArgument(_) | RenderError::Template { .. } | RenderError::OutputTooLarge(_) | RenderError::TooMuchWork(_)) => {}
                Err(e @ (RenderError::TimedOut(_) | RenderError::MemoryExceeded(_) | RenderError::Busy(_) | RenderError::Unavailable(_))) => {
                    prop_assert!(false, "no worker here: {e}")
                }
            }
        }
    }
}
