"""Who reads analytics, and which clinics: a read key limited to some
clinics (clinicflowctl key create --clinic) sees those clinics' figures
only, whatever it asks; a dashboard session, signed in with a read key, is
an HttpOnly, SameSite=Strict cookie that stands for the key (Redis holds
only a hash of it) until it is signed out, expires, or its key is
revoked; and the dashboard's files are served at / and /assets/ with
headers that keep the page to itself. The calls of test_report_api.py's
two networks are the data."""
import hashlib
import json
import re
import subprocess
import time
import urllib.parse

import cfstack
from common import Stack, assert_figures, assert_rows
from test_report_api import (A_NORTH, A_TOTAL, CLINIC_B, DAY, DAY_ONLY, NET_B, NETWORK_B,
                             error_of, produce)

SESSION_TTL_S = 3600


class AccessStack(Stack):
    def __init__(self):
        super().__init__()
        try:
            cfstack.apply_network(self.dsn, NETWORK_B)
            self.keys["b_read"] = cfstack.create_key(self.dsn, NET_B, "read")
            p = cfstack.clinicflowctl(self.dsn, "key", "create", "--network",
                                      self.keys["network_id"], "--scope", "read", "--clinic",
                                      "demo-north")
            self.keys["north"] = p.stdout.split()[-1]
            produce(self)
            self.start_analytics(CLINICFLOW_ANALYTICS_SESSION_TTL_S=SESSION_TTL_S)
            self.wait_consumed()
        except BaseException:
            self.close()
            raise

    def get(self, path, cookie=None, key=None, headers=None):
        hdrs = dict(headers or {})
        if cookie:
            hdrs["Cookie"] = "cf_session=" + cookie
        if key:
            hdrs["Authorization"] = "Bearer " + key
        return cfstack.http("GET", self.analytics.url(path), headers=hdrs)

    def sign_in(self, key):
        """POST /v1/session; (status, headers, JSON body or None, session id or None)."""
        st, hdrs, body = cfstack.http("POST", self.analytics.url("/v1/session"), {"key": key})
        m = re.search(r"cf_session=([0-9a-f]*)", hdrs.get("set-cookie", ""))
        return st, hdrs, json.loads(body) if body else None, m.group(1) if m else None


def calls_report(stack, params, cookie=None, key=None):
    st, _, body = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(params), cookie=cookie,
                            key=key)
    assert st == 200, (params, st, body[:500])
    return json.loads(body)


def redis_cli(stack, *args):
    host, port = re.match(r"redis://([^:/]+):(\d+)", stack.test_env["redis_url"]).groups()
    db = stack.test_env["redis_url"].rsplit("/", 1)[-1]
    return subprocess.run(["redis-cli", "-h", host, "-p", port, "-n", db, *args], check=True,
                          capture_output=True, text=True, timeout=10).stdout


def test_limited_key_sees_its_clinics(stack):
    north = stack.keys["north"]
    # naming no clinic: the key's clinics, not the network
    rep = stack.report(DAY_ONLY, key=north)
    assert_figures(rep["totals"], A_NORTH, "north key, no clinic named")
    assert rep["params"]["clinic"] == ["demo-north"], rep["params"]
    rep = stack.report(dict(DAY_ONLY, group_by="clinic"), key=north)
    assert_rows(rep, ["clinic"], {("demo-north",): A_NORTH}, "north key by clinic")
    rep = stack.report(dict(DAY_ONLY, clinic="demo-north"), key=north)
    assert_figures(rep["totals"], A_NORTH, "north key, its clinic named")
    # another clinic of its network: 403; of another network or none: 400
    for clinic in ("demo-center", "demo-north,demo-center"):
        error_of(stack.report_raw(dict(DAY_ONLY, clinic=clinic), key=north), 403, "forbidden",
                 "clinic", clinic)
    error_of(stack.report_raw(dict(DAY_ONLY, clinic="it-an-other-clinic"), key=north), 400,
             "unknown_clinic", "clinic", "another network's clinic")
    # the network key, after the limited one asked the same dates, still
    # gets the whole network (the answers are cached apart)
    assert_figures(stack.report(DAY_ONLY)["totals"], A_TOTAL, "network key afterwards")
    # the records and the worklist are limited the same way
    st, _, body = stack.get("/v1/records/calls?" + urllib.parse.urlencode(DAY_ONLY), key=north)
    assert st == 200, body[:500]
    records = json.loads(body)["records"]
    assert records and {r["clinic_id"] for r in records} == {"demo-north"}, records
    st, _, body = stack.get("/v1/records/calls?" + urllib.parse.urlencode(
        dict(DAY_ONLY, clinic="demo-center")), key=north)
    assert st == 403, body[:500]
    st, _, body = stack.get("/v1/worklist", key=north)
    assert st == 200, body[:500]
    tasks = json.loads(body)["tasks"]
    assert all(t["clinic_id"] == "demo-north" for t in tasks), body[:500]


def test_sign_in_refusals(stack):
    st, hdrs, doc, sid = stack.sign_in("cfk_not-a-key")
    assert st == 401 and sid is None and doc["error"]["code"] == "unauthorized", (st, doc)
    st, _, doc, sid = stack.sign_in(stack.keys["ingest"])
    assert st == 403 and sid is None and doc["error"]["code"] == "forbidden", (st, doc)
    # a browser's post from another site is refused before the key is read
    st, hdrs, raw = cfstack.http("POST", stack.analytics.url("/v1/session"),
                                 {"key": stack.keys["read"]},
                                 headers={"Origin": "http://evil.invalid"})
    assert st == 403 and "set-cookie" not in hdrs, (st, raw)
    assert json.loads(raw)["error"]["code"] == "cross_origin", raw
    # Behind a reverse proxy that rewrites Host, the page's host is the one
    # the proxy forwards (any entry of its list, in any letter
    # case); another site's page is still refused.
    public = "https://reports.clinic.example"
    for forwarded in ({"X-Forwarded-Host": "reports.clinic.example"},
                      {"x-forwarded-host": "edge.internal:8443, Reports.Clinic.Example"}):
        st, hdrs, raw = cfstack.http("POST", stack.analytics.url("/v1/session"),
                                     {"key": stack.keys["read"]},
                                     headers={"Origin": public, **forwarded})
        assert st == 200 and "cf_session=" in hdrs.get("set-cookie", ""), (forwarded, st, raw)
    for origin, forwarded in (("http://evil.invalid", "reports.clinic.example"),
                              (public, "reports.clinic.example.evil.invalid"),
                              (public, "clinic.example")):
        st, hdrs, raw = cfstack.http("POST", stack.analytics.url("/v1/session"),
                                     {"key": stack.keys["read"]},
                                     headers={"Origin": origin, "X-Forwarded-Host": forwarded})
        assert st == 403 and "set-cookie" not in hdrs, (origin, forwarded, st, raw)
    host = stack.analytics.url("/").split("/")[2]
    st, hdrs, raw = cfstack.http("POST", stack.analytics.url("/v1/session"),
                                 {"key": stack.keys["read"]}, headers={"Origin": "http://" + host})
    assert st == 200 and "cf_session=" in hdrs.get("set-cookie", ""), (st, raw)
    for body in (b"{", b'{"key": 5}', b"{}", b'{"key": ""}'):
        st, hdrs, raw = cfstack.http("POST", stack.analytics.url("/v1/session"), body,
                                     headers={"Content-Type": "application/json"})
        assert st == 400 and "set-cookie" not in hdrs, (body, st, raw)
        assert set(json.loads(raw)["error"]) == {"code", "message", "field"}, raw
    # JSON only: a cross-site form may post text/plain without a preflight
    for ctype in ("text/plain", None):
        st, hdrs, raw = cfstack.http("POST", stack.analytics.url("/v1/session"),
                                     json.dumps({"key": stack.keys["read"]}),
                                     headers={"Content-Type": ctype} if ctype else {})
        assert st == 415 and "set-cookie" not in hdrs, (ctype, st, raw)
        assert json.loads(raw)["error"]["code"] == "unsupported_media_type", raw


def test_session_reads_as_its_key(stack):
    st, hdrs, doc, sid = stack.sign_in(stack.keys["read"])
    assert st == 200 and sid and len(sid) == 64, (st, hdrs, doc)
    cookie = hdrs["set-cookie"]
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attrs and attrs.get("samesite", "").lower() == "samesite=strict", cookie
    assert attrs.get("path") == "Path=/", cookie
    assert attrs.get("max-age") == "Max-Age=%d" % SESSION_TTL_S, cookie
    assert "secure" not in attrs, cookie  # plain HTTP without CLINICFLOW_ANALYTICS_COOKIE_SECURE
    assert doc["network"]["id"] == stack.keys["network_id"], doc
    # the zone and currency the dashboard dates and prices in (the network's)
    assert doc["network"]["tz"] == "Europe/Moscow" and doc["network"]["currency"] == "RUB", doc
    assert [c["id"] for c in doc["clinics"]] == ["demo-center", "demo-north", "demo-south"], doc
    assert doc["limited"] is False and "expires_at" in doc, doc
    assert stack.keys["read"] not in json.dumps(doc)

    # Redis holds the session under a hash of its id, never the id or the key
    # (other tests share this Redis: only this session's entry is looked at)
    stored = "cf:analytics:session:" + hashlib.sha256(sid.encode()).hexdigest()
    assert redis_cli(stack, "EXISTS", "cf:analytics:session:" + sid).strip() == "0"
    value = redis_cli(stack, "GET", stored).strip()
    assert value == "%s %s" % (hashlib.sha256(stack.keys["read"].encode()).hexdigest(),
                               value.split()[-1]), value
    ttl = int(redis_cli(stack, "TTL", stored))
    assert SESSION_TTL_S - 60 <= ttl <= SESSION_TTL_S, ttl

    # the cookie reads what the key reads
    rep = calls_report(stack, dict(DAY_ONLY, group_by="clinic"), cookie=sid)
    assert rep["totals"] == calls_report(stack, dict(DAY_ONLY, group_by="clinic"),
                                         key=stack.keys["read"])["totals"]
    assert_figures(rep["totals"], A_TOTAL, "the session's totals")
    st, _, body = stack.get("/v1/session", cookie=sid)
    assert st == 200 and json.loads(body)["network"]["id"] == stack.keys["network_id"], body

    # a cookie nobody issued, or none: 401, and no numbers
    for bad in ("0" * 64, sid[:-1], "x" * 64):
        st, _, body = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY),
                                cookie=bad)
        assert st == 401 and b"inbound" not in body, (bad, st, body[:300])
    st, _, body = stack.get("/v1/session")
    assert st == 401, body

    # sign-out ends it and clears the cookie
    st, hdrs, body = cfstack.http("DELETE", stack.analytics.url("/v1/session"),
                                  headers={"Cookie": "cf_session=" + sid})
    assert st == 204, (st, body)
    assert re.search(r"cf_session=;", hdrs.get("set-cookie", "")), hdrs
    assert "expires=thu, 01 jan 1970" in hdrs["set-cookie"].lower(), hdrs
    st, _, _ = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY), cookie=sid)
    assert st == 401
    assert redis_cli(stack, "EXISTS", stored).strip() == "0"


def test_sign_out_with_redis_unwritable(stack):
    """Redis cannot take the session's end (writes paused): the answer is a
    503 with Retry-After, and the browser's cookie is cleared all the same."""
    redis = cfstack.OwnRedis()
    svc = None
    try:
        svc = stack.start_analytics(CLINICFLOW_REDIS_URL=redis.url)
        st, hdrs, body = cfstack.http("POST", svc.url("/v1/session"), {"key": stack.keys["read"]})
        sid = re.search(r"cf_session=([0-9a-f]+)", hdrs.get("set-cookie", ""))
        assert st == 200 and sid, (st, hdrs, body)
        redis.cli("CLIENT", "PAUSE", "20000", "WRITE")
        try:
            st, hdrs, body = cfstack.http("DELETE", svc.url("/v1/session"),
                                          headers={"Cookie": "cf_session=" + sid.group(1)},
                                          timeout=30)
        finally:
            redis.cli("CLIENT", "UNPAUSE")
        assert st == 503 and hdrs.get("retry-after"), (st, hdrs, body)
        assert re.search(r"cf_session=;", hdrs.get("set-cookie", "")), hdrs
        assert "expires=thu, 01 jan 1970" in hdrs["set-cookie"].lower(), hdrs
    finally:
        if svc:
            stack.stop(svc)
        redis.close()


def test_limited_session_and_revocation(stack):
    st, _, doc, sid = stack.sign_in(stack.keys["north"])
    assert st == 200 and doc["limited"] is True, doc
    assert [c["id"] for c in doc["clinics"]] == ["demo-north"], doc
    rep = calls_report(stack, DAY_ONLY, cookie=sid)
    assert_figures(rep["totals"], A_NORTH, "the north session's totals")
    st, _, _ = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(
        dict(DAY_ONLY, clinic="demo-center")), cookie=sid)
    assert st == 403
    # a Bearer header is the credential when present: a wrong one is not
    # rescued by a good cookie
    st, _, _ = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY), cookie=sid,
                         key="cfk_wrong")
    assert st == 401

    # revoking the key ends its sessions at the next config reload
    key_id = cfstack.psql(stack.dsn, "SELECT id FROM config.api_keys WHERE hash = decode('%s',"
                          " 'hex')" % hashlib.sha256(stack.keys["north"].encode()).hexdigest())
    version = cfstack.metric(stack.analytics, "clinicflow_config_version")
    cfstack.clinicflowctl(stack.dsn, "key", "revoke", key_id[0][0])
    cfstack.wait_until(
        lambda: cfstack.metric(stack.analytics, "clinicflow_config_version") > version, 30,
        "the revocation reloaded")
    st, _, _ = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY), cookie=sid)
    assert st == 401
    assert stack.sign_in(stack.keys["north"])[0] == 401


def test_a_key_limited_to_no_clinic_reads_nothing(stack):
    """A clinic-limited key whose clinics name none (an operator's UPDATE
    left only nulls) is no key of the whole network: it reads nothing."""
    version = cfstack.metric(stack.analytics, "clinicflow_config_version")
    p = cfstack.clinicflowctl(stack.dsn, "key", "create", "--network", stack.keys["network_id"],
                              "--scope", "read", "--clinic", "demo-north")
    key = p.stdout.split()[-1]
    cfstack.wait_until(
        lambda: cfstack.metric(stack.analytics, "clinicflow_config_version") > version, 30,
        "the new key loaded")
    assert calls_report(stack, DAY_ONLY, key=key)["params"]["clinic"] == ["demo-north"]
    version = cfstack.metric(stack.analytics, "clinicflow_config_version")
    cfstack.psql(stack.dsn, "UPDATE config.api_keys SET clinics = ARRAY[NULL]::text[]"
                 " WHERE hash = decode('%s', 'hex');"
                 " UPDATE config.version SET v = v + 1"
                 % hashlib.sha256(key.encode()).hexdigest())
    cfstack.wait_until(
        lambda: cfstack.metric(stack.analytics, "clinicflow_config_version") > version, 30,
        "the change reloaded")
    st, _, body = stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY), key=key)
    assert st == 401, (st, body[:300])
    assert stack.sign_in(key)[0] == 401


def test_a_key_limited_to_a_removed_clinic(stack):
    """A clinic removed from the network file is not seen any more by a key
    limited to it (config.api_keys keeps its id): a key left with none of
    its network's clinics reads nothing, and the clinic's figures stay
    unread; put back, the clinic is the key's again."""
    p = cfstack.clinicflowctl(stack.dsn, "key", "create", "--network", NET_B, "--scope", "read",
                              "--clinic", CLINIC_B)
    key = p.stdout.split()[-1]
    cfstack.wait_until(lambda: stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY),
                                         key=key)[0] == 200, 30, "the new key loaded")
    rep = calls_report(stack, DAY_ONLY, key=key)
    assert rep["params"]["clinic"] == [CLINIC_B] and rep["totals"]["inbound"] > 0, rep
    moved = json.loads(json.dumps(NETWORK_B))
    moved["clinics"][0]["id"] = CLINIC_B + "-new"
    for ch in moved["channels"]:
        ch["clinic_id"] = CLINIC_B + "-new"
    try:
        cfstack.apply_network(stack.dsn, moved)
        cfstack.wait_until(
            lambda: stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY),
                              key=key)[0] == 401, 30, "the clinic's removal reloaded")
        assert stack.sign_in(key)[0] == 401
    finally:
        cfstack.apply_network(stack.dsn, NETWORK_B)
    cfstack.wait_until(lambda: stack.get("/v1/reports/calls?" + urllib.parse.urlencode(DAY_ONLY),
                                         key=key)[0] == 200, 30, "the clinic back")
    assert calls_report(stack, DAY_ONLY, key=key)["params"]["clinic"] == [CLINIC_B]


def test_dashboard_files(stack):
    st, hdrs, body = stack.get("/")
    assert st == 200 and hdrs["content-type"].startswith("text/html"), (st, hdrs)
    csp = hdrs.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert hdrs.get("x-content-type-options") == "nosniff", hdrs
    # the page is the same for everybody: it carries no figures
    assert b"/assets/" in body and b"echarts.min.js" in body, body[:500]
    st, hdrs, js = stack.get("/assets/echarts.min.js")
    assert st == 200 and hdrs["content-type"].startswith("text/javascript"), hdrs
    assert len(js) > 100000, len(js)
    st, _, again = stack.get("/assets/echarts.min.js", headers={"If-None-Match": hdrs["etag"]})
    assert st == 304 and again == b"", st
    for path in ("/assets/nope.js", "/assets/..%2Fbin", "/assets/.hidden"):
        st, _, _ = stack.get(path)
        assert st == 404, (path, st)


if __name__ == "__main__":
    cfstack.run_on_stack(AccessStack, [
        test_limited_key_sees_its_clinics,
        test_sign_in_refusals,
        test_session_reads_as_its_key,
        test_sign_out_with_redis_unwritable,
        test_limited_session_and_revocation,
        test_a_key_limited_to_no_clinic_reads_nothing,
        test_a_key_limited_to_a_removed_clinic,
        test_dashboard_files,
    ])
