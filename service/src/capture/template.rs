//! A rendered text back to the template that renders it: the capture asks a server for each
//! prompt with a placeholder for every argument, and each placeholder in the answer becomes
//! `{{ argument }}`. Literal text that Jinja would read as syntax stays literal, so the template
//! renders the server's text byte for byte.

/// The value sent for the `index`th argument: letters and digits only (a server that checks an
/// argument's shape loosely still takes it), ended by `X` so that no placeholder is the start
/// of another (`…ARG1X` is not a prefix of `…ARG10X`).
pub fn placeholder(index: usize) -> String {
    format!("MCPCONFIGARG{index}X")
}

/// `text` as a Jinja template of `arguments` (each a placeholder and the argument's name).
pub fn templated(text: &str, arguments: &[(String, String)]) -> String {
    let mut template = String::new();
    let mut rest = text;
    loop {
        let next = arguments
            .iter()
            .filter_map(|(placeholder, name)| {
                rest.find(placeholder.as_str())
                    .map(|at| (at, placeholder, name))
            })
            .min_by_key(|(at, _, _)| *at);
        match next {
            Some((at, placeholder, name)) => {
                template.push_str(&literal(&rest[..at], false));
                template.push_str(&format!("{{{{ {name} }}}}"));
                rest = &rest[at + placeholder.len()..];
            }
            None => {
                template.push_str(&literal(rest, true));
                return template;
            }
        }
    }
}

/// Literal text as template source: as it is, unless Jinja would read part of it as syntax
/// (then a string expression), and with a final newline as an expression (Jinja drops a
/// template's last newline).
fn literal(text: &str, last: bool) -> String {
    if ["{{", "{%", "{#"].iter().any(|d| text.contains(d)) {
        return format!("{{{{ {} }}}}", quoted(text));
    }
    match text.strip_suffix('\n') {
        Some(body) if last => format!("{body}{{{{ {} }}}}", quoted("\n")),
        _ => text.to_owned(),
    }
}

/// A Jinja string literal of `text`.
fn quoted(text: &str) -> String {
    let mut quoted = String::from("'");
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("\\'"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::render::{CompiledPrompt, Limits};

    fn render(template: &str, arguments: &[(&str, &str)]) -> String {
        let arguments: HashMap<String, String> = arguments
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CompiledPrompt::compile([template])
            .unwrap()
            .render(&[], &arguments, Limits::default())
            .unwrap()
            .remove(0)
    }

    fn args(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (placeholder(i), (*n).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_become_variables_and_the_template_renders_the_servers_text() {
        let names = args(&["repo", "number"]);
        let answered = format!(
            "Review #{} of {}, then {}.\n",
            placeholder(1),
            placeholder(0),
            placeholder(0)
        );
        let template = templated(&answered, &names);
        assert_eq!(
            template,
            "Review #{{ number }} of {{ repo }}, then {{ repo }}.{{ '\\n' }}"
        );
        assert_eq!(
            render(&template, &[("repo", "acme/api"), ("number", "7")]),
            "Review #7 of acme/api, then acme/api.\n"
        );
    }

    #[test]
    fn text_jinja_would_read_as_syntax_stays_literal() {
        let names = args(&["x"]);
        let answered = format!("Use {{{{ it }}}} and {{% raw %}} 'q' \\ {}", placeholder(0));
        let template = templated(&answered, &names);
        assert_eq!(
            render(&template, &[("x", "X")]),
            "Use {{ it }} and {% raw %} 'q' \\ X"
        );
    }

    #[test]
    fn no_placeholder_is_the_start_of_another() {
        let names: Vec<(String, String)> =
            (0..11).map(|i| (placeholder(i), format!("a{i}"))).collect();
        let template = templated(&placeholder(10), &names);
        assert_eq!(template, "{{ a10 }}");
    }
}
