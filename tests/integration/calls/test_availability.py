"""Staying available without opening a door. The service reaches
PostgreSQL through a TCP relay this test owns, so it can cut PostgreSQL off
from the service (and give it back) while the test itself still reads and
writes the database directly:

- an intake-only instance stays ready while PostgreSQL is unreachable (its
  webhooks do not need it) and keeps taking events, while an instance that
  runs consumers reports not ready; /readyz names the role and what it needs;
- a key revoked while PostgreSQL is unreachable stops working once the
  config snapshot is older than CLINICFLOW_CONFIG_MAX_AGE_S: API-key routes
  answer 503 with Retry-After, provider routes keep working, and when
  PostgreSQL is back the revoked key is refused and the others work;
- a form with more fields than CLINICFLOW_HTTP_MAX_FORM_FIELDS is a 413
  without the seconds of parsing it used to cost;
- with CLINICFLOW_HTTP_PER_IP_CONNECTIONS=N the N+1th connection from one
  address is closed while other addresses are served."""
import itertools
import json
import socket
import string
import time
import urllib.parse
import zoneinfo
from datetime import datetime, timedelta

import cfstack
from cfstack import wait_until
from common import call_body, demo_channel, events_for, hook_path

RAW = "clinicflow.calls.raw.v1"
FORM = "application/x-www-form-urlencoded"


class Setup:
    """A database with the demo network and keys, a devbroker of its own,
    and a relay the services reach PostgreSQL through."""

    def __init__(self):
        self.test_env = cfstack.env()
        self.dsn = cfstack.new_database(self.test_env["pg_dsn"])
        self.keys = cfstack.setup_demo(self.dsn)
        self.broker = cfstack.Devbroker()
        parts = urllib.parse.urlsplit(self.dsn)
        self.relay = cfstack.Relay(parts.hostname, parts.port)
        self.relayed_dsn = self.relay.dsn(self.dsn)

    def service(self, **env):
        e = {"CLINICFLOW_PG_DSN": self.relayed_dsn,
             "CLINICFLOW_KAFKA_BROKERS": self.broker.bootstrap,
             "CLINICFLOW_REDIS_URL": self.test_env["redis_url"],
             "CLINICFLOW_CONFIG_RELOAD_MS": "200",
             "CLINICFLOW_PG_ACQUIRE_TIMEOUT_MS": "500",
             "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "3000",
             "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS": "5000"}
        e.update(env)
        return cfstack.Service("calls", e).start()

    def close(self):
        self.relay.refuse()
        self.broker.stop()


def readyz(svc):
    st, _, body = cfstack.http("GET", svc.url("/readyz"))
    return st, json.loads(body)


def post_generic(svc, key, body=None):
    return cfstack.http("POST", svc.url("/v1/hooks/calls/generic"), body or call_body(),
                        {"Authorization": "Bearer " + key})


def post_asterisk(svc, params):
    """A CDR post to the demo Asterisk channel (a URL token, no API key)."""
    tok = demo_channel("demo-asterisk")["credentials"]["url_token"]
    return cfstack.http("POST", svc.url(hook_path("asterisk", "demo-asterisk", token=tok)),
                        urllib.parse.urlencode(params), {"Content-Type": FORM})


def cdr(linkedid):
    """A missed call's CDR that ended now, in the channel's zone (the
    route refuses times far from the arrival)."""
    end = datetime.now(zoneinfo.ZoneInfo("Europe/Moscow")).replace(microsecond=0)
    start = end - timedelta(seconds=9)
    return {"event": "hangup", "direction": "inbound", "did": "74950000202",
            "uniqueid": linkedid, "linkedid": linkedid, "src": "89161234567",
            "dst": "reception", "disposition": "NO ANSWER", "duration": "9", "billsec": "0",
            "start": start.strftime("%Y-%m-%d %H:%M:%S"), "end": end.strftime("%Y-%m-%d %H:%M:%S")}


def test_intake_ready_without_postgres(setup):
    intake = setup.service(CLINICFLOW_CALLS_CONSUMERS="0")
    folder = setup.service(CLINICFLOW_CALLS_CONSUMERS="1")
    st, ready = readyz(intake)
    assert st == 200 and ready["role"] == "intake", ready
    assert ready["needs"] == ["kafka", "config"], ready
    assert ready["postgres"] == "ok" and ready["config"] == "ok", ready
    st, ready = readyz(folder)
    assert st == 200 and ready["role"] == "intake+consumers", ready
    assert ready["needs"] == ["kafka", "config", "postgres"], ready

    setup.relay.refuse()
    try:
        wait_until(lambda: readyz(folder)[0] == 503, 30, "the consumer instance not ready")
        assert readyz(folder)[1]["postgres"] == "down"
        # The intake instance sees PostgreSQL go (its config reload fails)
        # and stays ready: a load balancer keeps sending it webhooks.
        wait_until(lambda: readyz(intake)[1]["postgres"] == "down", 30,
                   "the intake instance to see postgresql down")
        st, ready = readyz(intake)
        assert st == 200 and ready["ready"] is True, ready
        assert ready["kafka"] == "ok" and ready["config"] == "ok", ready
        body = call_body(event="ended", outcome="missed")
        st, _, reply = post_generic(intake, setup.keys["ingest"], body)
        assert st == 202, reply
        call_id = json.loads(reply)["call_id"]
        raw = cfstack.TopicReader(setup.broker.bootstrap, RAW).read()
        assert events_for(raw, call_id), "the webhook taken without postgresql is not on calls.raw"
    finally:
        setup.relay.up()
    wait_until(lambda: readyz(folder)[0] == 200, 60, "the consumer instance ready again")
    wait_until(lambda: readyz(intake)[1]["postgres"] == "ok", 30, "the intake instance to see it")
    folder.stop()
    intake.stop()


def test_revoked_key_stops_working_when_config_is_stale(setup):
    keep = cfstack.create_key(setup.dsn, setup.keys["network_id"], "ingest")
    p = cfstack.clinicflowctl(setup.dsn, "key", "create", "--network", setup.keys["network_id"],
                              "--scope", "ingest")
    revoked = p.stdout.split()[-1]
    revoked_id = [w for w in (p.stdout + p.stderr).split() if w.count("-") == 4][0]
    svc = setup.service(CLINICFLOW_CALLS_CONSUMERS="0", CLINICFLOW_CONFIG_MAX_AGE_S="2")
    st, _, reply = post_generic(svc, revoked)
    assert st == 202, reply

    setup.relay.refuse()
    try:
        # Revoked where the service cannot see it.
        cfstack.clinicflowctl(setup.dsn, "key", "revoke", revoked_id)
        t0 = time.monotonic()

        def refused():
            st, hdrs, reply = post_generic(svc, revoked)
            if st == 202:
                return None  # the snapshot is not two seconds old yet
            return st, hdrs, reply

        st, hdrs, reply = wait_until(refused, 30, "the key to be refused with a stale config")
        took = time.monotonic() - t0
        assert st == 503, (st, reply)
        assert int(hdrs["retry-after"]) > 0, hdrs
        assert json.loads(reply)["error"]["code"] == "unavailable", reply
        assert took < 10, "refused only after %.1fs" % took
        # Every key, not only the revoked one: none can be checked.
        assert post_generic(svc, keep)[0] == 503
        # Provider routes keep working, and the instance stays ready.
        st, _, reply = post_asterisk(svc, cdr("1795165200.%d" % (time.time_ns() % 100000)))
        assert st == 200 and reply == b"OK", (st, reply)
        st, ready = readyz(svc)
        assert st == 200 and ready["config"] == "stale" and ready["config_age_ms"] > 2000, ready
    finally:
        setup.relay.up()

    def fresh():
        return post_generic(svc, keep)[0] == 202

    wait_until(fresh, 30, "API keys accepted again once the config is read")
    st, _, reply = post_generic(svc, revoked)
    assert st == 401, (st, reply)
    assert readyz(svc)[1]["config"] == "ok"
    svc.stop()


def form_of(n):
    keys = ("".join(k) for k in itertools.product(string.ascii_letters + string.digits, repeat=3))
    return "&".join(itertools.islice(keys, n))


def test_too_many_form_fields(setup):
    svc = setup.service(CLINICFLOW_CALLS_CONSUMERS="0", CLINICFLOW_HTTP_MAX_FORM_FIELDS="200")
    tok = demo_channel("demo-asterisk")["credentials"]["url_token"]
    url = svc.url(hook_path("asterisk", "demo-asterisk", token=tok))
    # A real CDR is far below the cap.
    st, _, reply = post_asterisk(svc, cdr("1795165201.%d" % (time.time_ns() % 100000)))
    assert st == 200, (st, reply)
    # 16,383 fields in 64 KiB: ulfius used to parse them (one linear search
    # a field) for over a second before any handler ran.
    for n in (201, 16383):
        t0 = time.monotonic()
        st, _, reply = cfstack.http("POST", url, form_of(n), {"Content-Type": FORM})
        took = time.monotonic() - t0
        assert st == 413, (n, st, reply)
        err = json.loads(reply)["error"]
        assert err["code"] == "too_many_fields" and err["field"] is None, err
        assert took < 0.5, "%d fields took %.2fs" % (n, took)
    svc.stop()


def test_per_ip_connection_limit(setup):
    limit = 3
    svc = setup.service(CLINICFLOW_CALLS_CONSUMERS="0",
                        CLINICFLOW_HTTP_PER_IP_CONNECTIONS=str(limit))
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

    # The test's own address: the readiness checks came from 127.0.0.1, and
    # the server may not have seen all of their closes yet (a busy machine).
    def connect(source="127.0.0.3"):
        s = socket.socket()
        s.settimeout(5)
        s.bind((source, 0))
        s.connect(("127.0.0.1", svc.port))
        return s

    def served(s):
        """Sends a request on s; True if a 200 came back, False if the
        server closed the connection instead."""
        try:
            s.sendall(request)
            data = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return False
        return data.startswith(b"HTTP/1.1 200")

    held = []
    try:
        for _ in range(limit):
            s = connect()
            assert served(s), "a connection within the limit was not served"
            held.append(s)
        extra = connect()
        assert not served(extra), "connection %d from one address was served" % (limit + 1)
        extra.close()
        # Another address is not counted against this one.
        other = connect("127.0.0.2")
        assert served(other)
        other.close()
        # A slot freed is a slot taken again (once the server saw the close).
        held.pop().close()

        def reconnects():
            s = connect()
            if served(s):
                held.append(s)
                return True
            s.close()
            return False

        wait_until(reconnects, 10, "a new connection once one was closed")
    finally:
        for s in held:
            s.close()
    svc.stop()


if __name__ == "__main__":
    s = Setup()
    try:
        cfstack.run([lambda f=f: f(s) for f in (test_intake_ready_without_postgres,
                                                test_revoked_key_stops_working_when_config_is_stale,
                                                test_too_many_form_fields,
                                                test_per_ip_connection_limit)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
