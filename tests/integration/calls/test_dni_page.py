"""The number-swapping snippet (services/calls/web/clinicflow-dni.js) in a
real browser: headless Chromium loads a clinic page from a local web server,
the snippet asks the running service across origins (CORS), and the page
the browser built is read back (--dump-dom; --virtual-time-budget runs the
page's timers on a virtual clock, so the snippet's hold refresh is seen
without waiting for it).

The clinic is this test's own, added to the demo network with the page's
origin and a pool of one number, so no other test shares its Redis keys."""
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid

import cfstack
from common import Stack, metric, wait_until
from test_dni import redis_cli

SERVED = "+7 495 000-77-77"
CLINIC = "browser-%s" % uuid.uuid4().hex[:8]
NUMBER = "+7499%07d" % (uuid.uuid4().int % 10 ** 7)
HOLD_S = 4  # the snippet asks again every 2 s of virtual time


class Page:
    """A web server for the clinic page and the snippet, on a free port."""

    def __init__(self, endpoint):
        self.dir = tempfile.mkdtemp(prefix="cf-page-")
        shutil.copy(os.path.join(cfstack.source_dir(), "services", "calls", "web",
                                 "clinicflow-dni.js"), self.dir)
        # One phone before the async script and one after it: the second may
        # not be parsed yet when the script runs.
        with open(os.path.join(self.dir, "index.html"), "w") as f:
            f.write('<!doctype html><html><body>\n'
                    '<a id="top" data-clinicflow-phone href="tel:+74950007777">%s</a>\n'
                    '<script src="/clinicflow-dni.js" data-clinic="%s" data-endpoint="%s"'
                    ' async></script>\n'
                    '<p>%s</p>\n'
                    '<a id="footer" data-clinicflow-phone href="tel:+74950007777">%s</a>\n'
                    '</body></html>\n' % (SERVED, CLINIC, endpoint, "text " * 2000, SERVED))
        # A tab that saw the site before (its first touch kept in the tab's
        # session storage), now come from an ad with tags of its own.
        with open(os.path.join(self.dir, "again.html"), "w") as f:
            f.write('<!doctype html><html><body>\n'
                    '<script>sessionStorage.setItem("clinicflow_touch",'
                    ' JSON.stringify({utm_source: "earlier-visit"}));</script>\n'
                    '<a id="top" data-clinicflow-phone href="tel:+74950007777">%s</a>\n'
                    '<script src="/clinicflow-dni.js" data-clinic="%s" data-endpoint="%s"'
                    ' async></script>\n'
                    '<a id="footer" data-clinicflow-phone href="tel:+74950007777">%s</a>\n'
                    '</body></html>\n' % (SERVED, CLINIC, endpoint, SERVED))
        handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
            *a, directory=self.dir)
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", cfstack.free_port()), handler)
        self.origin = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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


def phones(dom):
    """(text, href) of the two phone elements."""
    out = []
    for el in ("top", "footer"):
        m = re.search(r'<a id="%s"[^>]*\shref="([^"]*)"[^>]*>([^<]*)</a>' % el, dom)
        assert m, dom[:2000]
        out.append((m.group(2), m.group(1)))
    return out


def add_clinic(stack, origin):
    """This test's clinic, with origin allowed and a pool of one number."""
    net = cfstack.demo_network()
    clinic = dict(net["clinics"][0], id=CLINIC, name="Browser test clinic",
                  cors_origins=[origin])
    net["clinics"].append(clinic)
    net["number_pools"].append({"id": "pool-" + CLINIC, "clinic_id": CLINIC,
                                "numbers": [NUMBER]})  # the service's hold, HOLD_S
    path = os.path.join(tempfile.mkdtemp(prefix="cf-net-"), "network.json")
    with open(path, "w") as f:
        json.dump(net, f)
    cfstack.clinicflowctl(stack.dsn, "apply", "-f", path)
    # Until the service has reloaded its config: the origin is answered.
    wait_until(lambda: cfstack.http(
        "OPTIONS", stack.svc.url("/v1/tracking/number?clinic=" + CLINIC),
        headers={"Origin": origin})[1].get("access-control-allow-origin") == origin,
        30, "the new clinic in the service's config")


def display(e164):
    m = re.match(r"^\+7(\d{3})(\d{3})(\d{2})(\d{2})$", e164)
    return "+7 (%s) %s-%s-%s" % m.groups()


def test_page_shows_the_held_number_and_keeps_it(stack, page, profiles):
    url = page.origin + "/index.html?utm_source=browser-test&utm_campaign=snippet"
    extensions = 'clinicflow_dni_extensions_total{clinic="%s"}' % CLINIC
    before = metric(stack.svc, extensions)
    dom = browse(url, profiles[0], virtual_ms=7000)
    assert phones(dom) == [(display(NUMBER), "tel:" + NUMBER)] * 2, phones(dom)
    # The reservation carries the page's first touch.
    rows = cfstack.psql(stack.dsn, "SELECT number, utm->>'source', utm->>'campaign',"
                        " utm->>'landing' FROM calls.dni_sessions WHERE clinic_id = '%s'"
                        % CLINIC)
    assert rows == [[NUMBER, "browser-test", "snippet", page.origin + "/index.html"]], rows
    # Over 7 s of virtual time the 4 s hold was asked for again at half the
    # hold (at 2, 4 and 6 s), each time extending it.
    assert metric(stack.svc, extensions) - before >= 3, metric(stack.svc, extensions)


def test_a_new_ad_click_in_the_same_tab_brings_its_tags(stack, page, profiles):
    # the number free again (the first test's visitor's hold lapsed)
    wait_until(lambda: not redis_cli("GET", "cf:dni:h:demo:" + NUMBER),
               3 * HOLD_S + 5, "the number free")
    url = page.origin + "/again.html?utm_source=yandex&utm_medium=cpc&yclid=42"
    dom = browse(url, profiles[2], virtual_ms=500)
    assert phones(dom) == [(display(NUMBER), "tel:" + NUMBER)] * 2, phones(dom)
    rows = cfstack.psql(stack.dsn, "SELECT utm->>'source', utm->>'medium', utm->>'yclid'"
                        " FROM calls.dni_sessions WHERE clinic_id = '%s'"
                        " ORDER BY reserved_at DESC LIMIT 1" % CLINIC)
    assert rows == [["yandex", "cpc", "42"]], rows


def test_page_keeps_its_number_without_one_to_give(stack, page, profiles):
    # Another visitor holds the only number while the page loads (asking
    # again and again, so the hold cannot lapse): the page shows its own.
    other = stack.svc.url("/v1/tracking/number?clinic=%s&visitor=someone-else-%s"
                          % (CLINIC, uuid.uuid4().hex))
    wait_until(lambda: json.loads(cfstack.http("GET", other)[2])["dynamic"], 3 * HOLD_S + 5,
               "the other visitor to hold the number")
    stop = threading.Event()

    def keep():
        while not stop.wait(0.5):
            cfstack.http("GET", other)

    exhausted = 'clinicflow_dni_exhausted_total{clinic="%s"}' % CLINIC
    before = metric(stack.svc, exhausted)
    keeper = threading.Thread(target=keep)
    keeper.start()
    try:
        dom = browse(page.origin + "/index.html", profiles[1], virtual_ms=500)
    finally:
        stop.set()
        keeper.join()
    assert json.loads(cfstack.http("GET", other)[2])["number"] == NUMBER
    assert phones(dom) == [(SERVED, "tel:+74950007777")] * 2, phones(dom)
    # The page did ask, and was told the pool had none (not a failed request).
    assert metric(stack.svc, exhausted) == before + 1


if __name__ == "__main__":
    # The browser and the test ask from one address, in both sanitizer
    # passes: no cap on its new holds.
    s = Stack(extra_env={"CLINICFLOW_CALLS_DNI_HOLD_S": str(HOLD_S),
                         "CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS": "0"})
    pg = None
    tmp = tempfile.mkdtemp(prefix="cf-profiles-")
    try:
        pg = Page(s.svc.url("/v1/tracking/number"))
        add_clinic(s, pg.origin)
        profs = [os.path.join(tmp, "a"), os.path.join(tmp, "b"), os.path.join(tmp, "c")]
        cfstack.run([lambda f=f: f(s, pg, profs) for f in (
            test_page_shows_the_held_number_and_keeps_it,
            test_a_new_ad_click_in_the_same_tab_brings_its_tags,
            test_page_keeps_its_number_without_one_to_give,
        )], exit=False)
    finally:
        if pg:
            pg.close()
        shutil.rmtree(tmp, ignore_errors=True)
        s.close()
    cfstack.exit_status()
