"""Dynamic number insertion while PostgreSQL is unreachable: a new visitor
is answered at once from Redis, the reservation's session is kept in Redis
(bounded by CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX) and survives the instance
that took it crashing; once PostgreSQL is back the session row is written
and a call to the number is attributed to the visitor.

PostgreSQL is made unreachable for one instance only, by a TCP relay in
front of the shared server that, when "down", accepts connections and
stalls them (a host that stopped answering: the worst case, where a client
waits for its timeouts); the relay's Redis is a server of this test's own,
so the counts of unwritten sessions are this test's alone."""
import json
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

import cfstack
from common import Stack, call_body, events_for, metric, tracked_call, wait_until


def ask(svc, clinic_id, visitor, **params):
    q = urllib.parse.urlencode(dict(clinic=clinic_id, visitor=visitor, **params))
    t0 = time.monotonic()
    st, _, body = cfstack.http("GET", svc.url("/v1/tracking/number?" + q), timeout=30)
    return st, json.loads(body), time.monotonic() - t0


def sessions(stack, visitor):
    return cfstack.psql(stack.dsn, "SELECT number, utm->>'source' FROM calls.dni_sessions"
                        " WHERE visitor_id = '%s'" % visitor)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def test_postgres_down(stack, relay, redis):
    env = dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
               CLINICFLOW_PG_DSN=relay.dsn(stack.dsn), CLINICFLOW_REDIS_URL=redis.url,
               CLINICFLOW_CALLS_DNI_FLUSH_MS="200", CLINICFLOW_CALLS_DNI_LOCAL_S="0",
               CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS="0",
               CLINICFLOW_CALLS_DNI_UNWRITTEN_MAX="2")
    tag = uuid.uuid4().hex[:8]
    first, second, third = ("visitor-pgdown-%s-%d" % (tag, i) for i in range(3))
    default = next(c for c in cfstack.demo_network()["clinics"]
                   if c["id"] == "demo-center")["default_phone"]
    svc = cfstack.Service("calls", env)
    svc.start()
    svc2 = None
    try:
        relay.stall()
        # Answered at once (a functional deadline: PostgreSQL is not asked).
        st, a, took = ask(svc, "demo-center", first, utm_source="yandex", utm_campaign="pg-down")
        assert st == 200 and a["dynamic"] is True and took < 1.0, (st, a, took)
        st, b, took = ask(svc, "demo-center", second, utm_source="google")
        assert st == 200 and b["dynamic"] is True and took < 1.0, (st, b, took)
        # The sessions wait in Redis, not in PostgreSQL.
        assert redis.cli("GET", "cf:dni:unwritten:n") == "2"
        assert redis.cli("HLEN", "cf:dni:u:demo:" + a["number"]) == "1"
        assert sessions(stack, first) == []
        # At the cap, a new visitor gets the default number and no hold.
        st, c, took = ask(svc, "demo-center", third)
        assert st == 200 and c == {"number": default, "dynamic": False, "hold_seconds": 0}, c
        assert took < 1.0, took
        assert redis.cli("EXISTS", "cf:dni:v:demo-center:" + third) == "0"
        assert metric(svc, 'clinicflow_dni_unwritten_full_total{clinic="demo-center"}') == 1

        # The instance that took the holds dies before PostgreSQL is back:
        # another one writes their sessions.
        svc.kill()
        relay.up()
        svc2 = cfstack.Service("calls", env)
        svc2.start()
        wait_until(lambda: sessions(stack, first) == [[a["number"], "yandex"]], 30,
                   "the first session written after PostgreSQL came back")
        wait_until(lambda: sessions(stack, second) == [[b["number"], "google"]], 30,
                   "the second session")
        wait_until(lambda: redis.cli("GET", "cf:dni:unwritten:n") == "0", 30,
                   "Redis to forget the written sessions")
        assert redis.cli("EXISTS", "cf:dni:u:demo:" + a["number"]) == "0"
        assert redis.cli("SCARD", "cf:dni:unwritten") == "0"
        wait_until(lambda: "\nclinicflow_dni_unwritten_sessions 0\n" in cfstack.http(
            "GET", svc2.url("/metrics"))[2].decode(), 30, "the backlog gauge at 0")
        # Below the cap again: the third visitor gets a number.
        st, c, _ = ask(svc2, "demo-center", third)
        assert st == 200 and c["dynamic"] is True, c

        # A call to the first visitor's number, while the hold lasts, is
        # attributed to the visitor's tags.
        att = tracked_call(stack, a["number"], "demo-center", datetime.now(timezone.utc), 1,
                           29)["attribution"]
        assert att == {"kind": "dynamic", "tracking_number": a["number"], "visitor_id": first,
                       "source": "yandex", "campaign": "pg-down"}, att
    finally:
        relay.up()
        if svc2:
            svc2.stop()
        svc.kill()


def test_a_page_without_tags_leaves_the_holds_own(stack, relay, redis):
    """A visitor lands with tags while PostgreSQL is unreachable, then opens
    another page that sends none (another tab: the page keeps the landing's
    tags per tab), which extends the hold. Once PostgreSQL is back, one
    round of the writer writes the extension, then the hold's own session
    kept in Redis: the session has the tags the hold was taken with."""
    env = dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
               CLINICFLOW_PG_DSN=relay.dsn(stack.dsn), CLINICFLOW_REDIS_URL=redis.url,
               CLINICFLOW_CALLS_DNI_FLUSH_MS="200", CLINICFLOW_CALLS_DNI_LOCAL_S="0",
               CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS="0")
    visitor = "visitor-tabs-" + uuid.uuid4().hex[:8]
    svc = cfstack.Service("calls", env)
    svc.start()
    try:
        relay.stall()
        st, a, _ = ask(svc, "demo-center", visitor, utm_source="yandex", utm_campaign="tabs")
        assert st == 200 and a["dynamic"] is True, (st, a)
        st, b, _ = ask(svc, "demo-center", visitor)
        assert st == 200 and b["number"] == a["number"], (st, b)
        assert metric(svc, 'clinicflow_dni_extensions_total{clinic="demo-center"}') == 1
        relay.up()
        wait_until(lambda: sessions(stack, visitor) and redis.cli(
            "GET", "cf:dni:unwritten:n") == "0", 30, "the session written and Redis's forgotten")
        assert sessions(stack, visitor) == [[a["number"], "yandex"]]
    finally:
        relay.up()
        svc.stop()


def test_call_folded_before_its_session_is_written(stack, relay, redis):
    """The fold writes a pool number's session that still waits in Redis
    before it attributes the call: here the instance that took the hold
    cannot reach PostgreSQL, and the folding instance's own drain is an hour
    away, so only the fold can write it."""
    stack.svc.stop()  # the folding instance below shares the test's Redis
    fold_env = dict(stack.service_env(), CLINICFLOW_REDIS_URL=redis.url,
                    CLINICFLOW_CALLS_DNI_FLUSH_MS="3600000")
    intake_env = dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="0",
                      CLINICFLOW_PG_DSN=relay.dsn(stack.dsn), CLINICFLOW_REDIS_URL=redis.url,
                      CLINICFLOW_CALLS_DNI_FLUSH_MS="200", CLINICFLOW_CALLS_DNI_LOCAL_S="0",
                      CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS="0")
    folder = cfstack.Service("calls", fold_env)
    folder.start()
    intake = cfstack.Service("calls", intake_env)
    intake.start()
    visitor = "visitor-settle-" + uuid.uuid4().hex[:8]
    try:
        relay.stall()
        st, a, _ = ask(intake, "demo-north", visitor, utm_source="vk", utm_campaign="settle")
        assert st == 200 and a["dynamic"] is True, (st, a)
        assert redis.cli("HLEN", "cf:dni:u:demo:" + a["number"]) == "1"
        assert sessions(stack, visitor) == []

        start = datetime.now(timezone.utc)
        body = call_body(event="ended", time=ts(start + timedelta(seconds=20)),
                         started_at=ts(start), answered_at=ts(start + timedelta(seconds=1)),
                         talk_seconds=19, clinic_id="demo-north", to=a["number"])
        st, _, reply = cfstack.http("POST", folder.url("/v1/hooks/calls/generic"),
                                    json.dumps(body).encode(),
                                    {"Content-Type": "application/json",
                                     "Authorization": "Bearer " + stack.keys["ingest"]})
        assert st == 202, reply
        call_id = json.loads(reply)["call_id"]
        ended = []
        wait_until(lambda: ended.extend(e for e in events_for(
            stack.reader("clinicflow.calls.v1").read(), call_id)
            if e["type"] == "clinicflow.call.ended") or ended, 60, "call.ended")
        att = ended[0]["data"].get("attribution")
        assert att == {"kind": "dynamic", "tracking_number": a["number"], "visitor_id": visitor,
                       "source": "vk", "campaign": "settle"}, att
        assert sessions(stack, visitor) == [[a["number"], "vk"]]
    finally:
        relay.up()
        intake.kill()
        folder.stop()
        stack.services.remove(stack.svc)  # stopped above, and checked there


if __name__ == "__main__":
    s = Stack()
    pg = urllib.parse.urlsplit(s.dsn)
    relay = cfstack.Relay(pg.hostname, pg.port)
    redis = cfstack.OwnRedis()
    # A Redis in use already (its epoch set): a new one, like one that lost
    # its data, takes no hold before the live ones are put back from
    # PostgreSQL (test_dni.py), and this test is about PostgreSQL alone.
    redis.cli("SET", "cf:dni:epoch", "1")
    try:
        cfstack.run([lambda: test_postgres_down(s, relay, redis),
                     lambda: test_a_page_without_tags_leaves_the_holds_own(s, relay, redis),
                     lambda: test_call_folded_before_its_session_is_written(s, relay, redis)],
                    exit=False)
    finally:
        relay.close()
        redis.close()
        s.close()
    cfstack.exit_status()
