//! The store's behaviour, run against both backends: every case below runs once on SQLite and
//! once on a throwaway PostgreSQL.

use std::{sync::Arc, time::Duration};

use mcp_config::{
    bundle::{Bundle, Format},
    bundle::{export::export, import::Missing},
    cache::ViewCache,
    catalog::Catalog,
    content::Content,
    domain::{EntryId, EntryKey, Kind, Label, Scope, Slug, ViewKey},
    edits::{Editor, NewOrgs},
    error::Error,
    propagation::relay::RelayHandle,
    store::{ChangeAction, Store, StoreError, Write, WriteOp},
    views::Views,
};
use mcp_config_proto::v1::{GetPromptsResponse, Prompt};
use mcp_config_tests::{
    postgres::Postgres,
    service::{self, EXAMPLE_BUNDLE},
};
use prost::Message;
use serde_json::json;

/// Keeps a backend alive for the duration of a test.
enum Backend {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] Postgres),
}

async fn sqlite() -> (Store, Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("t.db").display()),
        8,
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (store, Backend::Sqlite(dir))
}

async fn postgres() -> (Store, Backend) {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let store = Store::connect(&pg.database(), 8).await.unwrap();
    store.migrate().await.unwrap();
    (store, Backend::Postgres(pg))
}

struct Fixture {
    store: Store,
    editor: Editor,
    catalog: Catalog,
    views: Views,
}

fn fixture(store: Store) -> Fixture {
    let editor = Editor::new(store.clone(), RelayHandle::default(), service::renderer());
    let cache = ViewCache::new(1 << 24, Duration::from_secs(300));
    let views = Views::new(store.clone(), cache, None, service::renderer());
    Fixture {
        catalog: Catalog::new(store.clone()),
        store,
        editor,
        views,
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse("slug", s).unwrap()
}

fn prompt_id(scope: &str, key: &str) -> EntryId {
    EntryId {
        scope: Scope::parse_optional("org", scope).unwrap(),
        server: slug("github"),
        kind: Kind::Prompts,
        key: EntryKey::parse(Kind::Prompts, key).unwrap(),
    }
}

fn prompt(text: &str) -> Content {
    Content::from_json(
        Kind::Prompts,
        json!({"messages": [{"role": "user", "text": text}]}),
    )
    .unwrap()
}

fn view_key(org: &str) -> ViewKey {
    ViewKey {
        kind: Kind::Prompts,
        scope: Scope::parse_optional("org", org).unwrap(),
        server: slug("github"),
        label: Label::Production,
    }
}

/// The effective prompts of `org` (names and first message), straight from the store.
async fn effective(f: &Fixture, org: &str) -> (u64, Vec<(String, String)>) {
    f.views
        .cache()
        .invalidate(&mcp_config::domain::Invalidation::All)
        .await;
    let view = f.views.view(&view_key(org)).await.unwrap();
    let response = GetPromptsResponse::decode(view.full().0).unwrap();
    let entries = response
        .prompts
        .into_iter()
        .map(|p: Prompt| (p.name, p.messages[0].text.clone()))
        .collect();
    (response.revision, entries)
}

async fn import_example(f: &Fixture) {
    let bundle = Bundle::parse(EXAMPLE_BUNDLE, Format::Yaml).unwrap();
    f.editor
        .import(
            &bundle.plan().unwrap(),
            Missing::Keep,
            false,
            NewOrgs::Allowed,
            "test",
        )
        .await
        .unwrap();
}

async fn versions_count_up_and_a_stale_expected_version_conflicts(f: Fixture) {
    let id = prompt_id("", "greet");
    f.editor
        .put(id.clone(), &prompt("v1"), Some(0), "alice", "first")
        .await
        .unwrap();
    f.editor
        .put(id.clone(), &prompt("v2"), Some(1), "bob", "second")
        .await
        .unwrap();
    let stale = f
        .editor
        .put(id.clone(), &prompt("v3"), Some(1), "carol", "late")
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            Error::Conflict {
                expected: 1,
                current: 2
            }
        ),
        "{stale:?}"
    );
    let history = f.catalog.history(&id).await.unwrap();
    let summary: Vec<(u64, &str)> = history
        .iter()
        .map(|v| (v.version, v.actor.as_str()))
        .collect();
    assert_eq!(summary, [(1, "alice"), (2, "bob")]);
    assert_eq!(f.catalog.entry(&id).await.unwrap().version, 2);
}

async fn concurrent_writers_on_one_entry_one_wins_per_version(f: Fixture) {
    let id = prompt_id("", "contested");
    f.editor
        .put(id.clone(), &prompt("base"), None, "setup", "")
        .await
        .unwrap();
    let editor = Arc::new(f.editor.clone());
    let writers = (0..8).map(|i| {
        let (editor, id) = (editor.clone(), id.clone());
        tokio::spawn(async move {
            editor
                .put(
                    id,
                    &prompt(&format!("writer {i}")),
                    Some(1),
                    &format!("w{i}"),
                    "",
                )
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(writers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Conflict { .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 7), "{results:?}");
    let versions: Vec<u64> = f
        .catalog
        .history(&id)
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [1, 2]);
    let revisions: Vec<u64> = f
        .store
        .changes_after(0, 100, None, None)
        .await
        .unwrap()
        .iter()
        .map(|c| c.revision)
        .collect();
    assert_eq!(revisions, [1, 2], "revisions have no holes");
}

async fn the_example_resolves_per_org(f: Fixture) {
    import_example(&f).await;
    let (_, defaults) = effective(&f, "").await;
    let names: Vec<&str> = defaults.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["release-notes", "review-pr", "triage-issue"]);

    let (_, acme) = effective(&f, "acme").await;
    let names: Vec<&str> = acme.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "release-notes",
            "review-pr",
            "security-review",
            "triage-issue"
        ]
    );
    let review = &acme.iter().find(|(n, _)| n == "review-pr").unwrap().1;
    assert!(
        review.contains("Acme's checklist"),
        "acme overrides review-pr: {review}"
    );

    let (_, globex) = effective(&f, "globex").await;
    let names: Vec<&str> = globex.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["release-notes", "review-pr"],
        "globex hides triage-issue"
    );

    let (_, unknown) = effective(&f, "nobody").await;
    assert_eq!(unknown, defaults, "an unknown org sees the defaults");
}

async fn hide_unhide_and_deleting_an_override_bring_the_default_back(f: Fixture) {
    import_example(&f).await;
    let (before, _) = effective(&f, "globex").await;
    f.editor
        .set_active(prompt_id("globex", "triage-issue"), true, None, "t")
        .await
        .unwrap();
    let (after, globex) = effective(&f, "globex").await;
    assert!(globex.iter().any(|(n, _)| n == "triage-issue"), "unhidden");
    assert!(
        after > before,
        "the view's revision moved: {before} -> {after}"
    );

    f.editor
        .set_active(prompt_id("acme", "release-notes"), false, None, "t")
        .await
        .unwrap();
    let (_, acme) = effective(&f, "acme").await;
    assert!(
        !acme.iter().any(|(n, _)| n == "release-notes"),
        "hidden for acme"
    );
    let (_, globex) = effective(&f, "globex").await;
    assert!(
        globex.iter().any(|(n, _)| n == "release-notes"),
        "only for acme"
    );

    f.editor
        .delete(prompt_id("acme", "review-pr"), None, "t")
        .await
        .unwrap();
    let (_, acme) = effective(&f, "acme").await;
    let review = &acme.iter().find(|(n, _)| n == "review-pr").unwrap().1;
    assert!(
        review.contains("Check correctness first"),
        "the default is back: {review}"
    );
}

async fn rollback_saves_the_old_content_as_a_new_version(f: Fixture) {
    let id = prompt_id("", "greet");
    f.editor
        .put(id.clone(), &prompt("hello"), None, "a", "")
        .await
        .unwrap();
    f.editor
        .put(id.clone(), &prompt("HELLO!!"), None, "a", "")
        .await
        .unwrap();
    let rolled_back = f
        .editor
        .rollback(id.clone(), 1, Some(2), "b", "")
        .await
        .unwrap();
    assert_eq!(rolled_back.action, ChangeAction::Rollback);
    assert_eq!(rolled_back.restored_version, Some(1));
    let logged = f
        .store
        .changes_after(rolled_back.revision - 1, 1, None, None)
        .await
        .unwrap();
    assert_eq!(
        (logged[0].action, logged[0].restored_version),
        (ChangeAction::Rollback, Some(1)),
        "the change log keeps what the rollback restored"
    );
    let history = f.catalog.history(&id).await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].body, history[0].body);
    assert_eq!(history[2].message, "rollback to version 1");
    f.editor
        .rollback(id.clone(), 1, Some(3), "b", "  the shouting was a mistake ")
        .await
        .unwrap();
    let history = f.catalog.history(&id).await.unwrap();
    assert_eq!(
        history[3].message, "rollback to version 1: the shouting was a mistake",
        "the reason given is recorded with the version"
    );
    let (_, view) = effective(&f, "").await;
    assert_eq!(view, [("greet".to_owned(), "hello".to_owned())]);
    let diff = f.catalog.diff(&id, 1, 2).await.unwrap();
    assert!(
        diff.contains("-") && diff.contains("+") && diff.contains("HELLO!!"),
        "{diff}"
    );
}

async fn a_failed_import_changes_nothing(f: Fixture) {
    import_example(&f).await;
    let before = export(&f.store, None, None).await.unwrap();
    let latest = f.store.latest_revision().await.unwrap();
    let broken = EXAMPLE_BUNDLE
        .replace("Acme's checklist", "Acme's new checklist")
        .replace("Triage issue {{ issue }}", "Triage issue {{ issue ");
    // An import takes a plan, and a bundle with one bad template has none.
    let invalid = Bundle::parse(&broken, Format::Yaml)
        .unwrap()
        .plan()
        .unwrap_err();
    assert_eq!(
        invalid.field,
        "defaults.github.prompts.triage-issue.messages[0].text"
    );
    assert_eq!(export(&f.store, None, None).await.unwrap(), before);
    assert_eq!(f.store.latest_revision().await.unwrap(), latest);
}

async fn a_transaction_that_fails_midway_writes_nothing(f: Fixture) {
    import_example(&f).await;
    let latest = f.store.latest_revision().await.unwrap();
    let save = |id: EntryId, expected_version| Write {
        id,
        op: WriteOp::Save {
            body: prompt("new").to_json(),
            message: String::new(),
            restores: None,
        },
        expected_version,
    };
    // Two groups: the first is fine, the second conflicts, so the first must roll back too.
    let writes = [
        save(prompt_id("", "brand-new"), None),
        save(prompt_id("acme", "review-pr"), Some(99)),
    ];
    let err = f.store.apply(&writes, &[], &[], "t").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 99,
                current: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(f.store.latest_revision().await.unwrap(), latest);
    assert!(
        f.store
            .head(&prompt_id("", "brand-new"))
            .await
            .unwrap()
            .is_none()
    );
    let unknown_org = [
        save(prompt_id("", "brand-new"), None),
        save(prompt_id("ghost", "x"), None),
    ];
    let err = f
        .store
        .apply(&unknown_org, &[], &[], "t")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(f.store.latest_revision().await.unwrap(), latest);
}

async fn pruning_with_an_import_deletes_unlisted_entries(f: Fixture) {
    import_example(&f).await;
    let text = "defaults:\n  github:\n    prompts:\n      review-pr:\n        messages: [{role: user, text: only me}]\n";
    let bundle = Bundle::parse(text, Format::Yaml).unwrap();
    let dry = f
        .editor
        .import(
            &bundle.plan().unwrap(),
            Missing::Delete,
            true,
            NewOrgs::Allowed,
            "t",
        )
        .await
        .unwrap();
    assert_eq!((dry.changed, dry.removed, dry.added), (1, 2, 0), "{dry:?}");
    f.editor
        .import(
            &bundle.plan().unwrap(),
            Missing::Delete,
            false,
            NewOrgs::Allowed,
            "t",
        )
        .await
        .unwrap();
    let (_, defaults) = effective(&f, "").await;
    assert_eq!(defaults, [("review-pr".to_owned(), "only me".to_owned())]);
}

async fn the_change_log_is_gap_free_and_publishable_in_order(f: Fixture) {
    import_example(&f).await;
    let changes = f.store.unpublished(0, 1000).await.unwrap();
    let revisions: Vec<u64> = changes.iter().map(|c| c.revision).collect();
    let expected: Vec<u64> = (1..=revisions.len() as u64).collect();
    assert_eq!(revisions, expected);
    f.store.mark_published(1, 1).await.unwrap();
    assert_eq!(f.store.unpublished(0, 1000).await.unwrap()[0].revision, 2);
    // A round of the relay marks its whole run at once.
    f.store.mark_published(2, 4).await.unwrap();
    assert_eq!(f.store.unpublished(0, 1000).await.unwrap()[0].revision, 5);
    let acme: Vec<String> = f
        .store
        .changes_after(0, 100, Some("acme"), None)
        .await
        .unwrap()
        .iter()
        .map(|c| c.org.as_str().to_owned())
        .collect();
    assert!(acme.iter().all(|o| o.is_empty() || o == "acme") && acme.contains(&"acme".to_owned()));
}

async fn export_round_trips_through_import(f: Fixture) {
    import_example(&f).await;
    let exported = export(&f.store, None, None).await.unwrap();
    assert_eq!(
        exported,
        Bundle::parse(EXAMPLE_BUNDLE, Format::Yaml).unwrap()
    );
    let report = f
        .editor
        .import(
            &exported.plan().unwrap(),
            Missing::Keep,
            true,
            NewOrgs::Allowed,
            "t",
        )
        .await
        .unwrap();
    assert_eq!(report.unchanged, report.entries.len());
}

async fn hostile_text_is_stored_byte_exact(f: Fixture) {
    let text = "'; DROP TABLE entries; -- \u{202e}ünïcödé 🦀 \\x00 %s $1 ? \r\n\t";
    let content = prompt(text);
    let id = prompt_id("", "hostile");
    f.editor
        .put(id.clone(), &content, None, "t", "")
        .await
        .unwrap();
    let (_, view) = effective(&f, "").await;
    assert_eq!(view[0].1, text);
}

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _backend) = super::sqlite().await;
                    super::$case(super::fixture(store)).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _backend) = super::postgres().await;
                    super::$case(super::fixture(store)).await;
                }
            )*
        }
    };
}

on_both_stores!(
    versions_count_up_and_a_stale_expected_version_conflicts,
    concurrent_writers_on_one_entry_one_wins_per_version,
    the_example_resolves_per_org,
    hide_unhide_and_deleting_an_override_bring_the_default_back,
    rollback_saves_the_old_content_as_a_new_version,
    a_failed_import_changes_nothing,
    a_transaction_that_fails_midway_writes_nothing,
    pruning_with_an_import_deletes_unlisted_entries,
    the_change_log_is_gap_free_and_publishable_in_order,
    export_round_trips_through_import,
    hostile_text_is_stored_byte_exact,
);
