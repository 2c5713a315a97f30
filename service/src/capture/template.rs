//! A rendered text back to the template that renders it: the capture asks a server for each
//! prompt with a placeholder for every argument, and each placeholder in the answer becomes
//! `{{ argument }}`. Literal text that Jinja would read as syntax stays literal, so the template
//! renders the server's text byte for byte. Text that appears only when an optional argument is
//! given ([`optional_region`]) is wrapped in `{% if argument %}`.

use std::ops::Range;

/// The value sent for the `index`th argument: letters and digits only (a server that checks an
/// argument's shape loosely still takes it), ended by `X` so that no placeholder is the start
/// of another (`…ARG1X` is not a prefix of `…ARG10X`).
pub fn placeholder(index: usize) -> String {
    format!("MCPCONFIGARG{index}X")
}

/// Text of an answer that is there only when an optional argument is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Optional {
    pub range: Range<usize>,
    pub argument: String,
}

/// Where `with` (the answer with `placeholder` given) and `without` (the same answer without
/// that argument) differ, if the difference is exactly a run of `with` that holds the
/// placeholder: `without` is `with` with that run cut out. `None` when they differ otherwise
/// (the server does more than leave text out).
pub fn optional_region(with: &str, without: &str, placeholder: &str) -> Option<Range<usize>> {
    let prefix = common_prefix(with, without);
    let longest_suffix = without.len().checked_sub(prefix)?;
    let suffix = common_prefix_rev(&with[prefix..], &without[prefix..]).min(longest_suffix);
    let region = prefix..with.len() - suffix;
    (without.len() == prefix + suffix && with[region.clone()].contains(placeholder))
        .then_some(region)
}

/// Bytes `a` and `b` share at the start, on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((at, _), _)| at)
}

/// Bytes `a` and `b` share at the end, on a character boundary.
fn common_prefix_rev(a: &str, b: &str) -> usize {
    a.chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum()
}

/// `text` as a Jinja template of `arguments`, each region of `optionals` (in order, apart)
/// inside `{% if argument %}`; `None` when a region's edge cuts a placeholder.
pub fn templated_with(
    text: &str,
    arguments: &[(String, String)],
    optionals: &[Optional],
) -> Option<String> {
    let cuts_a_placeholder = |at: usize| {
        arguments.iter().any(|(placeholder, _)| {
            text.match_indices(placeholder.as_str())
                .any(|(start, found)| start < at && at < start + found.len())
        })
    };
    let mut template = String::new();
    let mut at = 0;
    for optional in optionals {
        let Range { start, end } = optional.range.clone();
        if start < at || cuts_a_placeholder(start) || cuts_a_placeholder(end) {
            return None;
        }
        template.push_str(&templated_part(&text[at..start], arguments, false));
        template.push_str(&format!("{{% if {} %}}", optional.argument));
        template.push_str(&templated_part(&text[start..end], arguments, false));
        template.push_str("{% endif %}");
        at = end;
    }
    template.push_str(&templated_part(&text[at..], arguments, true));
    Some(template)
}

/// `text` as a Jinja template of `arguments` (each a placeholder and the argument's name).
pub fn templated(text: &str, arguments: &[(String, String)]) -> String {
    templated_part(text, arguments, true)
}

/// Part of a template; `last` when it ends the template (Jinja drops a template's final
/// newline, so that one is written as an expression).
fn templated_part(text: &str, arguments: &[(String, String)], last: bool) -> String {
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
                template.push_str(&literal(rest, last));
                return template;
            }
        }
    }
}

/// Literal text as template source: as it is, unless Jinja would read part of it as syntax
/// (then a string expression), and with a final newline as an expression (Jinja drops a
/// template's last newline).
fn literal(text: &str, last: bool) -> String {
    // A `{` at the end would join the `{{` or `{%` that follows it.
    if ["{{", "{%", "{#"].iter().any(|d| text.contains(d)) || (!last && text.ends_with('{')) {
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
    fn text_only_an_optional_argument_brings_is_wrapped_in_a_condition() {
        let names = args(&["city", "state"]);
        let with = format!("Weather in {}, {}?", placeholder(0), placeholder(1));
        let without = format!("Weather in {}?", placeholder(0));
        let region = optional_region(&with, &without, &placeholder(1)).unwrap();
        let template = templated_with(
            &with,
            &names,
            &[Optional {
                range: region,
                argument: "state".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            template,
            "Weather in {{ city }}{% if state %}, {{ state }}{% endif %}?"
        );
        assert_eq!(
            render(&template, &[("city", "Paris"), ("state", "TX")]),
            "Weather in Paris, TX?"
        );
        assert_eq!(
            render(&template, &[("city", "Paris"), ("state", "")]),
            "Weather in Paris?"
        );
    }

    #[test]
    fn an_answer_that_changes_otherwise_has_no_optional_region() {
        let with = format!("A {} B", placeholder(1));
        assert_eq!(optional_region(&with, "A C", &placeholder(1)), None);
        assert_eq!(
            optional_region(&with, &with, &placeholder(1)),
            None,
            "unchanged"
        );
        assert_eq!(optional_region("é", "", "x"), None);
    }

    #[test]
    fn a_brace_right_before_an_argument_stays_literal() {
        let names = args(&["x"]);
        let template = templated(&format!("{{{}}}", placeholder(0)), &names);
        assert_eq!(render(&template, &[("x", "X")]), "{X}");
    }

    #[test]
    fn no_placeholder_is_the_start_of_another() {
        let names: Vec<(String, String)> =
            (0..11).map(|i| (placeholder(i), format!("a{i}"))).collect();
        let template = templated(&placeholder(10), &names);
        assert_eq!(template, "{{ a10 }}");
    }
}
