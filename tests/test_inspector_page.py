"""The inspector page at /brain/ui in a real headless browser, on a real `langgraph dev` with auth.

One server (BRAIN_AUTH=required, the repository's langgraph.json with its HTTP app), real
Postgres, Mem0 and e5; Debian's chromium driven through chromium-driver by selenium. Two users:
ana (company acme) and bruno (company globex), seeded through MemoryService. In the browser, ana
signs in with her key and sees, searches (each mode), reads the history of, edits and forgets her
memories; bruno's never appear. Memories holding markup render as text. A wrong or revoked key
shows a readable error. The credential-free shell (GET /brain/ui) is attacked over HTTP: no other
path or method gets the bypass, and the user it yields is refused by every handler. Every attempt
is counted in `ATTEMPTS`.

The browser test fails in CI (env CI set) when chromium or chromedriver is missing (`make browser`
installs them) and is skipped with that reason elsewhere. A screenshot is written outside the
repository, to $TMPDIR/langgraph-brain-inspector.png.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import tempfile
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from langgraph_sdk import Auth
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from starlette.requests import Request
from tests.devserver import DevServer, dev_server, offline_env

from langgraph_brain.brain import Actor, MemoryService
from langgraph_brain.db import CONNECTION_KWARGS
from langgraph_brain.migrate import amigrate_all
from langgraph_brain.server.api.caller import caller_of
from langgraph_brain.server.api.errors import ApiError
from langgraph_brain.server.auth import UI_SHELL_KIND, auth, authenticate
from langgraph_brain.server.keys import acreate_key, arevoke_key

KEY_CACHE_SECONDS = 1.0

pytestmark = pytest.mark.slow

SCREENSHOT = Path(tempfile.gettempdir()) / "langgraph-brain-inspector.png"
WAIT = 30  # seconds; searches embed with e5 on a busy 2-core machine
ATTEMPTS: list[str] = []

# Markup in memories: if any of it ran, window.__pwned would be set (or an alert would be open).
XSS_SCRIPT = "<script>window.__pwned = 'script'; alert('script')</script> marmalade recipe"
XSS_IMG = "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\"> pineapple order"
XSS_META = {"note": "<svg onload=\"window.__pwned = 'svg'\"></svg>"}
XSS_REASON = "<iframe src=javascript:window.__pwned='iframe'></iframe>"

ANA_USER = {
    "name": ("Ana Rojas", "profile"),
    "favourite_language": ("Ana writes Python every day and prefers it to Java", "preference"),
    "coffee": ("Ana drinks her espresso without sugar", "preference"),
    "home_city": ("Ana lives in Valparaiso", "profile"),
    "parking_spot": ("Temporary note: the parking spot is B12", "fact"),
    "xss_script": (XSS_SCRIPT, "fact"),
    "xss_img": (XSS_IMG, "fact"),
}
ANA_COMPANY = {"company_tax_regime": ("The company's tax regime is Pro Pyme", "company_tax")}
# bruno's secrets: never on ana's screen.
BRUNO_USER = {"name": ("Bruno Secretario drinks espresso and writes Python", "profile")}
BRUNO_COMPANY = {"globex_launch": ("Globex launch code 4242, espresso machine budget", "company_policy")}
FOREIGN = ("Bruno", "Secretario", "Globex", "4242", "globex")


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
async def keys(database_url: str) -> dict[str, str]:
    async with await psycopg.AsyncConnection.connect(database_url, **CONNECTION_KWARGS) as conn:
        await amigrate_all(conn)
        out: dict[str, str] = {}
        for name, user, company in (
            ("ana", "ana", "acme"),
            ("bruno", "bruno", "globex"),
            ("late", "ana", "acme"),
        ):
            record, key = await acreate_key(conn, user, company)
            out[name] = key
            out[f"{name}_id"] = record.key_id
    return out


@pytest.fixture(scope="module")
async def seeded(service: MemoryService, keys: dict[str, str]) -> MemoryService:
    actor: Actor = {"agent": "test-seed", "user_id": "seed"}
    for scope, entity, memories in (
        ("user", "ana", ANA_USER),
        ("company", "acme", ANA_COMPANY),
        ("user", "bruno", BRUNO_USER),
        ("company", "globex", BRUNO_COMPANY),
    ):
        for slug, (content, category) in memories.items():
            meta = XSS_META if slug == "xss_img" else {"source": "seed"}
            reason = XSS_REASON if slug == "xss_script" else "seeded by the test"
            await service.asave(
                scope, entity, slug, content, category=category, metadata=meta, actor=actor, reason=reason
            )
    return service


@pytest.fixture(scope="module")
def server(database_url: str, seeded: MemoryService) -> Iterator[DevServer]:
    # Verified keys are trusted for 1 s here (5 by default), so the revocation test waits that long.
    env = offline_env(
        DATABASE_URL=database_url, BRAIN_AUTH="required", BRAIN_AUTH_CACHE_SECONDS=str(KEY_CACHE_SECONDS)
    )
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "BRAIN_JWT_SECRET"):
        env.pop(name, None)
    with dev_server(env) as srv:
        assert "http" in srv.config, "langgraph.json has no 'http' app: the page is served by it"
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        reason = (
            "Debian's chromium and chromium-driver are needed for the inspector page test:"
            " run `make browser` (apt-get install chromium chromium-driver)"
            f" [chromium: {chromium or 'missing'}, chromedriver: {driver_path or 'missing'}]"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    options = Options()
    options.binary_location = chromium  # with the Service path below, Selenium Manager never runs
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--no-proxy-server",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


# ---------------------------------------------------------------------- browser helpers


def _wait(driver: Any, condition: Any, what: str) -> Any:
    try:
        # A list re-rendering under the condition's feet leaves stale elements: look again.
        waiting = WebDriverWait(
            driver, WAIT, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        )
        return waiting.until(lambda d: condition(d))
    except Exception as exc:
        error = driver.find_element(By.ID, "error")
        shown = error.text if error.is_displayed() else "(no error shown)"
        listed = driver.find_element(By.ID, "memories").text
        console = [entry.get("message") for entry in driver.get_log("browser")][-5:]
        failed = SCREENSHOT.with_name("langgraph-brain-inspector-failure.png")
        driver.save_screenshot(str(failed))
        raise AssertionError(
            f"timed out waiting for {what}; page error: {shown}\nlist: {listed}\nconsole: {console}"
            f"\nscreenshot: {failed}"
        ) from exc


def _by_id(driver: WebDriver, element_id: str) -> WebElement:
    return driver.find_element(By.ID, element_id)


def _open_page(driver: WebDriver, server: DevServer) -> None:
    driver.get(f"{server.url}/brain/ui")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{server.url}/brain/ui")
    _wait(driver, lambda d: _by_id(d, "login").is_displayed(), "the key prompt")


def _sign_in(driver: WebDriver, server: DevServer, key: str) -> None:
    _open_page(driver, server)
    field = _by_id(driver, "api-key")
    field.send_keys(key)
    _by_id(driver, "login-button").click()
    _wait(driver, lambda d: _by_id(d, "app").is_displayed() and _rows(d, "memories"), "ana's memories")


def _rows(driver: WebDriver, table: str) -> dict[str, str]:
    """slug -> the row's content cell text, for the rows of #memories or #results."""
    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-slug]"):
        out[row.get_attribute("data-slug") or ""] = row.find_elements(By.TAG_NAME, "td")[1].text
    return out


def _error_text(driver: WebDriver) -> str:
    _wait(driver, lambda d: _by_id(d, "error").is_displayed(), "an error message")
    return str(_by_id(driver, "error").text)


def _open_memory(driver: WebDriver, slug: str, table: str = "memories") -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{table} button[data-slug='{slug}']").click()
    _wait(
        driver,
        lambda d: _by_id(d, "detail").is_displayed() and _by_id(d, "detail-slug").text == slug,
        f"the detail of {slug}",
    )


def _assert_nothing_ran(driver: WebDriver, where: str) -> None:
    ATTEMPTS.append(f"xss: {where}")
    try:
        alert = driver.switch_to.alert
        text = alert.text
        alert.dismiss()
        raise AssertionError(f"{where}: an alert opened ({text!r}): markup in a memory ran")
    except NoAlertPresentException:
        pass
    assert driver.execute_script("return window.__pwned") is None, f"{where}: injected script ran"
    injected = driver.execute_script(
        "return document.querySelectorAll('img, svg, iframe, object, embed').length"
        " + document.scripts.length - 1"
    )
    assert injected == 0, f"{where}: an element from a memory was injected into the page"


def _page_has_no_foreign_data(driver: WebDriver, where: str) -> None:
    ATTEMPTS.append(f"cross-user: {where}")
    source = driver.page_source
    leaked = [word for word in FOREIGN if word in source]
    assert not leaked, f"{where}: bruno's data on ana's page: {leaked}"


def _db(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(sql, params))


# ---------------------------------------------------------------------- the page


def test_shell_needs_no_credentials_and_holds_no_data(server: DevServer) -> None:
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        response = http.get("/brain/ui")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'sha256-" in policy and "'unsafe-inline'" not in policy
    assert "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    for content, _ in (*ANA_USER.values(), *BRUNO_USER.values()):
        assert content not in response.text


def test_wrong_key_shows_a_readable_error(browser: WebDriver, server: DevServer) -> None:
    for credential, expected in (
        ("lgb_000000000000_not-a-real-key", "401 Unauthorized: Invalid, revoked or expired API key."),
        ("not-a-key-at-all", "401 Unauthorized: Unknown credential"),
    ):
        ATTEMPTS.append(f"credential: {credential}")
        _open_page(browser, server)
        _by_id(browser, "api-key").send_keys(credential)
        _by_id(browser, "login-button").click()
        assert expected in _error_text(browser)
        assert not _by_id(browser, "app").is_displayed(), "a refused key must not open the inspector"
        assert browser.execute_script("return sessionStorage.length") == 0, "a refused key was kept"
        assert not _rows(browser, "memories")


def test_sees_own_user_and_company_memories_never_another_users(
    browser: WebDriver, server: DevServer, keys: dict[str, str]
) -> None:
    _sign_in(browser, server, keys["ana"])
    rows = _rows(browser, "memories")
    assert set(rows) == set(ANA_USER), rows
    assert rows["name"] == "Ana Rojas"
    assert _by_id(browser, "list-title").text == "Memories of user ana"
    assert _by_id(browser, "who").text == f"key lgb_{keys['ana_id']}"
    assert keys["ana"] not in browser.page_source, "the key itself is never shown"
    _page_has_no_foreign_data(browser, "user tab")

    _by_id(browser, "tab-company").click()
    _wait(browser, lambda d: set(_rows(d, "memories")) == set(ANA_COMPANY), "acme's memories")
    assert _rows(browser, "memories")["company_tax_regime"] == "The company's tax regime is Pro Pyme"
    _page_has_no_foreign_data(browser, "company tab")

    # The key survives a reload (sessionStorage), and the page starts on the user tab again.
    browser.refresh()
    _wait(browser, lambda d: set(_rows(d, "memories")) == set(ANA_USER), "the user tab after a reload")

    _by_id(browser, "category-filter").send_keys("preference")
    _by_id(browser, "refresh").click()
    _wait(
        browser,
        lambda d: set(_rows(d, "memories")) == {"favourite_language", "coffee"},
        "the preference memories only",
    )


def test_markup_in_memories_renders_as_text(
    browser: WebDriver, server: DevServer, keys: dict[str, str]
) -> None:
    _sign_in(browser, server, keys["ana"])
    rows = _rows(browser, "memories")
    assert rows["xss_script"] == XSS_SCRIPT and rows["xss_img"] == XSS_IMG
    _assert_nothing_ran(browser, "memory list")

    _open_memory(browser, "xss_img")
    assert _by_id(browser, "detail-content").text == XSS_IMG
    assert json.loads(_by_id(browser, "detail-metadata").text) == XSS_META
    _assert_nothing_ran(browser, "memory detail and metadata")

    _open_memory(browser, "xss_script")
    _by_id(browser, "history-button").click()
    _wait(browser, lambda d: XSS_REASON in _by_id(d, "history-list").text, "the history with its reason")
    assert XSS_SCRIPT in _by_id(browser, "history-list").text
    _assert_nothing_ran(browser, "history")

    _by_id(browser, "edit-button").click()
    assert _by_id(browser, "edit-content").get_attribute("value") == XSS_SCRIPT
    _by_id(browser, "edit-cancel").click()
    _assert_nothing_ran(browser, "edit form")

    _by_id(browser, "search-query").send_keys("pineapple marmalade")
    _by_id(browser, "mode-keyword").click()
    _by_id(browser, "search-button").click()
    _wait(
        browser, lambda d: {"xss_script", "xss_img"} <= set(_rows(d, "results")), "the markup memories found"
    )
    assert _rows(browser, "results")["xss_img"] == XSS_IMG
    _assert_nothing_ran(browser, "search results")


@pytest.mark.parametrize(
    ("mode", "query", "expected"),
    [
        ("keyword", "espresso", "coffee"),
        ("vector", "which programming language does she like", "favourite_language"),
        ("hybrid", "her home city Valparaiso", "home_city"),
    ],
)
def test_search_in_each_mode(
    browser: WebDriver, server: DevServer, keys: dict[str, str], mode: str, query: str, expected: str
) -> None:
    _sign_in(browser, server, keys["ana"])
    _by_id(browser, "search-query").send_keys(query)
    _by_id(browser, f"mode-{mode}").click()
    _by_id(browser, "search-button").click()
    _wait(
        browser,
        lambda d: (
            _by_id(d, "results-card").is_displayed()
            and _by_id(d, "results-card").get_attribute("data-mode") == mode
        ),
        f"{mode} results",
    )
    slugs = [
        row.get_attribute("data-slug") for row in browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    ]
    assert slugs and slugs[0] == expected, (mode, slugs)
    assert set(slugs) <= set(ANA_USER), slugs
    assert f"({mode})" in _by_id(browser, "results-title").text
    _page_has_no_foreign_data(browser, f"{mode} search")

    # Company search: acme's memory, never globex's (which also mentions espresso).
    _by_id(browser, "tab-company").click()
    _wait(browser, lambda d: set(_rows(d, "memories")) == set(ANA_COMPANY), "the company tab")
    _by_id(browser, "search-query").clear()
    _by_id(browser, "search-query").send_keys("espresso machine budget tax regime")
    _by_id(browser, "search-button").click()
    _wait(browser, lambda d: _by_id(d, "results-card").is_displayed(), "company results")
    assert set(_rows(browser, "results")) <= set(ANA_COMPANY)
    _page_has_no_foreign_data(browser, f"{mode} company search")


def test_edit_is_saved_and_shows_in_the_history(
    browser: WebDriver, server: DevServer, keys: dict[str, str], database_url: str
) -> None:
    _sign_in(browser, server, keys["ana"])
    _open_memory(browser, "home_city")
    _by_id(browser, "edit-button").click()
    content = _by_id(browser, "edit-content")
    content.clear()
    content.send_keys("Ana lives in Santiago")
    _by_id(browser, "edit-reason").send_keys("moved in March")
    _by_id(browser, "edit-save").click()
    _wait(browser, lambda d: "Saved 'home_city'" in _by_id(d, "status").text, "the save confirmation")
    _wait(browser, lambda d: _by_id(d, "detail-content").text == "Ana lives in Santiago", "the new content")
    assert _rows(browser, "memories")["home_city"] == "Ana lives in Santiago"

    rows = _db(
        database_url,
        "SELECT content, version, category FROM brain_memories"
        " WHERE scope = 'user' AND entity_id = 'ana' AND slug = 'home_city'",
    )
    assert rows == [("Ana lives in Santiago", 2, "profile")]
    history = _db(
        database_url,
        "SELECT old_content, new_content, actor, reason FROM brain_history"
        " WHERE entity_id = 'ana' AND slug = 'home_city' ORDER BY id DESC LIMIT 1",
    )
    assert history == [
        (
            "Ana lives in Valparaiso",
            "Ana lives in Santiago",
            {"agent": "http-api", "user_id": "ana"},
            "moved in March",
        )
    ]

    _by_id(browser, "history-button").click()
    _wait(browser, lambda d: "moved in March" in _by_id(d, "history-list").text, "the edit in the history")
    text = _by_id(browser, "history-list").text
    assert "Valparaiso" in text and "Santiago" in text and "http-api, user ana" in text
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(SCREENSHOT))
    print(f"\ninspector screenshot: {SCREENSHOT}")

    # A bad edit is refused with the server's reason, and nothing changes.
    _by_id(browser, "edit-button").click()
    _by_id(browser, "edit-category").clear()
    _by_id(browser, "edit-category").send_keys("Not A Category!")
    _by_id(browser, "edit-save").click()
    assert "422" in (message := _error_text(browser)) and "category" in message, message
    assert _db(
        database_url,
        "SELECT version, category FROM brain_memories WHERE entity_id = 'ana' AND slug = 'home_city'",
    ) == [(2, "profile")]


def test_forget_removes_the_memory(
    browser: WebDriver, server: DevServer, keys: dict[str, str], database_url: str
) -> None:
    _sign_in(browser, server, keys["ana"])
    _open_memory(browser, "parking_spot")
    _by_id(browser, "forget-button").click()
    confirm = _by_id(browser, "forget-confirm")
    assert confirm.is_displayed() and "parking_spot" in confirm.text
    assert _db(database_url, "SELECT count(*) FROM brain_memories WHERE slug = 'parking_spot'") == [(1,)]
    confirm.click()
    _wait(browser, lambda d: "Forgot 'parking_spot'" in _by_id(d, "status").text, "the forget confirmation")
    _wait(browser, lambda d: "parking_spot" not in _rows(d, "memories"), "the memory gone from the list")
    assert not _by_id(browser, "detail").is_displayed()
    assert _db(database_url, "SELECT count(*) FROM brain_memories WHERE slug = 'parking_spot'") == [(0,)]
    actions = _db(
        database_url,
        "SELECT action, actor FROM brain_history WHERE slug = 'parking_spot' ORDER BY id DESC LIMIT 1",
    )
    assert actions[0][1] == {"agent": "http-api", "user_id": "ana"}, actions


async def test_revoked_key_sends_the_page_back_to_the_key_prompt(
    browser: WebDriver, server: DevServer, keys: dict[str, str], database_url: str
) -> None:
    _sign_in(browser, server, keys["late"])
    async with await psycopg.AsyncConnection.connect(database_url, **CONNECTION_KWARGS) as conn:
        await arevoke_key(conn, keys["late_id"])
    await asyncio.sleep(KEY_CACHE_SECONDS + 0.2)  # the server trusts a verified key this long at most
    ATTEMPTS.append("credential: key revoked during the session")
    _by_id(browser, "refresh").click()
    assert "401 Unauthorized: Invalid, revoked or expired API key." in _error_text(browser)
    _wait(browser, lambda d: _by_id(d, "login").is_displayed(), "the key prompt")
    assert browser.execute_script("return sessionStorage.length") == 0
    assert not _rows(browser, "memories"), "memories stay on screen after the key stopped working"


# ---------------------------------------------------------------------- the bypass, attacked


def _raw_get(server: DevServer, method: str, path: str) -> tuple[int, str]:
    """A request with the path sent byte for byte (httpx would normalise '..' and '//')."""
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("Content-Length", "0")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


SECRETS = ("Ana Rojas", "Pro Pyme", "Bruno", "Globex", "espresso")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/brain/ui"),
        ("PUT", "/brain/ui"),
        ("DELETE", "/brain/ui"),
        ("PATCH", "/brain/ui"),
        ("GET", "/brain/ui/"),
        ("GET", "/brain/UI"),
        ("GET", "/brain//ui"),
        ("GET", "/brain/ui/../memories/user"),
        ("GET", "/brain/ui%2F..%2Fmemories%2Fuser"),
        ("GET", "/brain/ui/history"),
        ("GET", "/brain/ui;/../memories/user"),
        ("GET", "/brain/memories/user"),
        ("GET", "/brain/memories/user?user_id=ana"),
        ("GET", "/brain/memories/user/name"),
        ("GET", "/brain/memories/company"),
        ("GET", "/brain/memories/user/name/history"),
        ("GET", "/brain/memories/user/export"),
        ("POST", "/brain/search/user"),
        ("GET", "/brain/context"),
        ("GET", "/brain/stats"),
        ("GET", "/brain/conversations"),
        ("GET", "/brain/metrics"),
        ("DELETE", "/brain/memories/user/name"),
        ("POST", "/threads/search"),
        ("GET", "/store/items?namespace=user.ana&key=name"),
        ("POST", "/store/items/search"),
        ("POST", "/store/namespaces"),
        ("POST", "/runs/wait"),
    ],
)
def test_no_other_request_gets_the_credential_free_bypass(
    server: DevServer, database_url: str, method: str, path: str
) -> None:
    ATTEMPTS.append(f"no credentials: {method} {path}")
    before = _db(database_url, "SELECT count(*), max(version) FROM brain_memories")
    status, body = _raw_get(server, method, path)
    # Refused by authentication itself, before any route: the bypass did not apply.
    assert status == 401 and "Authentication required" in body, (method, path, status, body[:300])
    leaked = [s for s in SECRETS if s in body]
    assert not leaked, (method, path, leaked)
    assert _db(database_url, "SELECT count(*), max(version) FROM brain_memories") == before


class _ServerUser:
    """A returned user dict as langgraph-api hands it on (`ProxyUser` over a `DotDict`: attribute,
    key and `.get` access, `is_authenticated` defaulting to True). langgraph_api cannot be imported
    outside its server (its config needs REDIS_URI), so this mirrors that wrapper."""

    def __init__(self, user: dict[str, Any]) -> None:
        self._user = user

    def __getattr__(self, name: str) -> Any:
        try:
            return self._user[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def is_authenticated(self) -> bool:
        return bool(self._user.get("is_authenticated", True))

    @property
    def display_name(self) -> str:
        return str(self._user.get("display_name", self._user["identity"]))

    def __getitem__(self, key: str) -> Any:
        return self._user[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._user.get(key, default)


async def test_the_shell_user_is_refused_by_every_handler_and_the_api() -> None:
    """The user GET /brain/ui yields, handed to every authorization handler and to the memory API."""
    shell = await authenticate(authorization=None, headers={}, path="/brain/ui", method="GET")
    assert dict(shell) == {
        "identity": "",
        "kind": UI_SHELL_KIND,
        "is_authenticated": False,
        "permissions": [],
    }
    user: Any = _ServerUser(dict(shell))
    assert user.is_authenticated is False

    hints = typing.get_type_hints(Auth.types.AuthContext)
    resources, actions = typing.get_args(hints["resource"]), typing.get_args(hints["action"])
    # Every registered handler (langgraph-api picks one of these per request; all must refuse).
    registered = [(key, h) for key, hs in auth._handlers.items() for h in hs]
    registered += [(("*", "*"), h) for h in auth._global_handlers]
    assert registered, "no authorization handlers registered"
    refused = 0
    for (resource, action), handler in registered:
        for res in resources if resource == "*" else (resource,):
            for act in actions if action == "*" else (action,):
                if res == "assistants" and act in ("read", "search"):
                    continue  # graphs are readable by everyone (server/auth.py), no user data
                ctx = Auth.types.AuthContext(permissions=[], user=user, resource=res, action=act)
                value: dict[str, Any] = {"namespace": ("user", ""), "metadata": {}, "kwargs": {}}
                ATTEMPTS.append(f"shell user: {res}.{act}")
                with pytest.raises(Auth.exceptions.HTTPException) as refused_by:
                    await handler(ctx=ctx, value=value)
                assert refused_by.value.status_code == 403, (res, act)
                refused += 1
    assert refused >= 20

    ATTEMPTS.append("shell user: memory API caller")
    request = Request(
        {"type": "http", "method": "GET", "path": "/brain/memories/user", "headers": [], "user": user}
    )
    with pytest.raises(ApiError) as api_refused:
        caller_of(request)
    assert api_refused.value.status == 401


def test_attempt_count_is_reported() -> None:
    """Printed for the README; the tests above fail on any leak."""
    print(f"\ninspector attacks and cross-user checks: {len(ATTEMPTS)}, leaks: 0; screenshot: {SCREENSHOT}")
    assert len(ATTEMPTS) >= 50
