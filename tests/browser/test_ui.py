"""The web UI in a real browser (Debian's Chromium through Playwright) against the real binary:
every flow a person uses, selected by role and accessible name, plus what must never happen —
another site posting for the user, stored content running as script, a reader or another org's
user changing anything."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx2
import mcp_types as types
import pytest
from browser_support import REPO, screenshot, token
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_config.v1 import config_pb2, config_pb2_grpc
from mcp_config_client.testing import ConfigService
from playwright.sync_api import Page, expect

import grpc

ACME = "/ui/orgs/acme/github"
PROPAGATION = 10.0
ARIA = Path(__file__).parent / "aria"


def prompts_of(service: ConfigService, org: str) -> dict[str, config_pb2.Prompt]:
    """The view a gRPC client gets for `org`'s github prompts."""
    with grpc.insecure_channel(service.endpoint) as channel:
        stub = config_pb2_grpc.ConfigServiceStub(channel)
        view = stub.GetPrompts(config_pb2.GetPromptsRequest(org_id=org, server="github"))
    return {p.name: p for p in view.prompts}


class ListChangedListener:
    """An MCP session of org acme on the service's own endpoint, in a thread of its own, that
    records `notifications/prompts/list_changed`."""

    def __init__(self, service: ConfigService) -> None:
        self.url = f"{service.http_url}/mcp/github"
        self.ready = threading.Event()
        self.changed = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._listen()), daemon=True)
        self.thread.start()
        assert self.ready.wait(PROPAGATION), "the MCP session did not start"

    async def _listen(self) -> None:
        async def on_message(message: object) -> None:
            if isinstance(message, types.PromptListChangedNotification):
                self.changed.set()

        async with (
            httpx2.AsyncClient(headers={"x-org-id": "acme"}, timeout=30) as http,
            streamable_http_client(self.url, http_client=http) as (read, write),
            ClientSession(read, write, message_handler=on_message) as session,
        ):
            await session.initialize()
            await session.list_prompts()
            self.ready.set()
            while not self.stop.is_set():
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(PROPAGATION)


def edit_title_and_save(page: Page, base: str, title: str, message: str) -> None:
    """From the review-pr entry page: edit, change the title, review, save."""
    page.goto(f"{base}{ACME}/prompts/review-pr")
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_role("button", name="Review changes").click()
    expect(page.get_by_role("heading", name="Review review-pr")).to_be_visible()
    page.get_by_label("Change message").fill(message)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^review-pr"))).to_be_visible()


def test_edit_review_save_is_served_over_grpc_and_announced_to_mcp(page: Page, service: ConfigService) -> None:
    listener = ListChangedListener(service)
    try:
        page.goto(f"{service.http_url}/")
        expect(page.get_by_role("heading", name="Org acme")).to_be_visible()
        screenshot(page, "overview")
        page.get_by_role("link", name="github").nth(1).click()
        expect(page.get_by_role("table", name="Prompts of github")).to_be_visible()
        screenshot(page, "scope")
        page.get_by_role("link", name="review-pr").click()
        screenshot(page, "entry")
        page.get_by_role("link", name="Edit", exact=True).click()
        page.get_by_label("Title", exact=True).fill("Review with care")
        page.get_by_label("Message 1 text").fill("Review {{ repo }} slowly, {{ reviewer }}.")
        # The live check warns of a variable that is not a declared argument.
        expect(page.get_by_text(re.compile('uses "reviewer", which is not a declared argument'))).to_be_visible()
        screenshot(page, "edit")
        page.get_by_label("Message 1 text").fill("Review {{ repo }} slowly.")
        page.get_by_role("button", name="Review changes").click()
        expect(page.get_by_role("table", name="Your change")).to_contain_text("Review with care")
        screenshot(page, "review")
        page.get_by_label("Change message").fill("slower")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text(re.compile(r"Version 2, saved by anonymous .*slower"))).to_be_visible()
        assert listener.changed.wait(PROPAGATION), "no list_changed reached the MCP session"
    finally:
        listener.close()
    served = prompts_of(service, "acme")["review-pr"]
    assert served.title == "Review with care"
    assert served.messages[0].text == "Review {{ repo }} slowly."


def test_a_conflict_between_two_tabs_shows_their_change_and_reapplies_on_top(page: Page, service: ConfigService) -> None:
    other = page.context.new_page()
    for tab in (page, other):
        tab.goto(f"{service.http_url}{ACME}/prompts/review-pr/edit")
    page.get_by_label("Title", exact=True).fill("First tab")
    page.get_by_role("button", name="Review changes").click()
    page.get_by_role("button", name="Save", exact=True).click()

    other.get_by_label("Description", exact=True).fill("Second tab")
    other.get_by_role("button", name="Review changes").click()
    other.get_by_role("button", name="Save", exact=True).click()
    expect(other.get_by_role("heading", name="Someone saved review-pr in between")).to_be_visible()
    expect(other.get_by_role("table", name="Their change")).to_contain_text("First tab")
    screenshot(other, "conflict")
    other.get_by_role("button", name="Save my version on top of theirs").click()
    expect(other.get_by_text(re.compile(r"^Version 3, saved by"))).to_be_visible()
    assert prompts_of(service, "acme")["review-pr"].description == "Second tab"


def test_history_diff_of_two_versions_and_rollback(page: Page, service: ConfigService) -> None:
    base = service.http_url
    edit_title_and_save(page, base, "Second", "two")
    edit_title_and_save(page, base, "Third", "three")
    page.get_by_role("link", name="History").click()
    page.get_by_label("Compare from version 1").check()
    page.get_by_label("Compare to version 3").check()
    page.get_by_label("Layout").select_option("split")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_role("table", name="Version 1 to version 3, side by side")
    expect(diff).to_contain_text("Third")
    screenshot(page, "history")
    page.get_by_role("link", name="Roll back to version 1").click()
    expect(page.get_by_role("button", name="Roll back, creating version 4")).to_be_visible()
    page.get_by_role("button", name="Roll back, creating version 4").click()
    expect(page.get_by_role("row", name=re.compile("^4 .*rollback to version 1"))).to_be_visible()
    assert prompts_of(service, "acme")["review-pr"].title == "Review a pull request (Acme)"


def test_the_playground_renders_like_get_prompt_and_shows_a_missing_argument(page: Page, service: ConfigService) -> None:
    page.goto(f"{service.http_url}{ACME}/prompts/triage-issue")
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("repo (required)").fill("acme/api")
    page.get_by_role("button", name="Render").click()
    expect(page.get_by_role("alert")).to_contain_text('missing argument "issue"')
    page.get_by_label("issue (required)").fill("7")
    page.get_by_role("button", name="Render").click()
    rendered = page.get_by_role("region", name="Rendered message 1 (user)").locator("pre").inner_text()
    screenshot(page, "playground")
    with grpc.insecure_channel(service.endpoint) as channel:
        answer = config_pb2_grpc.ConfigServiceStub(channel).GetPrompt(
            config_pb2.GetPromptRequest(
                org_id="acme", server="github", name="triage-issue", arguments={"repo": "acme/api", "issue": "7"}
            )
        )
    assert rendered == answer.messages[0].text


def test_import_preview_then_apply_and_an_export_round_trip(page: Page, service: ConfigService, tmp_path: Path) -> None:
    page.goto(f"{service.http_url}/ui/bundle")
    with page.expect_download() as download:
        page.get_by_label("Scope").fill("acme")
        page.get_by_label("Format").select_option("json")
        page.get_by_role("button", name="Download").click()
    exported = json.loads(Path(download.value.path()).read_text())
    assert list(exported["orgs"]) == ["acme"]
    exported["orgs"]["acme"]["servers"]["github"]["prompts"]["security-review"]["title"] = "Imported title"
    bundle = tmp_path / "acme.json"
    bundle.write_text(json.dumps(exported))

    page.goto(f"{service.http_url}/ui/bundle")
    page.get_by_label("Or upload a bundle file").set_input_files(str(bundle))
    page.get_by_role("button", name="Preview import").click()
    preview = page.get_by_role("table", name="Entries of the bundle")
    expect(preview.get_by_role("row", name=re.compile("security-review update"))).to_be_visible()
    expect(preview.get_by_role("row", name=re.compile("review-pr unchanged"))).to_be_visible()
    screenshot(page, "import-preview")
    assert prompts_of(service, "acme")["security-review"].title != "Imported title", "a preview writes nothing"
    page.get_by_role("button", name="Apply all").click()
    expect(page.get_by_role("status")).to_contain_text("Applied: 0 created, 1 updated")
    assert prompts_of(service, "acme")["security-review"].title == "Imported title"

    page.get_by_label("Bundle (YAML or JSON)").fill("orgs:\n  acme:\n    servers:\n      github:\n        prompts:\n          x:\n            messages: 3\n")
    page.get_by_role("button", name="Preview import").click()
    expect(page.get_by_role("alert")).to_contain_text("messages")


def test_the_change_log_filters_and_links_each_change_to_its_diff(page: Page, service: ConfigService) -> None:
    edit_title_and_save(page, service.http_url, "Logged", "for the log")
    page.goto(f"{service.http_url}/ui/changes")
    page.get_by_label("Scope").fill("acme")
    page.get_by_label("Kind").select_option("prompts")
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("table", name="Changes, newest first")
    expect(table.get_by_role("row").nth(1)).to_contain_text("update")
    expect(table).not_to_contain_text("globex")
    screenshot(page, "changes")
    table.get_by_role("link", name="review-pr").first.click()
    expect(page.get_by_role("heading", name="Version 1 → version 2")).to_be_visible()
    expect(page.get_by_role("table", name="Version 1 to version 2")).to_contain_text("Logged")


def sign_in(page: Page, base: str, with_token: str) -> None:
    page.goto(f"{base}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Token").fill(with_token)
    page.get_by_role("button", name="Sign in").click()


def test_a_reader_sees_no_controls_and_an_org_user_never_sees_another_org(page: Page, jwt_service) -> None:
    base = jwt_service.http_url
    sign_in(page, base, token("rob", "acme", ["reader"]))
    page.goto(f"{base}{ACME}/prompts/review-pr")
    expect(page.get_by_role("heading", name=re.compile("^review-pr"))).to_be_visible()
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Deactivate")).to_have_count(0)
    forged = page.request.post(f"{base}{ACME}/prompts/review-pr/switch/deactivate", form={"expected_version": "1"})
    assert forged.status == 403
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, base, token("ann", "acme", ["editor"]))
    expect(page.get_by_role("heading", name="Org acme")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("globex")
    page.goto(f"{base}/ui/orgs/globex/github")
    expect(page.get_by_role("alert")).to_contain_text("cannot read org globex")

    page.get_by_role("link", name="Back to the overview").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Token").fill(token("github-mcp", None, ["service"]))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("service tokens cannot sign in")


class AttackerSite:
    """Another origin serving a form that posts to the UI (what a CSRF attack looks like)."""

    def __init__(self, target: str) -> None:
        form = f'<form method="post" action="{target}"><input name="expected_version" value="1"><button>Win a prize</button></form>'

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(form.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # `localhost` and `127.0.0.1` are different origins (and sites).
        self.url = f"http://localhost:{self.server.server_port}/"


def test_a_cross_origin_post_is_refused_and_changes_nothing(page: Page, service: ConfigService) -> None:
    target = f"{service.http_url}{ACME}/prompts/review-pr/switch/deactivate"
    attacker = AttackerSite(target)
    try:
        page.goto(attacker.url)
        with page.expect_response(target) as answer:
            page.get_by_role("button", name="Win a prize").click()
        assert answer.value.status == 403
    finally:
        attacker.server.shutdown()
    page.goto(f"{service.http_url}{ACME}/prompts/review-pr")
    expect(page.get_by_role("heading", name="review-pr override")).to_be_visible()


def test_hostile_content_is_shown_as_text_and_never_runs(page: Page, service: ConfigService) -> None:
    service.admin(
        "PUT",
        "/orgs/acme/servers/github/prompts/hostile",
        {
            "content": {
                "title": "<script>window.pwned = 1</script>",
                "description": '"><img src=x onerror="window.pwned = 2">',
                "messages": [{"role": "user", "text": "{{ '{{' }} not a template {{ '}}' }} <b>bold?</b>"}],
            }
        },
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path in (f"{ACME}/prompts/hostile", ACME, f"{ACME}/prompts/hostile/edit", f"{ACME}/prompts/hostile/playground"):
        page.goto(f"{service.http_url}{path}")
        assert page.evaluate("window.pwned") is None, path
    page.goto(f"{service.http_url}{ACME}/prompts/hostile")
    expect(page.get_by_text("Title: <script>window.pwned = 1</script>")).to_be_visible()
    expect(page.locator("pre").first).to_have_text("{{ '{{' }} not a template {{ '}}' }} <b>bold?</b>")
    assert errors == []


def test_keyboard_only_edit_review_and_save(page: Page, service: ConfigService) -> None:
    page.goto(f"{service.http_url}{ACME}/prompts/security-review")
    page.get_by_role("link", name="Edit", exact=True).focus()
    page.keyboard.press("Enter")
    page.get_by_label("Title", exact=True).focus()
    page.keyboard.press("Control+a")
    page.keyboard.type("Typed by keyboard")
    # Tab back to the first button of the form and press it.
    page.get_by_role("button", name="Review changes").focus()
    page.keyboard.press("Enter")
    page.get_by_label("Change message").focus()
    page.keyboard.type("keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile("Version 2, saved by anonymous"))).to_be_visible()
    assert prompts_of(service, "acme")["security-review"].title == "Typed by keyboard"


STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


@pytest.mark.parametrize(
    "name, path",
    [
        ("overview", "/ui/"),
        ("scope", ACME),
        ("entry", f"{ACME}/prompts/review-pr"),
        ("edit", f"{ACME}/prompts/review-pr/edit"),
        ("playground", f"{ACME}/prompts/review-pr/playground"),
        ("bundle", "/ui/bundle"),
        ("webhooks", "/ui/webhooks"),
    ],
)
def test_aria_snapshots_of_the_main_pages(page: Page, service: ConfigService, name: str, path: str) -> None:
    """The accessibility tree of each main page (roles and names a screen reader gets) against
    the one recorded in `aria/`; times are masked. `UPDATE_ARIA=1` records them again."""
    page.goto(f"{service.http_url}{path}")
    snapshot = STAMP.sub("<time>", page.locator("main").aria_snapshot())
    recorded = ARIA / f"{name}.yaml"
    if os.environ.get("UPDATE_ARIA") == "1":
        recorded.write_text(snapshot + "\n")
    assert recorded.exists(), f"no recorded snapshot {recorded.relative_to(REPO)}: run with UPDATE_ARIA=1"
    assert snapshot == recorded.read_text().rstrip("\n")


def test_two_replicas_on_postgres_and_redis_show_and_serve_an_edit_made_on_either(page: Page, replicas) -> None:
    a, b = replicas
    listener = ListChangedListener(b)
    try:
        edit_title_and_save(page, a.http_url, "Saved on replica a", "replicated")
        assert listener.changed.wait(PROPAGATION), "replica b's MCP session was not told"
    finally:
        listener.close()
    page.goto(f"{b.http_url}{ACME}/prompts/review-pr")
    expect(page.get_by_text(re.compile("Version 2, saved by anonymous .*replicated"))).to_be_visible()
    assert prompts_of(b, "acme")["review-pr"].title == "Saved on replica a"
    with urllib.request.urlopen(f"{b.http_url}/readyz") as ready:
        assert ready.status == 200


def test_multi_line_text_typed_in_a_form_is_stored_and_served_with_lf_only(page: Page, service: ConfigService) -> None:
    # Browsers submit textarea text with CRLF line ends; the service stores what the person typed.
    page.goto(f"{service.http_url}{ACME}/prompts/review-pr")
    page.get_by_role("link", name="Edit", exact=True).click()
    text = page.get_by_label("Message 1 text")
    text.fill("")
    text.press_sequentially("First line {{ repo }}")
    text.press("Enter")
    text.press_sequentially("Second line")
    page.get_by_role("button", name="Review changes").click()
    page.get_by_label("Change message").fill("two lines")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile(r"Version 2, saved by anonymous .*two lines"))).to_be_visible()
    served = prompts_of(service, "acme")["review-pr"]
    assert served.messages[0].text == "First line {{ repo }}\nSecond line"


PHONE = {"width": 390, "height": 844}
AXE = os.environ.get("AXE_CORE_JS")


def open_change_request(service: ConfigService) -> int:
    """Opens (and submits) a change request of acme's github scope saving a new review-pr."""
    body = service.admin(
        "POST",
        "/orgs/acme/servers/github/change-requests",
        {
            "title": "A shorter review checklist",
            "description": "Fewer steps, same care.",
            "edits": [
                {
                    "kind": "PROMPTS",
                    "key": "review-pr",
                    "content": {"title": "Review (short)", "messages": [{"role": "user", "text": "Review {{ repo }}."}]},
                }
            ],
            "submit": True,
        },
    )
    return body["id"]


def main_pages(page: Page, service: ConfigService) -> list[tuple[str, str]]:
    """The main pages as (name, path), with something in them: review-pr has a second version
    (so its history shows a diff and the change log a change) and a change request is open.
    The compare page is the one linked from an overriding entry."""
    edit_title_and_save(page, service.http_url, "Reviewed on a phone", "second version")
    request = open_change_request(service)
    page.goto(f"{service.http_url}{ACME}/prompts/review-pr")
    compare = page.get_by_role("link", name="Compare with the default").get_attribute("href")
    assert compare, "the overriding entry links to no comparison"
    return [
        ("overview", "/ui/"),
        ("scope", ACME),
        ("entry", f"{ACME}/prompts/review-pr"),
        ("edit", f"{ACME}/prompts/review-pr/edit"),
        ("history", f"{ACME}/prompts/review-pr/history"),
        ("compare", compare),
        ("org's changes", f"{ACME}/overrides"),
        ("playground", f"{ACME}/prompts/review-pr/playground"),
        ("changes", "/ui/changes"),
        ("bundle", "/ui/bundle"),
        ("orgs", "/ui/orgs"),
        ("webhooks", "/ui/webhooks"),
        ("change requests", "/ui/change-requests"),
        ("change request", f"/ui/change-requests/{request}"),
        ("who is listening", "/ui/listeners"),
        ("releases", f"{ACME}/prompts/review-pr/labels"),
        ("rollback", f"{ACME}/prompts/review-pr/rollback?to=1"),
        ("delete", f"{ACME}/prompts/review-pr/delete"),
        ("new prompt", f"{ACME}/new/prompts"),
        ("upstreams", "/ui/upstreams"),
    ]


def test_every_main_page_fits_a_390_px_phone(page: Page, service: ConfigService) -> None:
    page.set_viewport_size(PHONE)
    wide = []
    for name, path in main_pages(page, service):
        page.goto(f"{service.http_url}{path}")
        heading = page.get_by_role("heading", level=1)
        expect(heading, name).to_be_visible()
        box = heading.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (name, box)
        # clientWidth is innerWidth less a vertical scroll bar: a page no wider than it never
        # scrolls sideways.
        sizes = page.evaluate(
            "({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,"
            " inner: window.innerWidth})"
        )
        if not sizes["scroll"] <= sizes["client"] <= sizes["inner"]:
            screenshot(page, "phone-" + re.sub(r"\W+", "-", name))
            wide.append((name, path, sizes))
    assert wide == [], f"pages wider than the phone (screenshots in target/ui-screenshots): {wide}"


def test_the_skip_link_is_first_and_moves_focus_to_the_content(page: Page, service: ConfigService) -> None:
    page.goto(f"{service.http_url}/ui/")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).not_to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    # Sequential focus starts again at the content: the next Tab reaches its first control,
    # not the menu.
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search orgs, servers and keys")).to_be_focused()


def test_the_playground_keeps_a_drafts_edits_on_the_way_back(page: Page, service: ConfigService) -> None:
    text = 'Review {{ repo }} & say "why" <briefly>, by hand.'
    page.goto(f"{service.http_url}{ACME}/prompts/review-pr/edit")
    page.get_by_label("Message 1 text").fill(text)
    page.get_by_role("button", name="Try in playground").click()
    expect(page.get_by_role("heading", name=re.compile("^Playground: review-pr.*unsaved draft"))).to_be_visible()
    page.get_by_role("button", name="Back to editing this draft").click()
    expect(page.get_by_role("heading", name="Edit review-pr")).to_be_visible()
    raw = page.get_by_label("Content (YAML or JSON)")
    expect(raw).to_have_value(re.compile("by hand"))
    page.get_by_role("button", name="Edit as fields").click()
    expect(page.get_by_label("Message 1 text")).to_have_value(text)
    expect(page.get_by_label("Title", exact=True)).to_have_value("Review a pull request (Acme)")
    assert prompts_of(service, "acme")["review-pr"].messages[0].text != text, "the playground saved nothing"
    # The draft still saves against the version it started from.
    page.get_by_role("button", name="Review changes").click()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Version 2, saved by anonymous"))).to_be_visible()
    assert prompts_of(service, "acme")["review-pr"].messages[0].text == text


def test_leaving_an_edited_form_asks_first(page: Page, service: ConfigService) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    menu = page.get_by_role("navigation", name="Main")
    # Untouched, the form lets the person go.
    page.goto(f"{service.http_url}{ACME}/prompts/review-pr/edit")
    menu.get_by_role("link", name="Overview", exact=True).click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    assert dialogs == []

    page.goto(f"{service.http_url}{ACME}/prompts/review-pr/edit")
    page.get_by_label("Title", exact=True).fill("Not sent yet")
    with page.expect_event("dialog", timeout=5000):
        menu.get_by_role("link", name="Overview", exact=True).click()
    assert dialogs == ["beforeunload"]
    # Dismissed: the person stays, the edit too.
    expect(page.get_by_role("heading", name="Edit review-pr")).to_be_visible()
    expect(page.get_by_label("Title", exact=True)).to_have_value("Not sent yet")

    # Sending the form is not leaving it.
    page.get_by_role("button", name="Review changes").click()
    page.get_by_label("Change message").fill("sent")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile(r"Version 2, saved by anonymous .*sent"))).to_be_visible()
    assert dialogs == ["beforeunload"]
    assert prompts_of(service, "acme")["review-pr"].title == "Not sent yet"


def test_an_error_page_keeps_the_menu(page: Page, jwt_service) -> None:
    base = jwt_service.http_url
    sign_in(page, base, token("ann", "acme", ["editor"]))
    answer = page.goto(f"{base}{ACME}/prompts/no-such")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="Error 404")).to_be_visible()
    menu = page.get_by_role("navigation", name="Main")
    expect(menu).to_contain_text("Signed in as ann (acme)")
    expect(menu.get_by_role("link", name="Change log")).to_be_visible()
    expect(menu.get_by_role("link", name="Webhooks")).to_have_count(0)
    menu.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    sign_in(page, base, token("root", None, ["admin"]))
    page.goto(f"{base}{ACME}/prompts/no-such")
    expect(page.get_by_role("heading", name="Error 404")).to_be_visible()
    expect(menu).to_contain_text("Signed in as root")
    for link in ("Change log", "Upstreams", "Webhooks"):
        expect(menu.get_by_role("link", name=link)).to_be_visible()
    expect(menu.get_by_role("button", name="Sign out")).to_be_visible()


def test_diffs_name_their_sides(page: Page, service: ConfigService) -> None:
    page.goto(f"{service.http_url}{ACME}/prompts/review-pr")
    page.get_by_role("link", name="Compare with the default").click()
    diff = page.get_by_role("table", name="The default against the override")
    for side in ("The default", "Org acme's override"):
        expect(diff.get_by_role("columnheader").filter(has_text=side)).to_have_count(1)
    # The side named first holds the default's line, the other the override's.
    rows = diff.get_by_role("row")
    expect(rows.filter(has_text=re.compile(r"title: Review a pull request$")).get_by_role("cell").nth(2)).to_have_text("-")
    expect(rows.filter(has_text="title: Review a pull request (Acme)").get_by_role("cell").nth(2)).to_have_text("+")

    edit_title_and_save(page, service.http_url, "Second", "two")
    page.get_by_role("link", name="History").click()
    unified = page.get_by_role("table", name="Version 1 to version 2")
    expect(unified.get_by_role("columnheader").filter(has_text=re.compile(r"Version 1\b.*Version 2\b"))).to_have_count(1)
    page.get_by_label("Layout").select_option("split")
    page.get_by_role("button", name="Compare").click()
    split = page.get_by_role("table", name="Version 1 to version 2, side by side")
    expect(split.get_by_role("columnheader")).to_have_text(["Version 1", "Version 2"])
    # htmx swapped the page's <main> for the answer's: one <main>, not one inside another.
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("main").get_by_role("main")).to_have_count(0)


@pytest.mark.browser_context_args(bypass_csp=True)  # axe is injected as an inline script
@pytest.mark.parametrize("width", ["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violation(page: Page, service: ConfigService, scheme: str, width: str) -> None:
    """axe-core's checks (WCAG A and AA, best practices) of the main pages in both colour
    schemes, on a desktop and on a phone (where wide tables scroll inside themselves)."""
    assert AXE, "AXE_CORE_JS names no axe.min.js: run through scripts/test-python.sh"
    page.emulate_media(color_scheme=scheme)
    if width == "phone":
        page.set_viewport_size(PHONE)
    found = []
    for name, path in main_pages(page, service):
        page.goto(f"{service.http_url}{path}")
        page.add_script_tag(path=AXE)
        result = page.evaluate("axe.run()")
        for v in result["violations"]:
            if v["impact"] in ("serious", "critical"):
                targets = [" ".join(map(str, n["target"])) for n in v["nodes"]]
                found.append(f"{name} ({path}): {v['id']} [{v['impact']}] {v['help']}: {targets}")
    assert found == [], f"axe, {scheme} scheme:\n" + "\n".join(found)
