"""Shared set-up for the reminders service's integration tests: a fresh
database with the demo network (and a second, small network for the walls
between tenants) and keys with the ingest, read and admin scopes, an own
devbroker (so what is on the topics belongs to this test alone), and
clinicflow-reminders as a real process; helpers to PUT, GET and DELETE JSON,
to compute the ids the MIS record API derives, to wait for what reaches a
topic, and to query PostgreSQL."""
import datetime
import http.client
import json
import secrets
import subprocess
import uuid

import cfstack

PATIENTS = "clinicflow.patients.v1"
APPOINTMENTS = "clinicflow.appointments.v1"
JSON = "application/json"
SOURCE = "/clinicflow/reminders/mis/api"

# cf_uuid5's namespace (services/common/src/hash.c, proto/README.md "Ids"):
# the name is the parts joined with one 0x1F byte.
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")

def demo_network():
    """The demo network without its gateway channels: those send to the
    local demo's stand-in (clinicflow-gateway-sim, tested on its own by
    test_demo_gateways); every other test gives the clinics the gateways it
    tests."""
    doc = cfstack.demo_network()
    doc["channels"] = [c for c in doc["channels"] if c["kind"] != "gateway"]
    return doc


NET = demo_network()["id"]
CLINICS = [c["id"] for c in demo_network()["clinics"]]

# A second network: its clinic is not one of the demo network's, and its key
# sees none of the demo network's records.
NETWORK_B = cfstack.small_network("it-rem-other", "it-rem-other-contact-key-secret-1",
                                  "it-rem-other-clinic", [{
                                      "id": "it-rem-other-form",
                                      "kind": "form",
                                      "provider": "generic",
                                      "clinic_id": "it-rem-other-clinic",
                                      "credentials": {"token": "it-rem-other-form-token-1"},
                                  }])

contact_key = cfstack.contact_key
wait_until = cfstack.wait_until


def cf_uuid5(*parts):
    """What cf_uuid5 computes over parts (strings)."""
    return str(uuid.uuid5(NS, "\x1f".join(parts)))


def patient_uuid(mis_id, network=NET):
    return cf_uuid5(network, "mis", "patient", mis_id)


def appointment_uuid(mis_id, network=NET):
    return cf_uuid5(network, "mis", "appointment", mis_id)


def patient_event_id(mis_id, version, network=NET):
    return cf_uuid5(network, "mis", "patient", mis_id, "v%d" % version)


def appointment_event_id(mis_id, version, network=NET):
    return cf_uuid5(network, "mis", "appointment", mis_id, "v%d" % version)


class HeldCommand:
    """Keeps the dispatchers from one command of a job, the way a dispatcher
    busy elsewhere would: an uncommitted row of the command's event id in
    the dispatch group's applied_events, on a psql session of its own, so a
    dispatcher that reads the command waits on it before it looks at
    anything. release() rolls it back and the command goes on its way."""

    GROUP = "clinicflow-reminders-dispatch"  # REMINDERS_DISPATCH_GROUP

    def __init__(self, dsn, job_id, attempt):
        event_id = cf_uuid5(job_id, "reminder.command", str(attempt))
        self.proc = subprocess.Popen(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", dsn],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write("BEGIN;\nINSERT INTO reminders.applied_events (group_id, event_id)"
                              " VALUES ('%s', '%s');\nSELECT 'held';\n" % (self.GROUP, event_id))
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "held", "the command not held"

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("ROLLBACK;\n")
            self.proc.stdin.close()
            self.proc.wait(30)


def new_id(prefix):
    """A fresh MIS id (unique per run, so tests never share a record)."""
    return "%s-%s" % (prefix, secrets.token_hex(5))


def new_phone():
    """A random Moscow mobile number: (national form "8 (9xx) ...", E.164)."""
    digits = "916%07d" % secrets.randbelow(10 ** 7)
    national = "8 (%s) %s-%s-%s" % (digits[:3], digits[3:6], digits[6:8], digits[8:])
    return national, "+7" + digits


# --- times ---

def instant(text):
    """An RFC 3339 time as an aware datetime (Z or an offset)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch_ms(text):
    """An RFC 3339 time as epoch milliseconds, the way the API compares
    updated_at."""
    d = instant(text)
    return (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) \
        // datetime.timedelta(milliseconds=1)


def utc_ms(text):
    """The canonical form of the event times: UTC, milliseconds, "Z"."""
    d = instant(text).astimezone(datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def same_instant(a, b):
    return isinstance(a, str) and isinstance(b, str) and instant(a) == instant(b)


# --- the first load's route ---

NDJSON = "application/x-ndjson"


def post_batch(port, token, lines, content_type=NDJSON, chunk=64 * 1024, method="POST",
               path="/v1/mis/batch", timeout=120):
    """Streams lines (an iterable of str or bytes, each a line without its
    newline) chunked to the batch port with the bearer token (None: none);
    returns a Reply."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Transfer-Encoding": "chunked"}
    if content_type:
        hdrs["Content-Type"] = content_type
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token

    def body():
        buf = bytearray()
        for line in lines:
            buf += line.encode() if isinstance(line, str) else line
            buf += b"\n"
            if len(buf) >= chunk:
                yield bytes(buf)
                buf.clear()
        if buf:
            yield bytes(buf)

    try:
        try:
            conn.request(method, path, body=body(), headers=hdrs, encode_chunked=True)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the body was read: the answer is there
        resp = conn.getresponse()
        raw = resp.read()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw,
                     "%s %s" % (method, path))
    finally:
        conn.close()


# --- replies ---

class Reply:
    """One HTTP answer: status, headers (lower-case names), raw body and, if
    it is JSON, .json."""

    def __init__(self, status, headers, raw, what):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.what = what
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "%s -> %s %s" % (self.what, self.status, self.raw[:600].decode("utf-8", "replace"))

    def error(self):
        """The error object of a JSON error answer (asserted to be there)."""
        assert isinstance(self.json, dict) and isinstance(self.json.get("error"), dict), self
        err = self.json["error"]
        assert isinstance(err.get("code"), str) and err["code"], self
        assert isinstance(err.get("message"), str) and err["message"], self
        return err


def ok(reply, status=200):
    """Asserts the status and returns the JSON body."""
    assert reply.status == status, "expected %s: %r" % (status, reply)
    assert isinstance(reply.json, dict), reply
    return reply.json


def bad_field(reply, field, status=400):
    """Asserts a 4xx error answer naming field; returns the error object."""
    assert reply.status == status, "expected %s naming %r: %r" % (status, field, reply)
    err = reply.error()
    assert err.get("field") == field, "expected field %r: %r" % (field, reply)
    return err


def stale(reply, stored):
    """Asserts a 409 stale_version naming the stored version."""
    assert reply.status == 409, "expected 409: %r" % reply
    err = reply.error()
    assert err["code"] == "stale_version" and err.get("field") == "version", reply
    assert reply.json.get("stored_version") == stored, "stored_version %r: %r" % (stored, reply)


def not_found(reply):
    assert reply.status == 404, "expected 404: %r" % reply
    assert reply.error()["code"] == "not_found", reply


# --- the stack ---

class Stack(cfstack.ServiceStack):
    """A database, a devbroker and clinicflow-reminders. keys: the demo
    network's ingest, read and admin keys; other_ingest and other_admin of
    network B."""

    def __init__(self, extra_env=None):
        self.extra_env = extra_env or {}
        super().__init__()
        cfstack.apply_network(self.dsn, demo_network())
        cfstack.apply_network(self.dsn, NETWORK_B)
        for scope in ("ingest", "admin"):
            self.keys["other_" + scope] = cfstack.create_key(self.dsn, NETWORK_B["id"], scope)
        self.start()

    def start_service(self):
        svc = cfstack.Service("reminders", self.env_for(**self.extra_env))
        svc.start()
        return svc

    # --- HTTP ---

    def request(self, method, path, body=None, key="ingest", content_type=JSON, headers=None):
        """One request. body: a JSON-able object, or bytes sent as they are.
        key: a scope name of self.keys, a literal key, or None for no
        Authorization header. content_type None: no Content-Type header."""
        hdrs = {}
        if key is not None:
            hdrs["Authorization"] = "Bearer " + self.keys.get(key, key)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(
                body, ensure_ascii=False).encode()
            if content_type is not None:
                hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        st, rh, raw = cfstack.http(method, self.svc.url(path), data, hdrs)
        return Reply(st, rh, raw, "%s %s" % (method, path))

    def put_patient(self, mis_id, body, **kw):
        return self.request("PUT", "/v1/patients/" + mis_id, body, **kw)

    def get_patient(self, mis_id, **kw):
        return self.request("GET", "/v1/patients/" + mis_id, **kw)

    def delete_patient(self, mis_id, key="admin", **kw):
        return self.request("DELETE", "/v1/patients/" + mis_id, key=key, **kw)

    def put_appointment(self, mis_id, body, **kw):
        return self.request("PUT", "/v1/appointments/" + mis_id, body, **kw)

    def get_appointment(self, mis_id, **kw):
        return self.request("GET", "/v1/appointments/" + mis_id, **kw)

    # --- topics ---

    def messages(self, topic, key=None):
        """The messages on topic (with key when given) in partition and offset
        order, each validated against the topic's schema; "event" holds the
        parsed envelope (None for a tombstone)."""
        out = []
        for m in cfstack.TopicReader(self.broker.bootstrap, topic).read():
            if key is not None and m["key"] != key:
                continue
            m["event"] = json.loads(m["payload"]) if m["payload"] is not None else None
            out.append(m)
        return out

    def wait_message(self, topic, predicate, what, timeout=30):
        """The first message on topic that satisfies predicate(msg), once
        there (awaited, not slept for)."""
        found = []

        def seen():
            found[:] = [m for m in self.messages(topic) if predicate(m)]
            return bool(found)

        wait_until(seen, timeout, what, interval=0.2)
        return found[0]

    def wait_event(self, topic, key, event_id, timeout=30):
        """The event with that id keyed by key."""
        return self.wait_message(
            topic, lambda m: m["key"] == key and m["event"] is not None
            and m["event"]["id"] == event_id,
            "event %s (key %s) on %s" % (event_id, key, topic), timeout)

    def wait_patient_event(self, mis_id, version):
        return self.wait_event(PATIENTS, patient_uuid(mis_id), patient_event_id(mis_id, version))

    def wait_appointment_event(self, mis_id, version):
        return self.wait_event(APPOINTMENTS, appointment_uuid(mis_id),
                               appointment_event_id(mis_id, version))

    def marker(self):
        """PUTs a fresh patient and an appointment and waits for both events:
        what the service committed before them has had its turn in the relay
        (the outbox goes out in order), so a test can count what else came."""
        pid, aid = new_id("marker-p"), new_id("marker-a")
        ok(self.put_patient(pid, {"version": 1, "first_name": "Marker"}))
        ok(self.put_appointment(aid, {"version": 1, "clinic_id": CLINICS[0], "patient_id": pid,
                                      "starts_at": "2026-12-01T10:00:00Z", "status": "booked"}))
        self.wait_patient_event(pid, 1)
        self.wait_appointment_event(aid, 1)

    # --- PostgreSQL ---

    def sql(self, query):
        """Rows of a query on the stack's database (lists of strings)."""
        return cfstack.psql(self.dsn, query)

    def rows_mentioning(self, table, *needles):
        """The rows of table (as JSON text) that hold any of needles, the way
        an operator would look: row_to_json over the whole row."""
        rows = self.sql("SELECT row_to_json(t)::text FROM %s t" % table)
        return [r[0] for r in rows if any(n in r[0] for n in needles)]

    def schema_tables(self, schema="reminders"):
        return [r[0] for r in self.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = '%s'"
            " AND table_type = 'BASE TABLE' ORDER BY 1" % schema)]


def recent(text, within_s=300):
    """Whether an RFC 3339 time is within within_s of now (event times that
    say when the MIS told us)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return abs((instant(text) - now).total_seconds()) <= within_s


def run_tests(tests, **stack_args):
    """Runs the tests in order on one Stack, then exits with their status."""
    cfstack.run_on_stack(Stack, tests, **stack_args)
