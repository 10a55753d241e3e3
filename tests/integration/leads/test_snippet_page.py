"""The page script (services/leads/web/clinicflow-leads.js, served by the
service at /v1/leads/snippet.js) in a real browser: headless Chromium
loads a clinic page from a local web server with the script from the
service. A form sent on a landing page with ad tags is posted to the
channel URL of the script's data attributes (here a receiver in this test)
with the tags; a form sent on a later page without them still carries
them (kept in the site's storage); the page's t.me, wa.me and vk.me links
get an attribution code the service issued for those tags (CORS from the
page's origin). Each submission carries an id of its own, so the service
tells a second, identical submission from a retry.

The page's origin is added to the demo clinic's cors_origins by this
test's own network document."""
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse

import cfstack

CLINIC = "demo-center"
BOT = "demo_center_bot"


class Site:
    """The clinic's pages and a receiver for the posted forms, on one port."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cf-site-")
        self.posts = []
        self.lock = threading.Lock()
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=site.dir, **kw)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with site.lock:
                    site.posts.append((self.path, self.headers.get("Content-Type", ""),
                                       urllib.parse.parse_qs(body.decode())))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", cfstack.free_port()), Handler)
        self.origin = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, name, service_url):
        """A page with the script, a form that sends itself once the page
        has loaded (its own handler stops the navigation, as an AJAX form
        does), and messenger links."""
        with open(os.path.join(self.dir, name), "w", encoding="utf-8") as f:
            f.write('<!doctype html><html><head><meta charset="utf-8">'
                    '<script>document.cookie = "_ym_uid=1701234567123456789; path=/";</script>'
                    '</head><body>\n'
                    '<form id="f" action="/thanks"><input name="name" value="Анна">'
                    '<input name="phone" value="+7 916 123-45-67">'
                    '<input type="password" name="pw" value="secret"></form>\n'
                    '<a id="tg" href="https://t.me/%s">Telegram</a>\n'
                    '<a id="wa" href="https://wa.me/74950000101?text=Hello">WhatsApp</a>\n'
                    '<a id="vk" href="https://vk.me/democlinic">VK</a>\n'
                    '<a id="post" href="https://t.me/democlinic/42">a channel post</a>\n'
                    '<script src="%s/v1/leads/snippet.js" data-clinic="%s"'
                    ' data-form-url="%s/form-channel?token=t0k" data-messenger-links async>'
                    '</script>\n'
                    '<script>\n'
                    'var f = document.getElementById("f");\n'
                    'f.addEventListener("submit", function (e) { e.preventDefault(); });\n'
                    'window.addEventListener("load", function () {\n'
                    '  setTimeout(function () { f.requestSubmit(); }, 200);\n'
                    '});\n'
                    '</script>\n'
                    '</body></html>\n' % (BOT, service_url, CLINIC, self.origin))

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def browse(url, profile, virtual_ms=3000):
    """The DOM of url after virtual_ms of virtual time, in a browser profile
    (a directory: the same one is the same visitor)."""
    p = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--user-data-dir=" + profile,
         "--virtual-time-budget=%d" % virtual_ms, "--dump-dom", url],
        capture_output=True, timeout=120, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def href(dom, el):
    m = re.search(r'<a id="%s" href="([^"]*)"' % el, dom)
    assert m, dom[:2000]
    return m.group(1).replace("&amp;", "&")


def test_page(stack, site, profile):
    svc_url = stack.svc.url("").rstrip("/")
    site.page("landing.html", svc_url)
    site.page("contacts.html", svc_url)
    landing = site.origin + "/landing.html?utm_source=yandex&utm_campaign=implants&yclid=777"
    dom = browse(landing, profile)

    # The form, posted with the landing page's tags (not the password).
    cfstack.wait_until(lambda: len(site.posts) >= 1, 10, "the form post")
    path, ctype, form = site.posts[0]
    assert path == "/form-channel?token=t0k", path
    assert ctype.startswith("application/x-www-form-urlencoded"), ctype
    assert form["name"] == ["Анна"] and form["phone"] == ["+7 916 123-45-67"], form
    assert "pw" not in form, form
    assert form["utm_source"] == ["yandex"] and form["utm_campaign"] == ["implants"], form
    assert form["yclid"] == ["777"], form
    assert form["page_url"] == [site.origin + "/landing.html"], form
    assert form["_ym_uid"] == ["1701234567123456789"], form  # the generic channel's field
    # an id of its own: the same fields sent again are another lead, not a retry
    assert re.match(r"^[0-9a-f]{32}$", form["event_id"][0]), form

    # The links, with a code the service issued for those tags.
    tg = urllib.parse.urlsplit(href(dom, "tg"))
    code = urllib.parse.parse_qs(tg.query)["start"][0]
    assert re.match(r"^[0-9a-z]{10}$", code), code
    assert href(dom, "wa") == "https://wa.me/74950000101?text=Hello+%%5B%s%%5D" % code, \
        href(dom, "wa")
    assert href(dom, "vk") == "https://vk.me/democlinic?ref=" + code, href(dom, "vk")
    assert href(dom, "post") == "https://t.me/democlinic/42"  # not a bot's link
    [row] = cfstack.psql(stack.dsn, "SELECT clinic_id, tags::text FROM leads.codes"
                         " WHERE code = '%s'" % code)
    tags = json.loads(row[1])
    assert row[0] == CLINIC and tags["utm_source"] == "yandex" and tags["yclid"] == "777", row
    assert tags["ym_uid"] == "1701234567123456789", tags

    # A later page of the visit, without tags in its URL: the form still
    # carries them, and the links the same code.
    dom = browse(site.origin + "/contacts.html", profile)
    cfstack.wait_until(lambda: len(site.posts) >= 2, 10, "the second form post")
    form = site.posts[1][2]
    assert form["utm_source"] == ["yandex"] and form["yclid"] == ["777"], form
    assert re.match(r"^[0-9a-f]{32}$", form["event_id"][0]), form
    assert form["event_id"] != site.posts[0][2]["event_id"], form
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(href(dom, "tg")).query)["start"] == [code]


class Stack:
    def __init__(self, origin):
        self.test_env = cfstack.env()
        self.dsn = cfstack.new_database(self.test_env["pg_dsn"])
        cfstack.setup_demo(self.dsn)
        net = cfstack.demo_network()
        for c in net["clinics"]:
            if c["id"] == CLINIC:
                c["cors_origins"] = c.get("cors_origins", []) + [origin]
        cfstack.apply_network(self.dsn, net)
        self.broker = cfstack.Devbroker()
        self.svc = cfstack.Service("leads", {
            "CLINICFLOW_PG_DSN": self.dsn,
            "CLINICFLOW_KAFKA_BROKERS": self.broker.bootstrap,
            "CLINICFLOW_REDIS_URL": self.test_env["redis_url"],
            "CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
        }).start()

    def close(self):
        try:
            self.svc.stop()
        finally:
            self.broker.stop()


if __name__ == "__main__":
    SITE = Site()
    STACK = Stack(SITE.origin)
    PROFILE = tempfile.mkdtemp(prefix="cf-browser-")
    try:
        cfstack.run([lambda f=test_page: f(STACK, SITE, PROFILE)], exit=False)
    finally:
        STACK.close()
        SITE.close()
        shutil.rmtree(PROFILE, ignore_errors=True)
    cfstack.exit_status()
