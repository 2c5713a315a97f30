//! Micro benchmarks of the hot and miss paths' parts: resolve, encode, render, cache hit, page.
//! Run with `cargo bench -p mcp-config`.

use std::{collections::HashMap, hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_config::{
    cache::ViewCache,
    content::{Content, PromptContent},
    domain::{Kind, Label, Scope, Slug, ViewKey},
    render::{CompiledPrompt, Declared, Limits},
    resolve::resolve,
    store::ViewRow,
    wire::EncodedView,
};
use serde_json::json;

fn prompt_json(i: usize) -> String {
    json!({
        "description": format!("prompt {i}"),
        "arguments": [{"name": "repo", "required": true}],
        "messages": [{"role": "user", "text": format!("Review {{{{ repo }}}}: {}", "detail ".repeat(100))}],
    })
    .to_string()
}

fn rows(count: usize) -> Vec<ViewRow> {
    (0..count)
        .flat_map(|i| {
            let default = ViewRow {
                org: Scope::Defaults,
                key: format!("p{i:03}"),
                active: true,
                deleted: false,
                revision: i as u64,
                body: Some(prompt_json(i)),
            };
            let mut rows = vec![default];
            if i % 3 == 0 {
                rows.push(ViewRow {
                    org: Scope::Org(Slug::parse("org", "acme").unwrap()),
                    key: format!("p{i:03}"),
                    active: i % 2 == 0,
                    deleted: false,
                    revision: 1000 + i as u64,
                    body: Some(prompt_json(i + 1)),
                });
            }
            rows
        })
        .collect()
}

fn view(count: usize) -> EncodedView {
    let view = resolve(rows(count));
    let prompts: Vec<(String, _)> = view
        .entries
        .iter()
        .map(|(key, body)| {
            let content: PromptContent = serde_json::from_str(body).unwrap();
            (key.clone(), content.to_proto(key))
        })
        .collect();
    EncodedView::build(
        view.revision,
        false,
        prompts.iter().map(|(k, p)| (k.as_str(), p.clone())),
    )
}

fn micro(c: &mut Criterion) {
    let rows = rows(100);
    c.bench_function("resolve 100 defaults + 34 overrides", |b| {
        b.iter(|| resolve(black_box(rows.clone())))
    });
    c.bench_function("encode a 100-prompt view", |b| {
        b.iter(|| view(black_box(100)))
    });

    let encoded = view(100);
    c.bench_function("page of 10 from a 100-prompt view", |b| {
        b.iter(|| encoded.page("", black_box(10)).unwrap())
    });

    let Content::Prompt(prompt) = Content::from_json(
        Kind::Prompts,
        serde_json::from_str(&prompt_json(1)).unwrap(),
    )
    .unwrap() else {
        unreachable!()
    };
    let arguments: HashMap<String, String> = [("repo".to_owned(), "acme/api".to_owned())].into();
    let declared = [Declared {
        name: "repo",
        required: true,
    }];
    let templates = || prompt.templates();
    c.bench_function("render a prompt (compile and render)", |b| {
        b.iter(|| {
            CompiledPrompt::compile(templates())
                .unwrap()
                .render(&declared, black_box(&arguments), Limits::default())
                .unwrap()
        })
    });
    let compiled = CompiledPrompt::compile(templates()).unwrap();
    c.bench_function("render a prompt (compiled once)", |b| {
        b.iter(|| {
            compiled
                .render(&declared, black_box(&arguments), Limits::default())
                .unwrap()
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cache = ViewCache::new(1 << 30, Duration::from_secs(300));
    let key = ViewKey {
        kind: Kind::Prompts,
        scope: Scope::parse_optional("org", "acme").unwrap(),
        server: Slug::parse("server", "github").unwrap(),
        label: Label::Production,
    };
    runtime
        .block_on(cache.get_or_load(&key, || async { Ok(view(20)) }))
        .unwrap();
    c.bench_function("L1 hit", |b| {
        b.to_async(&runtime).iter(|| async {
            cache
                .get_or_load(&key, || async { Ok(view(1)) })
                .await
                .unwrap()
                .full()
        })
    });
}

criterion_group!(benches, micro);
criterion_main!(benches);
