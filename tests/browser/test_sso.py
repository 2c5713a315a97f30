"""Single sign-on to the web UI with OpenID Connect, against a real OpenID provider
(`oidc-provider-mock`, pinned, on a free port) and the real binary: the whole flow in Chromium
at desktop and phone sizes, and the hostile cases — a wrong or foreign state, a replayed code, a
code whose ID token carries another sign-in's nonce, a code issued to another client, an expired
ID token, the provider refusing — each refused with the reason and no session opened.

The provider is `localhost`, the service `127.0.0.1`: the browser crosses sites on the way
there and back, as it does with a real provider."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx2
import oidc_provider_mock
import pytest
import werkzeug.serving
from browser_support import SECRET, token
from conftest import Service, start_with_the_bundle
from mcp_config_client.testing import free_port
from playwright.sync_api import Page, expect

# The provider speaks plain HTTP on loopback; its library refuses that unless told.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

PHONE = {"width": 390, "height": 844}
AXE = os.environ.get("AXE_CORE_JS")


@contextmanager
def provider(
    port: int = 0,
    token_max_age: timedelta = timedelta(hours=1),
    token_delay: float = 0.0,
    token_client: str | None = None,
) -> Iterator[str]:
    """An OpenID provider on `port` (0: a free one); yields its issuer URL.

    The library's provider does not check PKCE; this one does, as real providers do: a code
    is exchanged only with the verifier of the challenge it was issued under. `token_delay`
    holds each token answer that long after its tokens were made; `token_client` has every
    code exchanged as that client's (so its ID token is for that client)."""
    app = oidc_provider_mock.app(access_token_max_age=token_max_age)
    challenges: dict[str, str] = {}

    def authorize(environ, start_response):
        query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))

        def remember(status, headers, *rest):
            location = dict(headers).get("Location", "")
            code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query)).get("code")
            if code and query.get("code_challenge_method") == "S256":
                challenges[code] = query.get("code_challenge", "")
            return start_response(status, headers, *rest)

        return app(environ, remember)

    def token(environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        form = dict(urllib.parse.parse_qsl(body.decode()))
        challenge = challenges.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        proof = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge is not None and proof != challenge:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [b'{"error": "invalid_grant", "error_description": "PKCE verifier does not match"}']
        if token_client is not None:
            credentials = base64.b64encode(f"{token_client}:a-client-secret".encode()).decode()
            environ["HTTP_AUTHORIZATION"] = f"Basic {credentials}"
        environ["wsgi.input"] = io.BytesIO(body)
        answer = list(app(environ, start_response))  # the tokens are made as the body is read
        time.sleep(token_delay)
        return answer

    def served(environ, start_response):
        path = environ.get("PATH_INFO")
        if path == "/oauth2/authorize" and environ["REQUEST_METHOD"] == "POST":
            return authorize(environ, start_response)
        if path == "/oauth2/token":
            return token(environ, start_response)
        return app(environ, start_response)

    server = werkzeug.serving.make_server("localhost", port, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def set_user(issuer: str, sub: str, claims: dict) -> None:
    """The claims the provider puts in `sub`'s ID token."""
    answer = httpx2.put(f"{issuer}/users/{urllib.parse.quote(sub)}", json=claims)
    assert answer.status_code == 204, answer.text


def sso_service(workdir: Path, issuer: str) -> Service:
    """The service in mode jwt with single sign-on at `issuer`, the example bundle imported."""
    service = Service(workdir, ["--auth", "jwt", "--jwt-secret", SECRET])
    service._command += [
        "--oidc-issuer",
        issuer,
        "--oidc-client-id",
        "mcp-config",
        "--oidc-client-secret",
        "a-client-secret",
        "--oidc-redirect-url",
        f"{service.http_url}/ui/login/oidc/callback",
        "--oidc-group-role",
        "prompt-admins=admin,prompt-writers=editor",
        "--oidc-global-group",
        "platform-admins",
        "--oidc-name",
        "Example SSO",
    ]
    return start_with_the_bundle(service)


def wait_for_discovery(service: Service, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while "single sign-on is unavailable" in httpx2.get(f"{service.http_url}/ui/login").text:
        assert time.monotonic() < deadline, "the provider was not discovered"
        time.sleep(0.2)


@pytest.fixture
def idp() -> Iterator[str]:
    with provider() as issuer:
        set_user(issuer, "ann@example.com", {"email": "ann@example.com", "org": "acme", "groups": ["prompt-writers"]})
        set_user(issuer, "root@example.com", {"email": "root@example.com", "roles": ["admin"], "groups": ["platform-admins"]})
        set_user(issuer, "nia@example.com", {"email": "nia@example.com", "roles": ["admin"]})
        set_user(issuer, "sam@example.com", {"email": "sam@example.com", "org": "acme", "groups": ["sales"]})
        yield issuer


@pytest.fixture
def signed(tmp_path: Path, idp: str) -> Iterator[Service]:
    service = sso_service(tmp_path, idp)
    wait_for_discovery(service)
    yield service
    service.kill()


def closed_network(page: Page) -> None:
    """Nothing leaves the machine: the provider's pages link a stylesheet on a CDN."""
    page.route(re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"), lambda route: route.abort())


def sign_in_with_sso(page: Page, service: Service, sub: str) -> None:
    page.goto(f"{service.http_url}/ui/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_single_sign_on_signs_in_with_the_mapped_rights_and_out_at_the_provider(
    page: Page, signed: Service, width: str
) -> None:
    closed_network(page)
    if width == "phone":
        page.set_viewport_size(PHONE)
    base = signed.http_url
    sign_in_with_sso(page, signed, "ann@example.com")
    # The callback's page moves on to the overview by itself.
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    menu = page.get_by_role("navigation", name="Main")
    expect(menu).to_contain_text("Signed in as ann@example.com (acme)")

    cookies = {c["name"]: c for c in page.context.cookies(f"{base}/ui/")}
    session = cookies["mcp_config_sso"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/ui"
    assert "mcp_config_sign_in" not in cookies, "the state's cookie outlived the sign-in"

    # The prompt-writers group maps to editor, the org claim to acme: acme's pages open, with
    # an edit control; another org's do not.
    page.goto(f"{base}/ui/orgs/acme/github/prompts/review-pr")
    expect(page.get_by_role("link", name="Edit")).to_be_visible()
    answer = page.goto(f"{base}/ui/orgs/globex/github")
    assert answer is not None and answer.status == 403

    # Signing out ends the session here and at the provider, then comes back to sign-in.
    page.goto(f"{base}/ui/")
    menu.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="End Session")).to_be_visible()
    assert "id_token_hint=" in page.url
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The old session id is dead on the server, not only forgotten by the browser.
    stale = httpx2.get(f"{base}/ui/", cookies={"mcp_config_sso": session["value"]})
    assert stale.status_code == 303 and stale.headers["location"] == "/ui/login"


def test_every_sign_in_gets_a_new_session_id(page: Page, signed: Service) -> None:
    closed_network(page)
    sign_in_with_sso(page, signed, "root@example.com")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Signed in as root@example.com")
    first = {c["name"]: c["value"] for c in page.context.cookies(f"{signed.http_url}/ui/")}["mcp_config_sso"]
    page.goto(f"{signed.http_url}/ui/login")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.get_by_role("button", name="root@example.com").first.click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    second = {c["name"]: c["value"] for c in page.context.cookies(f"{signed.http_url}/ui/")}["mcp_config_sso"]
    assert second != first
    gone = httpx2.get(f"{signed.http_url}/ui/", cookies={"mcp_config_sso": first})
    assert gone.status_code == 303, "the session a new sign-in replaced still works"
    # The global admin (roles claim) sees the admins' menu.
    page.goto(f"{signed.http_url}/ui/")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Upstreams")).to_be_visible()


def test_a_user_without_a_role_is_told_why(page: Page, signed: Service) -> None:
    closed_network(page)
    sign_in_with_sso(page, signed, "sam@example.com")
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("you signed in as sam@example.com, but nothing grants you a role here")
    expect(problem).to_contain_text('"groups" claim lists sales')
    expect(problem).to_contain_text("the groups that grant roles are prompt-admins, prompt-writers")
    assert "mcp_config_sso" not in {c["name"] for c in page.context.cookies(f"{signed.http_url}/ui/")}
    answer = page.goto(f"{signed.http_url}/ui/")
    assert answer is not None
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # No org claim would mean every org: only the global group's members may sign in so.
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.get_by_placeholder("sub").fill("nia@example.com")
    page.get_by_role("button", name="Authorize").click()
    expect(problem).to_contain_text('the ID token has no org claim "org"')
    expect(problem).to_contain_text("only members of platform-admins may sign in")
    assert "mcp_config_sso" not in {c["name"] for c in page.context.cookies(f"{signed.http_url}/ui/")}


@pytest.mark.browser_context_args(bypass_csp=True)  # axe is injected as an inline script
def test_the_sign_in_page_passes_axe(page: Page, signed: Service) -> None:
    assert AXE, "AXE_CORE_JS names no axe.min.js: run through scripts/test-python.sh"
    found = []
    for scheme in ("light", "dark"):
        for size in ({"width": 1280, "height": 800}, PHONE):
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size(size)
            page.goto(f"{signed.http_url}/ui/login")
            page.add_script_tag(path=AXE)
            for v in page.evaluate("axe.run()")["violations"]:
                if v["impact"] in ("serious", "critical"):
                    found.append(f"{scheme} {size['width']}: {v['id']} {v['help']}")
    assert found == []


class Browser:
    """A browser without a browser: a cookie jar that follows no redirects."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.client = httpx2.Client(follow_redirects=False, timeout=10)

    def start(self) -> str:
        """Starts a sign-in; answers the provider's authorization URL."""
        answer = self.client.get(f"{self.service.http_url}/ui/login/oidc")
        assert answer.status_code == 303, answer.text
        return answer.headers["location"]

    def callback(self, url: str) -> httpx2.Response:
        return self.client.get(url)

    def signed_in(self) -> bool:
        return self.client.get(f"{self.service.http_url}/ui/").status_code == 200


def authorize(authorize_url: str, sub: str) -> str:
    """The person at the provider signs in as `sub`; answers the callback URL it redirects to."""
    answer = httpx2.post(authorize_url, data={"sub": sub})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def with_query(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def refusal(answer: httpx2.Response) -> str:
    found = re.search(r'<p role="alert"[^>]*>(.*?)</p>', answer.text, re.S)
    assert found, answer.text
    return html.unescape(found.group(1))


def test_hostile_callbacks_are_refused_and_open_no_session(signed: Service) -> None:
    # A state this browser was not given.
    browser = Browser(signed)
    back = authorize(browser.start(), "ann@example.com")
    answer = browser.callback(with_query(back, state="forged"))
    assert answer.status_code == 400
    assert "not started in this browser" in refusal(answer)
    assert not browser.signed_in()

    # Someone else's genuine callback link (login CSRF): this browser started nothing.
    attacker = Browser(signed)
    planted = authorize(attacker.start(), "root@example.com")
    victim = Browser(signed)
    answer = victim.callback(planted)
    assert answer.status_code == 400 and "not started in this browser" in refusal(answer)
    assert not victim.signed_in()

    # A replayed code: the first use signs in, the second finds its sign-in taken.
    browser = Browser(signed)
    authorize_url = browser.start()
    state_cookie = browser.client.cookies.get("mcp_config_sign_in")
    back = authorize(authorize_url, "ann@example.com")
    assert browser.callback(back).status_code == 200
    assert browser.signed_in()
    replayer = Browser(signed)
    replayer.client.cookies.set("mcp_config_sign_in", state_cookie, domain="127.0.0.1", path="/ui/login/oidc")
    answer = replayer.callback(back)
    assert answer.status_code == 400 and "unknown or was already used" in refusal(answer)
    assert not replayer.signed_in()

    # A code issued with another nonce (this browser's PKCE challenge kept): the ID token
    # carries that nonce, not the one this sign-in recorded.
    browser = Browser(signed)
    mine = browser.start()
    answer = browser.callback(authorize(with_query(mine, nonce="an-attackers-nonce"), "ann@example.com"))
    assert answer.status_code == 400
    assert "the ID token is not valid" in refusal(answer) and "nonce" in refusal(answer).lower()
    assert not browser.signed_in()

    # A code issued under another PKCE challenge (intercepted from another sign-in, say): the
    # provider will not exchange it with this sign-in's verifier.
    browser = Browser(signed)
    assert "code_challenge_method=S256" in (mine := browser.start())
    answer = browser.callback(authorize(with_query(mine, code_challenge="A" * 43), "ann@example.com"))
    assert answer.status_code == 400 and "did not exchange the code (invalid_grant)" in refusal(answer)
    assert not browser.signed_in()

    # Another sign-in's code under this browser's state.
    browser = Browser(signed)
    other = Browser(signed)
    mine = browser.start()
    theirs = authorize(other.start(), "ann@example.com")
    my_state = urllib.parse.parse_qs(urllib.parse.urlsplit(mine).query)["state"][0]
    answer = browser.callback(with_query(theirs, state=my_state))
    assert answer.status_code == 400 and "did not exchange the code (invalid_grant)" in refusal(answer)
    assert not browser.signed_in()

    # A code the provider issued to another client.
    browser = Browser(signed)
    foreign = with_query(browser.start(), client_id="another-client")
    answer = browser.callback(authorize(foreign, "ann@example.com"))
    assert answer.status_code == 400 and "did not exchange the code (invalid_grant)" in refusal(answer)
    assert not browser.signed_in()

    # A provider's error with a state that is not this browser's: its text is not shown.
    browser = Browser(signed)
    browser.start()
    answer = browser.callback(
        f"{signed.http_url}/ui/login/oidc/callback?state=forged&error=access_denied&error_description=Call+0800-SCAM"
    )
    assert answer.status_code == 400 and "SCAM" not in answer.text
    assert "not started in this browser" in refusal(answer)

    # The person declines at the provider (whose error answer, as RFC 6749 wants and this
    # library's provider forgets, carries the state back).
    browser = Browser(signed)
    mine = browser.start()
    denied = httpx2.post(mine, data={"action": "deny"}).headers["location"]
    my_state = urllib.parse.parse_qs(urllib.parse.urlsplit(mine).query)["state"][0]
    answer = browser.callback(with_query(denied, state=my_state))
    assert answer.status_code == 400 and "answered access_denied" in refusal(answer)
    assert not browser.signed_in()


@pytest.mark.parametrize(
    "case",
    [
        # Tokens that live a second, reaching the service two and a half seconds after they
        # were made.
        ("expired", {"token_max_age": timedelta(seconds=1), "token_delay": 2.5}, "expired"),
        # An ID token for another client: the code is issued to it and exchanged as it.
        ("another audience", {"token_client": "another-client"}, "audience"),
    ],
    ids=lambda case: case[0],
)
def test_an_id_token_that_does_not_hold_up_is_refused(tmp_path: Path, case) -> None:
    _, settings, reason = case
    with provider(**settings) as issuer:
        set_user(issuer, "ann@example.com", {"email": "ann@example.com", "org": "acme", "roles": ["editor"]})
        service = sso_service(tmp_path, issuer)
        try:
            wait_for_discovery(service)
            browser = Browser(service)
            authorize_url = browser.start()
            if settings.get("token_client"):
                authorize_url = with_query(authorize_url, client_id=settings["token_client"])
            answer = browser.callback(authorize(authorize_url, "ann@example.com"))
            assert answer.status_code == 400
            assert "the ID token is not valid" in refusal(answer) and reason in refusal(answer).lower()
            assert not browser.signed_in()
        finally:
            service.kill()


def test_an_unreachable_provider_stops_nothing_else_and_is_used_once_it_answers(tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://localhost:{port}"
    service = sso_service(tmp_path, issuer)  # started and ready: gRPC, the admin API, imports
    try:
        page = html.unescape(httpx2.get(f"{service.http_url}/ui/login").text)
        # The cause (it may name internal hosts) is in the log, not on the page.
        assert "single sign-on is unavailable: the identity provider cannot be reached" in page
        assert "localhost" not in page
        deadline = time.monotonic() + 30
        while f"discovery of {issuer}" not in service._log.read_text():
            assert time.monotonic() < deadline, "the discovery failure was not logged"
            time.sleep(0.2)
        start = httpx2.get(f"{service.http_url}/ui/login/oidc")
        assert start.status_code == 503
        # Token sign-in and API tokens are untouched.
        admin = httpx2.get(
            f"{service.http_url}/admin/v1/orgs",
            headers={"authorization": f"Bearer {token('root', None, ['admin'])}"},
        )
        assert admin.status_code == 200
        with provider(port=port) as issuer:
            set_user(issuer, "ann@example.com", {"email": "ann@example.com", "org": "acme", "roles": ["reader"]})
            wait_for_discovery(service, within=90)
            browser = Browser(service)
            assert browser.callback(authorize(browser.start(), "ann@example.com")).status_code == 200
            assert browser.signed_in()
    finally:
        service.kill()
