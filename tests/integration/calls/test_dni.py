"""Dynamic number insertion: GET /v1/tracking/number holds a pool number for
a visitor (same visitor, same number), answers CORS for the clinic's origins
only, falls back to the clinic's default number when the pool is exhausted
or Redis is down, answers a visitor it just served from memory, limits
request rates (429) per instance and across instances, and a call to the number that
the provider reports only at its end, after the hold expired, is still
attributed to the visitor's UTM tags."""
import json
import subprocess
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

import cfstack
from common import Stack, metric, tracked_call, wait_until

HOLD_S = 2  # for pools without hold_seconds of their own (the demo's south pool)


def clinic(cid):
    return next(c for c in cfstack.demo_network()["clinics"] if c["id"] == cid)


def pool(cid):
    return next(p for p in cfstack.demo_network()["number_pools"] if p["clinic_id"] == cid)


def ask(svc, clinic_id, visitor, origin=None, method="GET", client=None, ua=None, **params):
    """client: the address a trusted proxy forwards the request for."""
    q = urllib.parse.urlencode(dict(clinic=clinic_id, visitor=visitor, **params))
    headers = {"Origin": origin} if origin else {}
    if client:
        headers["X-Forwarded-For"] = client
    if ua:
        headers["User-Agent"] = ua
    st, hdrs, body = cfstack.http(method, svc.url("/v1/tracking/number?" + q), None, headers)
    return st, hdrs, (json.loads(body) if body else None)


def holder_key(number):
    """The Redis key of the visitor holding a tracking number of the demo
    network."""
    return "cf:dni:h:demo:" + number


def redis_cli(*args):
    url = urllib.parse.urlparse(cfstack.env()["redis_url"])
    p = subprocess.run(["redis-cli", "-h", url.hostname, "-p", str(url.port)] + list(args),
                       capture_output=True, timeout=10, check=True)
    return p.stdout.decode().strip()


def test_same_visitor_same_number_and_cors(stack):
    origin = clinic("demo-south")["cors_origins"][0]
    st, hdrs, a = ask(stack.svc, "demo-south", "visitor-a-0001", origin)
    assert st == 200 and a["dynamic"] is True, a
    assert a["number"] in pool("demo-south")["numbers"] and a["hold_seconds"] == HOLD_S, a
    assert hdrs["access-control-allow-origin"] == origin, hdrs
    st, _, b = ask(stack.svc, "demo-south", "visitor-b-0002", origin)
    assert st == 200 and b["dynamic"] and b["number"] != a["number"], b
    st, _, again = ask(stack.svc, "demo-south", "visitor-a-0001", origin)
    assert again["number"] == a["number"], again
    st, _, again_b = ask(stack.svc, "demo-south", "visitor-b-0002", origin)
    assert again_b["number"] == b["number"], again_b
    # Extending touched Redis only; the worker writes the new ends of both
    # sessions in one batch, each on its own row.
    wait_until(lambda: cfstack.psql(
        stack.dsn, "SELECT visitor_id, held_until > reserved_at + interval '%d seconds' FROM"
        " calls.dni_sessions WHERE visitor_id IN ('visitor-a-0001', 'visitor-b-0002')"
        " ORDER BY visitor_id" % HOLD_S) == [["visitor-a-0001", "t"], ["visitor-b-0002", "t"]],
        30, "the extended holds to be written")

    st, hdrs, _ = ask(stack.svc, "demo-south", "visitor-c-0003", "https://elsewhere.example")
    assert st == 200 and "access-control-allow-origin" not in hdrs, hdrs
    st, hdrs, _ = ask(stack.svc, "demo-south", "visitor-c-0003", origin, method="OPTIONS")
    assert st == 204 and hdrs["access-control-allow-origin"] == origin, (st, hdrs)


def test_hold_without_its_row_gets_one(stack):
    """A hold Redis has but PostgreSQL lost (its insert failed, or the answer
    to the reservation came too late and the visitor asks again): the next
    extension writes the row, tags included, so calls are attributed."""
    visitor = "visitor-row-%s" % uuid.uuid4().hex[:8]
    tags = dict(utm_source="google", utm_campaign="crowns", gclid="abc123")
    st, _, r = ask(stack.svc, "demo-south", visitor, **tags)
    assert st == 200 and r["dynamic"], r
    where = "visitor_id = '%s'" % visitor
    wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.dni_sessions WHERE "
                                    + where) == [["1"]], 30, "the reservation's row")
    cfstack.psql(stack.dsn, "DELETE FROM calls.dni_sessions WHERE " + where)
    try:
        st, _, again = ask(stack.svc, "demo-south", visitor, **tags)
        assert st == 200 and again["number"] == r["number"], again
        wait_until(lambda: cfstack.psql(
            stack.dsn, "SELECT number, clinic_id, utm->>'source', utm->>'gclid',"
            " held_until > reserved_at FROM calls.dni_sessions WHERE " + where)
            == [[r["number"], "demo-south", "google", "abc123", "t"]], 30,
            "the row written again by the extension")
    finally:
        release("demo-south", visitor)


def test_robots_hold_no_number(stack):
    """Search engines render pages with their scripts: a robot's request is
    answered with the default number and takes none from the pool."""
    for ua in ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
               "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
               "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36"
               " (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 (compatible; Googlebot/2.1)"):
        visitor = "visitor-bot-%s" % uuid.uuid4().hex[:8]
        st, _, r = ask(stack.svc, "demo-south", visitor, ua=ua)
        assert st == 200 and r == {"number": clinic("demo-south")["default_phone"],
                                   "dynamic": False, "hold_seconds": 0}, (ua, r)
        assert redis_cli("EXISTS", "cf:dni:v:demo-south:" + visitor) == "0"
    assert metric(stack.svc, 'clinicflow_dni_crawler_requests_total{clinic="demo-south"}') == 3
    # A phone whose name happens to hold "bot" is a person.
    visitor = "visitor-cubot-%s" % uuid.uuid4().hex[:8]
    st, _, r = ask(stack.svc, "demo-south", visitor,
                   ua="Mozilla/5.0 (Linux; Android 9; CUBOT KING KONG) Chrome/120.0 Mobile")
    assert st == 200 and r["dynamic"] is True, r
    release("demo-south", visitor)


def test_bad_requests(stack):
    for clinic_id, visitor, field in (("demo-south", "x", "visitor"),
                                      ("demo-south", "has space inside", "visitor"),
                                      ("nowhere", "visitor-ok-0001", "clinic")):
        st, _, body = ask(stack.svc, clinic_id, visitor)
        assert st == 400 and body["error"]["field"] == field, (clinic_id, visitor, st, body)


def test_exhausted_pool_answers_the_default_number(stack):
    numbers = pool("demo-north")["numbers"]
    # The same Redis may still hold this pool from an earlier run of the
    # suite (the sanitizer runs share it): start from an empty pool.
    release("demo-north", *("north-visitor-%04d" % i for i in range(len(numbers))))
    redis_cli("DEL", "cf:dni:n:demo-north:held", "cf:dni:n:demo-north:full",
              "cf:dni:n:demo-north:denied")
    held = set()
    peak = 'clinicflow_dni_peak_concurrent_visitors{clinic="demo-north"}'
    for i in range(len(numbers)):
        st, _, r = ask(stack.svc, "demo-north", "north-visitor-%04d" % i)
        assert st == 200 and r["dynamic"], r
        held.add(r["number"])
        # The peak counts the numbers held, whichever this visitor took.
        assert metric(stack.svc, peak) == i + 1, (i, metric(stack.svc, peak))
    assert held == set(numbers)
    st, _, r = ask(stack.svc, "demo-north", "north-visitor-late")
    assert st == 200 and r == {"number": clinic("demo-north")["default_phone"],
                               "dynamic": False, "hold_seconds": 0}, r
    text = cfstack.http("GET", stack.svc.url("/metrics"))[2].decode()
    assert 'clinicflow_dni_exhausted_total{clinic="demo-north"} 1' in text, text[-2000:]
    assert 'clinicflow_dni_suggested_pool_size{clinic="demo-north"} 8' in text
    # The visitors a full pool turns away count as demand (each once, for a
    # hold), so the advice can ask for more than a quarter above the pool.
    for i in range(6):
        for _ in range(2):
            st, _, r = ask(stack.svc, "demo-north", "north-visitor-away-%d" % i)
            assert st == 200 and r["dynamic"] is False, r
    assert metric(stack.svc, peak) == len(numbers) + 7
    suggested = metric(stack.svc, 'clinicflow_dni_suggested_pool_size{clinic="demo-north"}')
    assert suggested == 15 and suggested > 1.25 * len(numbers), suggested


def test_call_reported_after_the_hold_is_attributed(stack):
    # A tag longer than call.json keeps (256 characters; here 308, in 560 bytes) is
    # cut to it, in characters.
    long_content = "Имплантация под ключ. " * 14
    st, _, r = ask(stack.svc, "demo-south", "visitor-ad-0001", utm_source="yandex",
                   utm_medium="cpc", utm_campaign="implants-spring", yclid="123456",
                   utm_content=long_content)
    assert st == 200 and r["dynamic"], r
    number = r["number"]
    start = datetime.now(timezone.utc)  # the call starts while the number is held
    # The hold runs out (awaited in Redis, where it lives) before the call
    # is reported, as Twilio reports only "completed".
    wait_until(lambda: redis_cli("EXISTS", holder_key(number)) == "0", 30,
               "the hold to expire")
    att = tracked_call(stack, number, "demo-south", start, 1, 40)["attribution"]
    assert att == {"kind": "dynamic", "tracking_number": number, "visitor_id": "visitor-ad-0001",
                   "source": "yandex", "medium": "cpc", "campaign": "implants-spring",
                   "content": long_content[:256], "yclid": "123456"}, att


def test_redis_down_answers_the_default_number(stack):
    # Extra instances here serve DNI only: without consumers they join no
    # group, so the stack's own instance is not rebalanced under them.
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_REDIS_URL="redis://127.0.0.1:%d/0"
                                        % cfstack.free_port()))
    svc.start()
    try:
        t0 = time.monotonic()
        st, _, r = ask(svc, "demo-south", "visitor-nored-01")
        assert st == 200 and r["number"] == clinic("demo-south")["default_phone"], r
        assert r["dynamic"] is False and time.monotonic() - t0 < 5
        # the page keeps a number it holds until its hold ends, and asks again
        assert r["unavailable"] is True, r
    finally:
        svc.stop()


def test_holds_put_back_after_redis_lost_its_data(stack):
    # Redis restarted without persistence (as the compose file runs it)
    # forgets every hold while pages opened before still show their
    # numbers: the holds PostgreSQL records as live are put back before a
    # new visitor takes a number, so no number is shown to two visitors.
    redis = cfstack.OwnRedis()
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_REDIS_URL=redis.url,
                                        CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS="0"))
    tag = uuid.uuid4().hex[:8]
    visitor = "visitor-kept-%s" % tag
    numbers = pool("demo-center")["numbers"]
    svc.start()
    try:
        st, _, a = ask(svc, "demo-center", visitor)
        assert st == 200 and a["dynamic"] and a["number"] in numbers, a
        # its session reaches PostgreSQL milliseconds after the answer
        wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.dni_sessions"
                                        " WHERE visitor_id = '%s'" % visitor) == [["1"]],
                   10, "the hold's session in calls.dni_sessions")
        # the numbers other tests' visitors hold too, as PostgreSQL has them
        live = {r[0] for r in cfstack.psql(
            stack.dsn, "SELECT number FROM calls.dni_sessions WHERE clinic_id = 'demo-center'"
            " AND held_until > now() + interval '1 minute'")}
        assert a["number"] in live
        redis.restart()
        assert redis.cli("DBSIZE") == "0"

        others = []
        for i in range(len(numbers)):
            # the first answers say unavailable until the service has
            # connected to the new server
            def answered(v="visitor-new-%s-%d" % (tag, i)):
                st, _, r = ask(svc, "demo-center", v)
                assert st == 200, r
                return None if r.get("unavailable") else r
            others.append(wait_until(answered, 15, "the service connected to redis again"))
        given = [r["number"] for r in others if r["dynamic"]]
        assert not set(given) & live, (live, others)
        assert len(given) == len(set(numbers) - live), (live, others)
        st, _, again = ask(svc, "demo-center", visitor)
        assert st == 200 and again["dynamic"] and again["number"] == a["number"], (a, again)
        assert metric(svc, "clinicflow_dni_restored_holds_total") >= len(live & set(numbers))
        assert redis.cli("EXISTS", "cf:dni:restoring") == "0"
    finally:
        svc.stop()
        redis.close()
        # ended, or a later test that makes the shared Redis lose its epoch
        # would have these holds put back there
        cfstack.psql(stack.dsn, "UPDATE calls.dni_sessions SET held_until = now()"
                     " WHERE visitor_id LIKE '%%-%s%%'" % tag)


def test_a_new_ad_click_while_the_number_is_held_brings_its_tags(stack):
    """A visitor holds a number from an untagged page, then lands from an
    ad in the same tab (the snippet asks with new_visit=1): the number
    stays theirs, the click gets a session of its own with its tags, and a
    call then is the ad's. The next ask of that page only extends it."""
    visitor = "visitor-reclick-" + uuid.uuid4().hex[:8]
    st, _, first = ask(stack.svc, "demo-south", visitor)
    assert st == 200 and first["dynamic"], first
    st, _, again = ask(stack.svc, "demo-south", visitor, new_visit="1", utm_source="google",
                       utm_medium="cpc", utm_campaign="implants", gclid="g-123")
    assert st == 200 and again["number"] == first["number"], again

    def sessions():
        return cfstack.psql(stack.dsn, "SELECT coalesce(utm->>'source', 'none'),"
                            " coalesce(utm->>'gclid', 'none') FROM calls.dni_sessions"
                            " WHERE visitor_id = '%s' ORDER BY reserved_at" % visitor)
    wait_until(lambda: len(sessions()) == 2, 30, "the new visit's session")
    assert sessions() == [["none", "none"], ["google", "g-123"]], sessions()
    st, _, later = ask(stack.svc, "demo-south", visitor, utm_source="google",
                       utm_medium="cpc", utm_campaign="implants", gclid="g-123")
    assert later["number"] == first["number"], later
    # while the number is held: the call is the click's
    call = tracked_call(stack, first["number"], "demo-south", datetime.now(timezone.utc), 2, 28)
    att = call.get("attribution")
    assert att, (call, cfstack.psql(stack.dsn, "SELECT number, reserved_at, held_until FROM"
                                    " calls.dni_sessions WHERE visitor_id = '%s'" % visitor))
    assert (att["visitor_id"], att.get("source"), att.get("gclid")) == (
        visitor, "google", "g-123"), att
    assert len(sessions()) == 2, sessions()
    release("demo-south", visitor)


def away_from_a_minute_edge():
    """Waits (at most 15 s) until the limits' fixed one-minute windows, on
    the monotonic clock the service uses too, have 15 s or more to run."""
    while time.monotonic() % 60 > 45:
        time.sleep(0.5)


def release(clinic_id, *visitors):
    """Frees what the visitors hold in Redis, for the tests that follow."""
    for v in visitors:
        held = redis_cli("GET", "cf:dni:v:%s:%s" % (clinic_id, v))
        if held:
            redis_cli("DEL", holder_key(held.split()[0]))
        redis_cli("DEL", "cf:dni:v:%s:%s" % (clinic_id, v))


# The rate-limit tests count under a client address of their own, forwarded
# by the test as a trusted proxy: other tests' requests from 127.0.0.1 (the
# same Redis serves every test) do not add to their counts.
BEHIND_PROXY = {"CLINICFLOW_CALLS_TRUSTED_PROXIES": "127.0.0.1, ::1"}


def a_client():
    return "198.51.100.%d" % (uuid.uuid4().int % 250 + 1)


def test_returning_visitor_answered_from_memory(stack):
    # With CLINICFLOW_CALLS_DNI_LOCAL_S, an instance answers a visitor whose
    # hold it just took from memory; Redis keeps the hold that much longer
    # (never shortened by an instance without it), forgets when Redis lost
    # its data, and still counts every request against the limits.
    local_s, hold_s = 60, pool("demo-center")["hold_seconds"]
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_CALLS_DNI_LOCAL_S=str(local_s),
                                        CLINICFLOW_CALLS_DNI_IP_PER_MINUTE="6", **BEHIND_PROXY))
    tag = uuid.uuid4().hex[:8]
    visitor, other = "visitor-mem-%s" % tag, "visitor-mem-%s-b" % tag
    client = a_client()
    a = None
    svc.start()
    try:
        redis_cli("DEL", "cf:dni:rl:ip:" + client)
        away_from_a_minute_edge()
        vkey = "cf:dni:v:demo-center:" + visitor
        local = 'clinicflow_dni_local_answers_total{clinic="demo-center"}'
        st, _, a = ask(svc, "demo-center", visitor, client=client)                        # request 1
        assert st == 200 and a["dynamic"] and a["hold_seconds"] == hold_s, a
        assert hold_s * 1000 < int(redis_cli("PTTL", vkey)) <= (hold_s + local_s) * 1000

        # An instance that asks Redis every time finds the same hold and
        # does not cut it to its own length.
        st, _, there = ask(stack.svc, "demo-center", visitor)
        assert st == 200 and there["number"] == a["number"], there
        assert int(redis_cli("PTTL", vkey)) > hold_s * 1000

        # Answered from memory: a visitor record broken in Redis does not
        # change the answer, which it would if Redis were asked.
        redis_cli("SET", vkey, "+74990000199 1", "KEEPTTL")
        before = metric(svc, local)
        st, _, again = ask(svc, "demo-center", visitor, client=client)                    # request 2
        assert st == 200 and again == a, again
        assert metric(svc, local) == before + 1

        # Redis lost its data (a new epoch): the next round trip tells the
        # instance, which then asks Redis for the visitor again: not from
        # memory (the count stays). What Redis answers depends on whether
        # the hold was written to the database before the loss (the restore
        # then puts it back over the broken record), and on a busy machine
        # the restore may still be going (the default number, "restoring"),
        # so the number is not what tells.
        redis_cli("DEL", "cf:dni:epoch")
        assert ask(svc, "demo-center", other, client=client)[0] == 200                    # request 3
        st, _, after = ask(svc, "demo-center", visitor, client=client)                    # request 4
        assert st == 200, (a, after)
        assert metric(svc, local) == before + 1

        # Answers from memory count against the limits (6 a minute here).
        for i in (5, 6):
            st, _, r = ask(svc, "demo-center", visitor, client=client)
            assert st == 200 and r["number"] == after["number"], (i, st, r)
        assert metric(svc, local) == before + 3
        st, hdrs, body = ask(svc, "demo-center", visitor, client=client)                  # request 7
        assert st == 429 and hdrs["retry-after"] == "60", (st, body)
    finally:
        svc.stop()
        # The number the broken record named, and the holds taken here.
        redis_cli("DEL", holder_key("+74990000199"))
        release("demo-center", visitor, other)
        if a:
            redis_cli("DEL", holder_key(a["number"]))


def test_a_number_out_of_the_pool_is_given_up(stack):
    # A number the network's configuration takes out of the clinic's pool
    # (returned to the carrier, or given to another clinic) is no longer
    # shown to the visitor who held it, by an instance that asks Redis
    # every time or one that answered them from memory: they get one of
    # the pool's numbers now.
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_CALLS_DNI_LOCAL_S="60"))
    tag = uuid.uuid4().hex[:8]
    visitors = {stack.svc: "visitor-out-%s-r" % tag, svc: "visitor-out-%s-m" % tag}
    doc = cfstack.demo_network()
    numbers = pool("demo-center")["numbers"]
    held = {}
    svc.start()
    try:
        for instance, visitor in visitors.items():
            st, _, a = ask(instance, "demo-center", visitor)
            assert st == 200 and a["dynamic"] and a["number"] in numbers, a
            held[instance] = a["number"]
        st, _, again = ask(svc, "demo-center", visitors[svc])  # from memory now
        assert again["number"] == held[svc], again
        for p in doc["number_pools"]:
            if p["clinic_id"] == "demo-center":
                p["numbers"] = [n for n in numbers if n not in held.values()]
        cfstack.apply_network_and_wait(stack.dsn, doc, list(visitors))
        for instance, visitor in visitors.items():
            st, _, now = ask(instance, "demo-center", visitor)
            assert st == 200 and now["dynamic"], now
            assert now["number"] not in held.values() and now["number"] in numbers, (held, now)
    finally:
        svc.stop()
        # awaited: a later test's own change must not be taken for this one
        cfstack.apply_network_and_wait(stack.dsn, cfstack.demo_network(), [stack.svc])
        release("demo-center", *visitors.values())
        for number in held.values():
            redis_cli("DEL", holder_key(number))


def test_a_new_visit_gives_up_a_number_out_of_the_pool(stack):
    # The same for a visitor who lands from an ad on an instance that asks
    # Redis every time (new_visit=1: the number held starts a session on
    # the first trip): the number gone is given up there, not renewed with
    # a session of the click's.
    visitor = "visitor-out-new-" + uuid.uuid4().hex[:8]
    doc = cfstack.demo_network()
    numbers = pool("demo-center")["numbers"]
    st, _, a = ask(stack.svc, "demo-center", visitor)
    assert st == 200 and a["dynamic"] and a["number"] in numbers, a
    held = a["number"]
    try:
        for p in doc["number_pools"]:
            if p["clinic_id"] == "demo-center":
                p["numbers"] = [n for n in numbers if n != held]
        changed = cfstack.psql(stack.dsn, "SELECT now()")[0][0]
        cfstack.apply_network_and_wait(stack.dsn, doc, [stack.svc])
        st, _, now = ask(stack.svc, "demo-center", visitor, new_visit="1", utm_source="x")
        assert st == 200 and now["dynamic"] and now["number"] != held, (held, now)

        def since_change():
            return cfstack.psql(stack.dsn, "SELECT number FROM calls.dni_sessions"
                                " WHERE visitor_id = '%s' AND reserved_at > '%s'"
                                % (visitor, changed))
        wait_until(lambda: since_change(), 30, "the new visit's session written")
        assert since_change() == [[now["number"]]], since_change()
    finally:
        cfstack.apply_network_and_wait(stack.dsn, cfstack.demo_network(), [stack.svc])
        release("demo-center", visitor)
        redis_cli("DEL", holder_key(held))


def test_rate_limited(stack):
    # Every request counts, a returning visitor's too; the one over the
    # limit gets 429 and reserves nothing.
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_CALLS_DNI_IP_PER_MINUTE="3", **BEHIND_PROXY))
    tag = uuid.uuid4().hex[:8]
    client = a_client()
    first, other, late = ("visitor-rl-%s-%d" % (tag, i) for i in range(3))
    svc.start()
    try:
        redis_cli("DEL", "cf:dni:rl:ip:" + client)
        away_from_a_minute_edge()
        st, _, r = ask(svc, "demo-center", first, client=client)
        assert st == 200 and r["dynamic"] is True, (st, r)
        assert ask(svc, "demo-center", other, client=client)[0] == 200
        st, _, again = ask(svc, "demo-center", first, client=client)
        assert st == 200 and again["number"] == r["number"], (st, again)
        st, hdrs, body = ask(svc, "demo-center", late, client=client)
        assert st == 429, (st, body)
        assert hdrs["retry-after"] == "60" and body["error"]["code"] == "rate_limited", body
        assert redis_cli("EXISTS", "cf:dni:v:demo-center:" + late) == "0"
        # Counted under the client the proxy named: another client behind
        # the same proxy still passes.
        assert redis_cli("GET", "cf:dni:rl:ip:" + client) == "3"
        neighbour = next(c for c in iter(a_client, None) if c != client)
        assert ask(svc, "demo-center", late, client=neighbour)[0] == 200
    finally:
        svc.stop()
        release("demo-center", first, other, late)

    # The limits hold across instances: requests other instances counted in
    # Redis (set here) refuse a request this instance has not seen before.
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_CALLS_DNI_IP_PER_MINUTE="3", **BEHIND_PROXY))
    svc.start()
    try:
        redis_cli("SET", "cf:dni:rl:ip:" + client, "3", "EX", "60")
        fresh = "visitor-rl-%s-x" % uuid.uuid4().hex[:8]
        st, _, body = ask(svc, "demo-center", fresh, client=client)
        assert st == 429 and body["error"]["code"] == "rate_limited", (st, body)
        assert redis_cli("EXISTS", "cf:dni:v:demo-center:" + fresh) == "0"
    finally:
        svc.stop()
        redis_cli("DEL", "cf:dni:rl:ip:" + client)


def test_new_holds_capped_per_address(stack):
    """A script cycling visitor ids from one address takes at most the cap
    of new holds; its next new visitor gets the default number, while its
    visitors' holds go on, and other addresses still get numbers. A hold
    period later it still gets none while its visitors hold the cap."""
    svc = cfstack.Service("calls", dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                                        CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS="2",
                                        **BEHIND_PROXY))
    tag = uuid.uuid4().hex[:8]
    client = a_client()
    visitors = ["visitor-cap-%s-%d" % (tag, i) for i in range(4)]
    neighbour = next(c for c in iter(a_client, None) if c != client)
    counters = ["cf:dni:new:demo-center:" + c for c in (client, neighbour)]
    lives = ["cf:dni:live:demo-center:" + c for c in (client, neighbour)]
    svc.start()
    try:
        redis_cli("DEL", *counters, *lives)  # the sanitizer passes share Redis
        first = [ask(svc, "demo-center", v, client=client)[2] for v in visitors[:2]]
        assert all(r["dynamic"] for r in first), first
        st, _, r = ask(svc, "demo-center", visitors[2], client=client)
        assert st == 200 and r == {"number": clinic("demo-center")["default_phone"],
                                   "dynamic": False, "hold_seconds": 0}, r
        assert redis_cli("EXISTS", "cf:dni:v:demo-center:" + visitors[2]) == "0"
        assert metric(svc, 'clinicflow_dni_address_capped_total{clinic="demo-center"}') == 1
        assert metric(svc, 'clinicflow_dni_exhausted_total{clinic="demo-center"}') == 0
        # A visitor from there who holds a number keeps it.
        st, _, again = ask(svc, "demo-center", visitors[0], client=client)
        assert again["dynamic"] and again["number"] == first[0]["number"], again
        st, _, other = ask(svc, "demo-center", visitors[3], client=neighbour)
        assert st == 200 and other["dynamic"], other
        # A hold period on (its count of new visitors gone, as its expiry
        # takes it) the address still holds its two: a third waits until
        # one of them ends, so keeping holds alive cannot pin the pool.
        redis_cli("DEL", counters[0])
        st, _, r = ask(svc, "demo-center", visitors[2], client=client)
        assert st == 200 and not r["dynamic"], r
        assert metric(svc, 'clinicflow_dni_address_capped_total{clinic="demo-center"}') == 2
    finally:
        svc.stop()
        release("demo-center", *visitors)
        redis_cli("DEL", *counters, *lives)


def south_pool(doc, numbers):
    """doc (a network document) with the demo-south pool made of numbers."""
    for p in doc["number_pools"]:
        if p["clinic_id"] == "demo-south":
            p["numbers"] = numbers
    return doc


def test_a_number_moved_to_another_clinic_stays_held(stack):
    # A number the configuration moves from one clinic's pool to another's
    # while a visitor of the first holds it is not given to a visitor of
    # the second: calls to it are the network's, and would be attributed to
    # whichever of two visitors took it last. Once its visitor gives it up
    # (they come back and take one of their pool's), it is free.
    tag = uuid.uuid4().hex[:8]
    first, second, third = ("visitor-moved-%s-%d" % (tag, i) for i in range(3))
    numbers = pool("demo-center")["numbers"]
    doc, moved = cfstack.demo_network(), None
    try:
        st, _, a = ask(stack.svc, "demo-center", first)
        assert st == 200 and a["dynamic"] and a["number"] in numbers, a
        moved = a["number"]
        for p in doc["number_pools"]:
            if p["clinic_id"] == "demo-center":
                p["numbers"] = [n for n in numbers if n != moved]
        cfstack.apply_network_and_wait(stack.dsn, south_pool(doc, [moved]), [stack.svc])
        st, _, b = ask(stack.svc, "demo-south", second)
        assert st == 200 and b["dynamic"] is False, b
        assert b["number"] == clinic("demo-south")["default_phone"], b
        st, _, again = ask(stack.svc, "demo-center", first)
        assert st == 200 and again["dynamic"] and again["number"] != moved, again

        def third_gets_it():
            st, _, c = ask(stack.svc, "demo-south", third)
            assert st == 200, c
            return c if c["dynamic"] else None  # a full pool is marked so for a second
        assert wait_until(third_gets_it, 10, "the number given")["number"] == moved
    finally:
        if moved:
            cfstack.apply_network_and_wait(stack.dsn, cfstack.demo_network(), [stack.svc])
        release("demo-center", first)
        release("demo-south", second, third)
        redis_cli("DEL", "cf:dni:n:demo-south:full", "cf:dni:n:demo-south:denied")


def test_a_hold_taken_under_the_clinic_key_is_kept(stack):
    # An instance of an earlier release kept a number's holder under the
    # clinic's key, its value the visitor alone. After an upgrade that hold
    # still keeps the number from new visitors, and its visitor, coming
    # back, keeps the number: the hold moves to the network's key.
    tag = uuid.uuid4().hex[:8]
    old, new = "visitor-old-%s" % tag, "visitor-new-%s" % tag
    number = "+74990000309"
    legacy = "cf:dni:n:demo-south:" + number
    try:
        cfstack.apply_network_and_wait(stack.dsn, south_pool(cfstack.demo_network(), [number]),
                                       [stack.svc])
        redis_cli("SET", legacy, old, "EX", "600")
        redis_cli("SET", "cf:dni:v:demo-south:" + old,
                  "%s %d" % (number, int(time.time() * 1000)), "EX", "600")
        st, _, a = ask(stack.svc, "demo-south", new)
        assert st == 200 and a["dynamic"] is False, a
        st, _, b = ask(stack.svc, "demo-south", old)
        assert st == 200 and b["dynamic"] and b["number"] == number, b
        assert redis_cli("EXISTS", legacy) == "0"
        assert redis_cli("GET", holder_key(number)) == "demo-south " + old
        assert 500 < int(redis_cli("TTL", holder_key(number))) <= 600
    finally:
        cfstack.apply_network_and_wait(stack.dsn, cfstack.demo_network(), [stack.svc])
        release("demo-south", old, new)
        redis_cli("DEL", legacy, "cf:dni:n:demo-south:full", "cf:dni:n:demo-south:denied")


if __name__ == "__main__":
    # Every request goes to Redis unless a test says otherwise. The tests'
    # visitors all come from one address: no cap on its new holds, but in
    # the test of the cap.
    s = Stack(extra_env={"CLINICFLOW_CALLS_DNI_HOLD_S": str(HOLD_S),
                         "CLINICFLOW_CALLS_DNI_FLUSH_MS": "200",
                         "CLINICFLOW_CALLS_DNI_LOCAL_S": "0",
                         "CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS": "0"})
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_same_visitor_same_number_and_cors,
            test_hold_without_its_row_gets_one,
            test_robots_hold_no_number,
            test_bad_requests,
            test_exhausted_pool_answers_the_default_number,
            test_call_reported_after_the_hold_is_attributed,
            test_a_new_ad_click_while_the_number_is_held_brings_its_tags,
            test_redis_down_answers_the_default_number,
            test_holds_put_back_after_redis_lost_its_data,
            test_returning_visitor_answered_from_memory,
            test_a_number_out_of_the_pool_is_given_up,
            test_a_new_visit_gives_up_a_number_out_of_the_pool,
            test_a_number_moved_to_another_clinic_stays_held,
            test_a_hold_taken_under_the_clinic_key_is_kept,
            test_rate_limited,
            test_new_holds_capped_per_address,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
