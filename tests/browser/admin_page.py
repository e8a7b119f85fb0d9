"""The admin web page in headless Chromium, against the real revokd binary.

Each step is one claim of the README's admin page section; a failed claim
stops the run with its name. Run by tests/browser/run.sh (scripts/test
browser).
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# A test run must not dirty the checkout: screenshots go under target/ unless
# BROWSER_SCREENSHOTS names the README's folder (deploy/screenshots) on purpose.
SHOTS = os.path.abspath(os.environ.get("BROWSER_SCREENSHOTS") or os.path.join(ROOT, "target", "browser-screenshots"))

ADMIN_KEY = "browser-admin-key-0123456789abcdef"
CLIENT_KEY = "browser-client-key-0123456789abcdef"
# A provider whose discovery cannot be reached: the page shows it as down.
ISS = "http://127.0.0.1:9/"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# A provider that is reachable: its discovery and JWKS (one EC P-256 public
# key, no private half anywhere) served by this script, so the health table
# (and the README's screenshot) shows a provider up beside the one down.
EC_JWK = {
    "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": "browser-1",
    "x": "Y6D5wypiGpL2dt8nnB0vcnNNN_Ui8IVCAB98QhUffLM",
    "y": "T69DwCo-nqD900oZ-3To7WlqXiFq8NdGn-deKqDqxeQ",
}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def ok(claim):
    print(f"ok - {claim}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Provider:
    """Discovery and JWKS of a reachable provider on a loopback port."""

    def __init__(self):
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                documents = {
                    "/.well-known/openid-configuration": {
                        "issuer": provider.issuer,
                        "jwks_uri": provider.issuer + "/jwks",
                        "id_token_signing_alg_values_supported": ["ES256"],
                        "backchannel_logout_supported": True,
                    },
                    "/jwks": {"keys": [EC_JWK]},
                }
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Revokd:
    """The real binary on an embedded store of its own; no REVOKD_* of the
    caller's reaches it."""

    def __init__(self, work, admin_ui, reachable=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data = tempfile.mkdtemp(dir=work)
        env = {
            "PATH": os.environ["PATH"],
            "REVOKD_LISTEN": f"127.0.0.1:{self.port}",
            "REVOKD_EMBEDDED__PATH": os.path.join(data, "store"),
            "REVOKD_LOG__FORMAT": "json",
            "REVOKD_KEYS": (
                f'[{{name="ops", role="admin", key="{ADMIN_KEY}"}}, '
                f'{{name="home-assistant", role="client", key="{CLIENT_KEY}"}}]'
            ),
            "REVOKD_PROVIDERS": (
                f'[{{name="authentik", issuer="{ISS}", client_ids=["home-assistant"]}}'
                + (f', {{name="keycloak", issuer="{reachable}", client_ids=["home-assistant"]}}' if reachable else "")
                + "]"
            ),
        }
        if admin_ui:
            env["REVOKD_ADMIN_UI"] = "true"
        self.log = open(os.path.join(data, "revokd.log"), "w")
        self.process = subprocess.Popen([BIN], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise SystemExit(f"revokd did not start: see {self.log.name}")

    def request(self, method, path, body=None, key=None, form=None, headers=None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = form.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def json(self, method, path, **kw):
        status, _, body = self.request(method, path, **kw)
        return status, json.loads(body) if body else None

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()
        with open(self.log.name) as f:
            assert "panicked" not in f.read(), f"revokd panicked: {self.log.name}"


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in [
        "--headless=new",
        "--no-sandbox",  # root in a container: no user namespace sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        # No network but loopback: every name other than 127.0.0.1 fails to
        # resolve, so the page works offline or not at all.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    return driver


def wait(driver, condition, what, timeout=10):
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except Exception as e:  # noqa: BLE001 - say which claim timed out
        raise AssertionError(f"timed out waiting for {what}: {e!r}") from None


def visible_text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def session_rows(driver):
    return [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#sessions tbody tr")]


def sign_in(driver, revokd, key):
    driver.get(revokd.url + "/admin/")
    field = wait(driver, EC.element_to_be_clickable((By.ID, "key")), "the key field")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()


def csp_messages(driver):
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def audit_count(revokd):
    status, page = revokd.json("GET", "/v1/admin/events?limit=500", key=ADMIN_KEY)
    assert status == 200, page
    return len(page["events"])


def test_headers(revokd):
    for path, kind in [("/admin/", "text/html"), ("/admin/admin.js", "text/javascript"), ("/admin/admin.css", "text/css")]:
        status, headers, body = revokd.request("GET", path)
        h = {k.lower(): v for k, v in headers.items()}
        assert status == 200, (path, status)
        assert h.get("content-security-policy") == CSP, (path, h.get("content-security-policy"))
        assert h.get("x-content-type-options") == "nosniff", path
        assert h.get("referrer-policy") == "no-referrer", path
        assert h.get("content-type", "").startswith(kind), (path, h.get("content-type"))
        assert "set-cookie" not in h, path
        etag = h.get("etag", "")
        assert etag.startswith('"') and len(etag) > 10, (path, etag)
        again, _, empty = revokd.request("GET", path, headers={"If-None-Match": etag})
        assert again == 304 and empty == b"", (path, again)
    ok("the page and its files carry the strict CSP, nosniff, no-referrer, a strong ETag (304 on revalidation) and no cookie")
    status, _, _ = revokd.request("GET", "/admin/../Cargo.toml")
    assert status == 404, status
    status, _, _ = revokd.request("GET", "/admin/secret.js")
    assert status == 404, status
    ok("only the embedded files are served (404 for anything else under /admin/)")


def scenario(revokd):
    """A login registered by an app, and two refused logout tokens."""
    expires = int(time.time()) + 3600
    status, answer = revokd.json(
        "POST",
        "/v1/sessions",
        key=CLIENT_KEY,
        body={"iss": ISS, "sid": "sid-alice-1", "sub": "alice", "token_ids": ["ha-refresh-alice"], "expires_at": expires},
    )
    assert status == 200, answer
    # Another subject's login, which alice's session list must not show.
    status, answer = revokd.json(
        "POST",
        "/v1/sessions",
        key=CLIENT_KEY,
        body={"iss": ISS, "sid": "sid-bob-1", "sub": "bob", "token_ids": ["ha-refresh-bob"], "expires_at": expires},
    )
    assert status == 200, answer
    status, answer = revokd.json("GET", "/v1/check?jti=ha-refresh-alice", key=CLIENT_KEY)
    assert status == 200 and answer["active"] is True, answer
    # A token for the provider, for another client: refused by a rule.
    forged = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjkvIn0.c2ln"
    revokd.request("POST", "/backchannel-logout", form=f"logout_token={forged}")
    revokd.request("POST", "/backchannel-logout", form="logout_token=not-a-jwt")


def wait_for_keys(revokd, check):
    """Until /readyz reports the reachable provider up (its keys loaded)."""
    for _ in range(100):
        _, ready = revokd.json("GET", "/readyz")
        if ready["checks"].get(check, {}).get("status") == "up":
            return
        time.sleep(0.1)
    raise AssertionError(f"{check} never came up: {ready}")


def test_wrong_key(driver, revokd):
    before = audit_count(revokd)
    sign_in(driver, revokd, "wrong-key-0123456789abcdef")
    error = wait(driver, EC.visibility_of_element_located((By.ID, "error")), "the error")
    assert "401" in error.text and "not accepted" in error.text, error.text
    assert not driver.find_element(By.ID, "console").is_displayed()
    assert driver.find_element(By.ID, "sign-in-panel").is_displayed()
    assert audit_count(revokd) == before
    ok("a wrong key shows the API's 401 and nothing else: no console, no audit event")


def test_disable(driver, revokd):
    sign_in(driver, revokd, ADMIN_KEY)
    wait(driver, EC.visibility_of_element_located((By.ID, "console")), "the console")
    assert not driver.find_element(By.ID, "error").is_displayed()
    # Health: the store and mirror up, the unreachable provider down.
    wait(driver, lambda d: "provider:authentik" in visible_text(d, "health"), "the health table")
    health = visible_text(driver, "health")
    assert "store" in health and "mirror" in health and "down" in health, health
    rows = [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#health tbody tr")]
    assert any("provider:keycloak up" in r for r in rows), rows
    assert any("provider:authentik down" in r for r in rows), rows
    assert "ready" in visible_text(driver, "ready-state")
    ok("signed in: health lists the store, the mirror, the provider that is up and the one that is down")
    logouts = visible_text(driver, "logouts")
    assert "audience_mismatch" in logouts and "malformed" in logouts and "rejected" in logouts, logouts
    ok("recent logout tokens show their verdicts and the rule that refused each")
    wait(driver, lambda d: "Feed lag" in visible_text(d, "mirror"), "the mirror table")
    mirror = visible_text(driver, "mirror")
    assert 'kind="subject_disabled"' in mirror and "Full mirror loads" in mirror, mirror
    ok("mirror and feed: feed lag, entries by kind, full loads")

    driver.find_element(By.ID, "subject-iss").send_keys(ISS)
    driver.find_element(By.ID, "subject-sub").send_keys("alice")
    driver.find_element(By.ID, "subject-reason").send_keys("laptop stolen <script>alert(1)</script>")
    driver.find_element(By.CSS_SELECTOR, "#subject-form button[type=submit]").click()
    wait(driver, EC.visibility_of_element_located((By.ID, "subject-status")), "the subject status")
    assert visible_text(driver, "status-disabled") == "no"
    wait(driver, EC.visibility_of_element_located((By.ID, "subject-sessions")), "the subject's sessions")
    sessions = session_rows(driver)
    assert len(sessions) == 1, sessions
    assert all(v in sessions[0] for v in ["ha-refresh-alice", "sid-alice-1", "home-assistant"]), sessions
    assert "ha-refresh-bob" not in visible_text(driver, "sessions")
    assert "1 registered token id " in visible_text(driver, "sessions-note"), visible_text(driver, "sessions-note")
    ok("the look-up lists alice's session as the app registered it (token id, sid, app), and not bob's")
    driver.find_element(By.ID, "action-disable").click()
    dialog = wait(driver, EC.visibility_of_element_located((By.ID, "confirm")), "the confirmation")
    assert "alice" in dialog.text and "Disable" in dialog.text, dialog.text
    # Cancel first: nothing happens.
    before = audit_count(revokd)
    driver.find_element(By.ID, "confirm-cancel").click()
    time.sleep(0.3)
    assert audit_count(revokd) == before
    status, answer = revokd.json("GET", "/v1/check?jti=ha-refresh-alice", key=CLIENT_KEY)
    assert answer["active"] is True, answer
    ok("cancelling the confirmation does nothing")

    driver.find_element(By.ID, "action-disable").click()
    wait(driver, EC.visibility_of_element_located((By.ID, "confirm-ok")), "the confirmation").click()
    wait(driver, lambda d: visible_text(d, "status-disabled") == "yes", "the subject to show disabled")
    notice = visible_text(driver, "notice")
    assert "subject_disabled" in notice, notice
    wait(driver, lambda d: "subject_disabled" in visible_text(d, "audit"), "the audit row")
    audit = driver.find_element(By.ID, "audit")
    first = audit.find_elements(By.CSS_SELECTOR, "tbody tr")
    row = next(r.text for r in first if "subject_disabled" in r.text)
    assert "sub=alice" in row and "admin:ops" in row, row
    # The reason was rendered as text, not markup.
    assert "<script>alert(1)</script>" in row, row
    assert not audit.find_elements(By.CSS_SELECTOR, "script"), "markup from data reached the DOM"
    ok("disable after confirming: the page shows it, and the audit log names alice, the admin key and the reason as text")

    status, answer = revokd.json("GET", "/v1/check?jti=ha-refresh-alice", key=CLIENT_KEY)
    assert status == 200 and answer["active"] is False and answer.get("reason") == "subject_disabled", answer
    ok("/v1/check now refuses alice's token (subject_disabled)")

    def mirror_holds_the_disable(d):
        d.find_element(By.ID, "refresh-health").click()
        time.sleep(0.2)
        return any(
            'kind="subject_disabled"' in r.text and r.text.rstrip().endswith(" 1")
            for r in d.find_elements(By.CSS_SELECTOR, "#mirror tbody tr")
        )

    wait(driver, mirror_holds_the_disable, "the mirror to count the disable")
    ok("the mirror panel counts the disable after a refresh")

    # Filters: by kind and actor, and a subject with no events.
    select = driver.find_element(By.ID, "filter-kind")
    select.find_element(By.CSS_SELECTOR, "option[value=subject_disabled]").click()
    driver.find_element(By.ID, "filter-actor").send_keys("admin:ops")
    driver.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").click()
    wait(driver, lambda d: all("subject_disabled" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#audit tbody tr")), "the filtered audit log")
    driver.find_element(By.ID, "filter-subject").send_keys("bob")
    driver.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").click()
    wait(driver, lambda d: "No event matches." in visible_text(d, "audit"), "the empty filtered audit log")
    driver.find_element(By.ID, "filter-subject").clear()
    driver.find_element(By.ID, "filter-kind").find_element(By.CSS_SELECTOR, "option[value='']").click()
    driver.find_element(By.CSS_SELECTOR, "#audit-filters button[type=submit]").click()
    wait(driver, lambda d: "subject_disabled" in visible_text(d, "audit"), "the audit log again")
    ok("audit filters by kind, actor and subject")

    # Enable: alice may log in again, but the token she held stays dead.
    driver.find_element(By.ID, "action-enable").click()
    wait(driver, EC.visibility_of_element_located((By.ID, "confirm-ok")), "the confirmation").click()
    wait(driver, lambda d: visible_text(d, "status-disabled") == "no", "the subject to show enabled")
    wait(driver, lambda d: "subject_enabled" in visible_text(d, "audit"), "the enable in the audit log")
    status, answer = revokd.json("GET", "/v1/check?jti=ha-refresh-alice", key=CLIENT_KEY)
    assert answer["active"] is False, answer
    ok("enable after confirming: recorded, and the token alice held before stays refused")

    # Sign out everywhere: a new login of alice's, then every token she holds now is dead.
    status, answer = revokd.json(
        "POST",
        "/v1/sessions",
        key=CLIENT_KEY,
        body={"iss": ISS, "sid": "sid-alice-2", "sub": "alice", "token_ids": ["ha-refresh-alice-2"], "expires_at": int(time.time()) + 3600},
    )
    assert status == 200, answer
    time.sleep(1.1)  # revoked-before is to the second: the login must be older
    status, answer = revokd.json("GET", "/v1/check?jti=ha-refresh-alice-2", key=CLIENT_KEY)
    assert answer["active"] is True, answer
    before = audit_count(revokd)
    driver.find_element(By.ID, "action-revoke").click()
    dialog = wait(driver, EC.visibility_of_element_located((By.ID, "confirm")), "the confirmation")
    assert "Sign out everywhere" in dialog.text, dialog.text
    driver.find_element(By.ID, "confirm-ok").click()
    wait(driver, lambda d: "subject_revoked_before" in visible_text(d, "notice"), "the sign-out notice")
    assert audit_count(revokd) == before + 1
    status, answer = revokd.json("GET", "/v1/check?jti=ha-refresh-alice-2", key=CLIENT_KEY)
    assert answer["active"] is False, answer
    ok("sign out everywhere after confirming: alice's new token is refused too")
    # The page looked alice up again: both logins are still registered (a
    # revocation refuses their tokens, it does not unregister them), the
    # later expiry first.
    wait(driver, lambda d: len(session_rows(d)) == 2, "both of alice's sessions")
    sessions = session_rows(driver)
    assert "ha-refresh-alice-2" in sessions[0] and "sid-alice-2" in sessions[0], sessions
    assert "ha-refresh-alice" in sessions[1] and "sid-alice-1" in sessions[1], sessions
    ok("after the new login the session list shows both of alice's sessions, the later expiry first")


def test_csp_in_browser(driver, revokd):
    messages = csp_messages(driver)
    assert not messages, messages
    ok("no CSP violation in the console while the page was used")
    # The control: an inline script injected now is refused by the CSP.
    driver.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.appendChild(s);"
    )
    time.sleep(0.3)
    assert driver.execute_script("return window.inlineRan === true") is False
    messages = csp_messages(driver)
    assert any("script-src" in m for m in messages), messages
    ok("an inline script is refused by the page's CSP (and the refusal is seen)")


def test_offline(driver, revokd):
    origin = revokd.url
    urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    urls.append(driver.current_url)
    foreign = [u for u in urls if not u.startswith(origin)]
    assert not foreign, foreign
    ok(f"every request of the page went to revokd itself ({len(urls)} requests; other names do not resolve)")


def screenshots(driver, revokd):
    os.makedirs(SHOTS, exist_ok=True)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1300, "deviceScaleFactor": 1, "mobile": False})
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    driver.save_screenshot(os.path.join(SHOTS, "admin-desktop.png"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 1600, "deviceScaleFactor": 1, "mobile": True})
    time.sleep(0.3)
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(os.path.join(SHOTS, "admin-phone.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    ok(f"the page fits a 390px phone without sideways scrolling; screenshots in {SHOTS}")


def test_off(driver, work):
    revokd = Revokd(work, admin_ui=False)
    try:
        for path in ["/admin/", "/admin/admin.js", "/admin"]:
            status, _, body = revokd.request("GET", path)
            assert status == 404 and json.loads(body)["error"] == "not_found", (path, status, body)
        driver.get(revokd.url + "/admin/")
        assert not driver.find_elements(By.ID, "key"), "a sign-in form without admin_ui"
        ok("without admin_ui the page and its files are 404")
    finally:
        revokd.stop()


def main():
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="revokd-browser.")
    provider = Provider()
    revokd = Revokd(work, admin_ui=True, reachable=provider.issuer)
    driver = None
    try:
        test_headers(revokd)
        scenario(revokd)
        wait_for_keys(revokd, "provider:keycloak")
        driver = browser()
        ok(f"{driver.capabilities['browserName']} {driver.capabilities['browserVersion']} via chromedriver")
        test_wrong_key(driver, revokd)
        driver.get_log("browser")  # a fresh console for the signed-in part
        test_disable(driver, revokd)
        test_offline(driver, revokd)
        screenshots(driver, revokd)
        test_csp_in_browser(driver, revokd)
        test_off(driver, work)
    finally:
        if driver is not None:
            driver.quit()
        revokd.stop()
        provider.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"browser: all claims hold ({time.monotonic() - started:.1f}s)")


if __name__ == "__main__":
    main()
