"""Attribution codes (services/leads/codes.c) through the running service:
a code is issued for a clinic's visitor and recorded (leads.codes) and
cached (Redis) with the tags; CORS is answered for the clinic's origins;
the body is strict; the per-address limit answers 429 with Retry-After;
with Redis down codes are still issued, unlimited. The page script is
served by the same service (snippet.c). A form or a Telegram "/start"
carrying a code gets its tags on lead.received (the fold looks it up); an
unknown code leaves the lead unattributed.

Requests come from loopback addresses of this test's own (127.x.y.z), so
its rate-limit counters in the shared Redis are its alone."""
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import subprocess
import time
import urllib.parse

import cfstack

CLINIC = "demo-center"
ORIGIN = "https://demo-center.clinicflow.example"  # one of its cors_origins
NORTH_ORIGIN = "https://demo-north.clinicflow.example"  # another clinic's
# the demo's Telegram channel of the clinic, with its bot's name
TELEGRAM = next(c for c in cfstack.demo_network()["channels"] if c["provider"] == "telegram"
                and c.get("clinic_id") == CLINIC)
BOT = TELEGRAM["bot_username"]
INSTAGRAM = next(c for c in cfstack.demo_network()["channels"] if c["provider"] == "instagram"
                 and c.get("clinic_id") == CLINIC)
TTL_S = 3600
CODE = re.compile(r"^[0-9abcdefghjkmnpqrstvwxyz]{10}$")
TAGS = {"utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "implants-spring",
        "utm_term": "имплант", "utm_content": "ad-1", "yclid": "7364518273645",
        "gclid": "Cj0KCQ", "fbclid": "IwAR0", "ym_uid": "1701234567123456789",
        "client_id": "123456.789", "referrer": "https://yandex.ru/",
        "page_url": "https://demo-center.clinicflow.example/implants"}


def own_address():
    return "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                             random.randint(1, 254))


def request(svc, method, path, body=None, headers=None, source=None):
    """One request from the source address (this test's by default).
    Returns (status, headers with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10,
                                      source_address=(source or SOURCE, 0))
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body, ensure_ascii=False).encode()
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def post_code(svc, body, origin=ORIGIN, source=None):
    hdrs = {"Origin": origin} if origin else {}
    return request(svc, "POST", "/v1/leads/codes", body, hdrs, source)


def redis_cli(*args, url=None):
    u = urllib.parse.urlparse(url or cfstack.env()["redis_url"])
    p = subprocess.run(["redis-cli", "-h", u.hostname, "-p", str(u.port)] + list(args),
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


metric = cfstack.metric


class Stack:
    """A database with the demo network (its clinic's Telegram channel names
    its bot) plus a form channel of this test, an own devbroker, the leads
    service."""

    def __init__(self):
        self.test_env = cfstack.env()
        self.dsn = cfstack.new_database(self.test_env["pg_dsn"])
        cfstack.setup_demo(self.dsn)
        net = cfstack.demo_network()
        net["channels"].append({"id": FORM_CHANNEL, "kind": "form", "provider": "generic",
                                "clinic_id": CLINIC, "credentials": {"token": FORM_TOKEN}})
        cfstack.apply_network(self.dsn, net)
        self.broker = cfstack.Devbroker()
        self.svc = self.service().start()

    def service(self, **env):
        base = {
            "CLINICFLOW_PG_DSN": self.dsn,
            "CLINICFLOW_KAFKA_BROKERS": self.broker.bootstrap,
            "CLINICFLOW_REDIS_URL": self.test_env["redis_url"],
            "CLINICFLOW_CONFIG_RELOAD_MS": "200",
            "CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CLINICFLOW_LEADS_CODE_TTL_S": str(TTL_S),
        }
        base.update(env)
        return cfstack.Service("leads", base)

    def close(self):
        try:
            self.svc.stop()
        finally:
            self.broker.stop()


def iso_to_epoch(s):
    return time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


def test_code_issued_recorded_cached(stack):
    issued = metric(stack.svc, 'clinicflow_leads_codes_issued_total{clinic="%s"}' % CLINIC)
    st, hdrs, body = post_code(stack.svc, dict(TAGS, clinic=CLINIC))
    assert st == 201, (st, body)
    assert hdrs["access-control-allow-origin"] == ORIGIN, hdrs
    assert hdrs["cache-control"] == "no-store", hdrs
    out = json.loads(body)
    assert set(out) == {"code", "expires_at", "links"}, out
    code = out["code"]
    assert CODE.match(code), code
    assert abs(iso_to_epoch(out["expires_at"]) - (time.time() + TTL_S)) < 60, out
    assert out["links"] == {"telegram": "https://t.me/%s?start=%s" % (BOT, code)}, out
    # The record, committed before the answer.
    [row] = cfstack.psql(stack.dsn, "SELECT network_id, clinic_id, tags::text,"
                         " to_char(expires_at AT TIME ZONE 'UTC',"
                         " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
                         " FROM leads.codes WHERE code = '%s'" % code)
    assert row[:2] == ["demo", CLINIC] and json.loads(row[2]) == TAGS, row
    assert row[3] == out["expires_at"], (row, out)
    # The cache, for as long as the code lives.
    cached = json.loads(redis_cli("GET", "cf:leads:code:" + code))
    assert cached == {"network_id": "demo", "clinic_id": CLINIC, "tags": TAGS,
                      "expires_at": out["expires_at"]}, cached
    assert TTL_S - 60 <= int(redis_cli("TTL", "cf:leads:code:" + code)) <= TTL_S
    assert metric(stack.svc, 'clinicflow_leads_codes_issued_total{clinic="%s"}'
                  % CLINIC) - issued == 1
    # Codes differ; empty tags are left out; the tags may be none at all.
    st, _, body = post_code(stack.svc, {"clinic": CLINIC, "utm_source": "", "gclid": "x"})
    other = json.loads(body)["code"]
    assert st == 201 and other != code
    assert json.loads(cfstack.psql(stack.dsn, "SELECT tags::text FROM leads.codes"
                                   " WHERE code = '%s'" % other)[0][0]) == {"gclid": "x"}
    st, _, body = post_code(stack.svc, {"clinic": "demo-north"})
    assert st == 201 and json.loads(body)["links"] == {}, body  # no bot named for it


def test_cors(stack):
    # A preflight names no clinic: any clinic's origin is answered.
    for origin in (ORIGIN, NORTH_ORIGIN):
        st, hdrs, _ = request(stack.svc, "OPTIONS", "/v1/leads/codes", None,
                              {"Origin": origin, "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "content-type"})
        assert st == 204, st
        assert hdrs["access-control-allow-origin"] == origin, hdrs
        assert "POST" in hdrs["access-control-allow-methods"], hdrs
        assert "content-type" in hdrs["access-control-allow-headers"].lower(), hdrs
    st, hdrs, _ = request(stack.svc, "OPTIONS", "/v1/leads/codes", None,
                          {"Origin": "https://evil.example"})
    assert st == 204 and "access-control-allow-origin" not in hdrs, hdrs
    # The request itself: only the named clinic's origins may read the answer.
    st, hdrs, _ = post_code(stack.svc, {"clinic": CLINIC}, origin=NORTH_ORIGIN)
    assert st == 201 and "access-control-allow-origin" not in hdrs, hdrs
    assert hdrs.get("vary") == "Origin", hdrs


def test_bad_requests(stack):
    def error(reply):
        st, _, body = reply
        return st, json.loads(body)["error"]

    before = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.codes")
    st, err = error(post_code(stack.svc, {"clinic": CLINIC, "utm_sorce": "typo"}))
    assert st == 400 and err["code"] == "invalid_field" and err["field"] == "utm_sorce", err
    st, err = error(post_code(stack.svc, {"utm_source": "x"}))
    assert st == 400 and err["field"] == "clinic", err
    st, err = error(post_code(stack.svc, {"clinic": CLINIC, "gclid": 7}))
    assert st == 400 and err["field"] == "gclid", err
    st, err = error(post_code(stack.svc, {"clinic": CLINIC, "page_url": "x" * 2001}))
    assert st == 400 and err["field"] == "page_url", err
    st, err = error(post_code(stack.svc, {"clinic": "no-such-clinic"}))
    assert st == 400 and err["code"] == "unknown_clinic" and err["field"] == "clinic", err
    st, err = error(post_code(stack.svc, b'{"clinic": '))
    assert st == 400 and err["code"] == "invalid_json", err
    st, err = error(request(stack.svc, "POST", "/v1/leads/codes", "clinic=demo-center",
                            {"Content-Type": "application/x-www-form-urlencoded"}))
    assert st == 415, err
    # Nothing was recorded for any of them.
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.codes") == before


def test_rate_limit_per_address(stack):
    limit = 3
    svc = stack.service(CLINICFLOW_LEADS_CODES_PER_IP_PER_MINUTE=str(limit)).start()
    try:
        # The limit counts per minute: start early in one, so the requests
        # below fall in the same minute.
        cfstack.wait_until(lambda: time.time() % 60 < 50, 15, "the start of a minute")
        mine, theirs = own_address(), own_address()
        got = [post_code(svc, {"clinic": CLINIC}, source=mine) for _ in range(limit + 1)]
        assert [g[0] for g in got] == [201] * limit + [429], [(g[0], g[2]) for g in got]
        st, hdrs, body = got[-1]
        assert json.loads(body)["error"]["code"] == "rate_limited", body
        assert 1 <= int(hdrs["retry-after"]) <= 60, hdrs
        assert hdrs["access-control-allow-origin"] == ORIGIN, hdrs  # the page can read it
        assert metric(svc, 'clinicflow_leads_codes_rate_limited_total{clinic="%s"}'
                      % CLINIC) == 1
        # Another address has its own count.
        assert post_code(svc, {"clinic": CLINIC}, source=theirs)[0] == 201
    finally:
        svc.stop()


def test_redis_down_still_issues(stack):
    dead = "redis://127.0.0.1:%d/0" % cfstack.free_port()
    svc = stack.service(CLINICFLOW_REDIS_URL=dead,
                        CLINICFLOW_LEADS_CODES_PER_IP_PER_MINUTE="1").start()
    try:
        codes = []
        for _ in range(3):  # over the limit of 1: skipped without Redis
            st, _, body = post_code(svc, dict(TAGS, clinic=CLINIC))
            assert st == 201, (st, body)
            codes.append(json.loads(body)["code"])
        rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.codes WHERE code IN (%s)"
                            % ",".join("'%s'" % c for c in codes))
        assert rows == [["3"]], rows  # recorded, to be looked up in PostgreSQL
        assert metric(svc, "clinicflow_leads_codes_uncached_total") == 3
    finally:
        svc.stop()


def test_snippet_served(stack):
    st, hdrs, body = request(stack.svc, "GET", "/v1/leads/snippet.js")
    assert st == 200, st
    assert hdrs["content-type"].startswith("text/javascript"), hdrs
    with open(os.path.join(cfstack.source_dir(), "services", "leads", "web",
                           "clinicflow-leads.js"), "rb") as f:
        assert body == f.read()  # the script the service was built with
    etag = hdrs["etag"]
    assert re.match(r'^"[0-9a-f]{16}"$', etag), etag
    assert "max-age" in hdrs["cache-control"], hdrs
    st, _, body = request(stack.svc, "GET", "/v1/leads/snippet.js", None,
                          {"If-None-Match": etag})
    assert st == 304 and body == b"", st


FORM_CHANNEL = "codes-test-form"
FORM_TOKEN = "codes-test-form-token-0001"


def post_form(stack, fields):
    st, _, body = cfstack.http(
        "POST", stack.svc.url("/v1/hooks/leads/generic/%s" % FORM_CHANNEL), fields,
        {"Authorization": "Bearer " + FORM_TOKEN})
    assert st == 202, (st, body)


def received(stack, match, timeout=60):
    """The first lead.received whose data match(data) accepts, once the fold
    emitted it."""
    reader = cfstack.TopicReader(stack.broker.bootstrap, "clinicflow.leads.v1")

    def find():
        for m in reader.read():
            ev = json.loads(m["payload"])
            if ev["type"] == "clinicflow.lead.received" and match(ev["data"]):
                return ev
        return None

    return cfstack.wait_until(find, timeout, "the lead.received")


def by_phone(e164):
    return lambda d: d.get("contact", {}).get("phone", {}).get("e164") == e164


def test_code_attributes_the_lead(stack):
    st, _, body = post_code(stack.svc, dict(TAGS, clinic=CLINIC))
    assert st == 201, body
    code = json.loads(body)["code"]
    phone = "+7916%07d" % random.randrange(10 ** 7)
    post_form(stack, {"name": "Code", "phone": phone, "code": code})
    ev = received(stack, by_phone(phone))
    assert ev["data"]["attribution"] == "code", ev["data"]
    assert ev["data"]["tags"] == TAGS, ev["data"]
    # A tag longer than a lead's tag holds is cut to it (256 characters), as
    # a form's own are: the code still comes, and lead.received keeps its schema.
    st, _, body = post_code(stack.svc, dict(TAGS, clinic=CLINIC, utm_content="я" * 300))
    assert st == 201, body
    phone = "+7916%07d" % random.randrange(10 ** 7)
    post_form(stack, {"name": "Long tag", "phone": phone, "code": json.loads(body)["code"]})
    ev = received(stack, by_phone(phone))
    assert ev["data"]["tags"] == dict(TAGS, utm_content="я" * 256), ev["data"]
    # An unknown code leaves the lead unattributed, never fails it.
    phone = "+7916%07d" % random.randrange(10 ** 7)
    post_form(stack, {"name": "No code", "phone": phone, "code": "zzzzzzzzzz"})
    ev = received(stack, by_phone(phone))
    assert ev["data"]["attribution"] == "none", ev["data"]
    assert not ev["data"].get("tags"), ev["data"]

    # A Telegram "/start <code>" from the t.me link the answer gave.
    st, _, body = post_code(stack.svc, dict(TAGS, clinic=CLINIC, utm_campaign="telegram-ad"))
    answer = json.loads(body)
    code = answer["code"]
    assert answer["links"]["telegram"].endswith("?start=" + code), answer
    user = random.randrange(10 ** 9, 2 * 10 ** 9)
    update = {"update_id": random.randrange(10 ** 8), "message": {
        "message_id": 1, "date": int(time.time()), "text": "/start " + code,
        "chat": {"id": user, "type": "private"},
        "from": {"id": user, "is_bot": False, "first_name": "Ivan"}}}
    st, _, body = cfstack.http(
        "POST", stack.svc.url("/v1/hooks/leads/telegram/" + TELEGRAM["id"]), update,
        {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM["credentials"]["secret_token"]})
    assert st == 200, (st, body)
    ev = received(stack, lambda d: str(d.get("external", {}).get("user_id")) == str(user))
    assert ev["data"]["attribution"] == "code", ev["data"]
    assert ev["data"]["tags"] == dict(TAGS, utm_campaign="telegram-ad"), ev["data"]

    # An ig.me link's ref: the conversation starts with the ice breaker the
    # person taps, whose postback carries the ref (signed as Meta does).
    st, _, body = post_code(stack.svc, dict(TAGS, clinic=CLINIC, utm_campaign="instagram-ad"))
    code = json.loads(body)["code"]
    user = str(random.randrange(10 ** 15, 2 * 10 ** 15))
    raw = json.dumps({"object": "instagram", "entry": [{
        "id": "17841400000000001", "time": int(time.time() * 1000), "messaging": [{
            "sender": {"id": user}, "recipient": {"id": "17841400000000001"},
            "timestamp": int(time.time() * 1000), "postback": {
                "mid": "it-ig-postback-" + user, "title": "Сколько стоит чистка?",
                "payload": "PRICE", "referral": {"ref": code, "source": "SHORTLINKS",
                                                 "type": "OPEN_THREAD"}}}]}]}).encode()
    sig = hmac.new(INSTAGRAM["credentials"]["app_secret"].encode(), raw, hashlib.sha256)
    st, _, body = cfstack.http(
        "POST", stack.svc.url("/v1/hooks/leads/instagram/" + INSTAGRAM["id"]), raw,
        {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + sig.hexdigest()})
    assert st == 200, (st, body)
    ev = received(stack, lambda d: str(d.get("external", {}).get("user_id")) == user)
    assert ev["data"]["attribution"] == "code", ev["data"]
    assert ev["data"]["tags"] == dict(TAGS, utm_campaign="instagram-ad"), ev["data"]
    assert ev["data"]["text"] == "Сколько стоит чистка?", ev["data"]


SOURCE = own_address()

if __name__ == "__main__":
    STACK = Stack()
    try:
        cfstack.run([lambda f=f: f(STACK) for f in (
            test_code_issued_recorded_cached, test_cors, test_bad_requests,
            test_rate_limit_per_address, test_redis_down_still_issues, test_snippet_served,
            test_code_attributes_the_lead)],
            exit=False)
    finally:
        STACK.close()
    cfstack.exit_status()
