"""Shared set-up for the calls service's integration tests: a fresh database
with the demo network and keys, an own devbroker (so topic contents belong to
this test alone), and the service as a real process."""
import itertools
import json
import os
import subprocess
import urllib.parse
import uuid
import zlib
from datetime import timedelta

import cfstack

DEMO = os.path.join(os.environ["CLINICFLOW_SOURCE_DIR"], "deploy", "local", "demo-network.json")


demo_network = cfstack.demo_network


contact_key = cfstack.contact_key


wait_until = cfstack.wait_until


TASKS = "clinicflow.tasks.v1"


def wait_consumed(stack, group, topic, timeout=60, validate=True):
    """Waits until the service's consumer group has committed, in its own
    offsets table, every message now on topic, partition by partition."""
    ends = {}
    for m in stack.reader(topic, validate=validate).read():
        ends[m["partition"]] = max(ends.get(m["partition"], 0), m["offset"] + 1)

    def reached():
        stored = dict((int(p), int(o)) for p, o in cfstack.psql(
            stack.dsn, "SELECT partition, next_offset FROM calls.consumer_offsets"
            " WHERE group_id = '%s' AND topic = '%s'" % (group, topic)))
        return all(stored.get(p, 0) >= end for p, end in ends.items())

    wait_until(reached, timeout, "%s to reach the end of %s" % (group, topic))


def tasks_of(stack, ckey):
    """The task events of the contact with that contact key, in order."""
    out = []
    for m in stack.reader(TASKS).read():
        ev = json.loads(m["payload"])
        assert m["key"] == ev["subject"] == ev["data"]["task_id"], m
        if ev["data"].get("contact_key") == ckey:
            out.append(ev)
    return out


def wait_task(stack, ckey, etype, count=1, timeout=60):
    """The contact's count-th etype task event, once there."""
    found = []

    def seen():
        found[:] = [e for e in tasks_of(stack, ckey) if e["type"] == etype]
        return len(found) >= count

    wait_until(seen, timeout, "%d %s for the contact" % (count, etype))
    return found[-1]


class Stack(cfstack.ServiceStack):
    """A database, a devbroker and one or more clinicflow-calls instances."""

    def __init__(self, instances=1, extra_env=None):
        self.extra_env = extra_env or {}
        self.raw_valid = True  # False once a test wrote poison to calls.raw
        super().__init__()
        self.start(instances)

    def service_env(self):
        """The environment the stack's services run with."""
        return self.env_for(**self.extra_env)

    def start_service(self):
        svc = cfstack.Service("calls", self.service_env())
        svc.start()
        return svc

    def post_generic(self, body=None, key=None, raw=None, headers=None):
        hdrs = {"Content-Type": "application/json",
                "Authorization": "Bearer " + (key or self.keys["ingest"])}
        hdrs.update(headers or {})
        data = raw if raw is not None else json.dumps(body).encode()
        return cfstack.http("POST", self.svc.url("/v1/hooks/calls/generic"), data, hdrs)

    def reader(self, topic, validate=True):
        return cfstack.TopicReader(self.broker.bootstrap, topic, validate=validate)

    def wait_folded(self, timeout=30):
        """Waits until the fold has committed every message now on calls.raw."""
        wait_consumed(self, "clinicflow-calls-fold", "clinicflow.calls.raw.v1", timeout,
                      validate=self.raw_valid)


def call_body(call_id=None, event="ended", **over):
    call_id = call_id or "pbx-" + uuid.uuid4().hex[:12]
    body = {
        "event_id": "%s-%s" % (call_id, event),
        "clinic_id": demo_network()["clinics"][0]["id"],
        "call_id": call_id,
        "event": event,
        "time": "2026-11-20T09:00:40Z",
        "direction": "inbound",
        "from": "8 (916) 123-45-67",
        "to": "+7 495 000-10-01",
    }
    body.update(over)
    return body


metric = cfstack.metric


def events_for(messages, subject):
    out = []
    for m in messages:
        if m["payload"] is None:
            continue
        ev = json.loads(m["payload"])
        if ev.get("subject") == subject:
            out.append(ev)
    return out


def ms_time(t):
    """t (a UTC datetime) as RFC 3339 with milliseconds."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def tracked_call(stack, number, clinic_id, start, answered_after_s, talk_s):
    """Posts an answered inbound call to a tracking number (the generic
    hook), started at start; returns its call.ended data once it is on
    clinicflow.calls.v1."""
    answered = start + timedelta(seconds=answered_after_s)
    body = call_body(event="ended", time=ms_time(answered + timedelta(seconds=talk_s)),
                     started_at=ms_time(start), answered_at=ms_time(answered),
                     talk_seconds=talk_s, clinic_id=clinic_id, to=number)
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    call_id = json.loads(reply)["call_id"]
    ended = []
    wait_until(lambda: ended.extend(e for e in events_for(
        stack.reader("clinicflow.calls.v1").read(), call_id)) or ended, 60, "call.ended")
    return ended[0]["data"]


# --- provider webhooks (test_provider_*.py) ---

RAW = "clinicflow.calls.raw.v1"
CALLS = "clinicflow.calls.v1"
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md
FORM = "application/x-www-form-urlencoded"


def demo_channel(channel_id):
    """The demo network's channel document of that id."""
    for net in [demo_network()] + demo_network().get("networks", []):
        for ch in net.get("channels", []):
            if ch["id"] == channel_id:
                return ch
    raise AssertionError("no %s channel in the demo network" % channel_id)


def hook_path(provider, channel_id, sub="", token=None):
    """/v1/hooks/calls/{provider}/{channel}{sub}, with ?token= when token is not None."""
    path = "/v1/hooks/calls/%s/%s%s" % (provider, channel_id, sub)
    if token is not None:
        path += "?token=" + urllib.parse.quote(token)
    return path


def post_form(stack, path, params, content_type=FORM, headers=None):
    """POSTs params (a dict or pairs) URL-encoded; returns (status, headers, body)."""
    hdrs = {"Content-Type": content_type}
    hdrs.update(headers or {})
    return cfstack.http("POST", stack.svc.url(path), urllib.parse.urlencode(params), hdrs)


def post_json(stack, path, body):
    """POSTs body (bytes as they are, else as JSON); returns (status, headers, body)."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return cfstack.http("POST", stack.svc.url(path), data, {"Content-Type": "application/json"})


def assert_reply(reply, body=b"", content_type=None, what=None):
    """A 200 with exactly that body (and that content type, when given)."""
    st, hdrs, got = reply
    assert st == 200 and got == body, (what, st, got)
    if content_type is not None:
        assert hdrs["content-type"].startswith(content_type), hdrs


def assert_unauthorized(reply, what=None):
    """A 401 with the unauthorized error."""
    st, _, body = reply
    assert st == 401, (what, st, body)
    assert json.loads(body)["error"]["code"] == "unauthorized", body


def call_uuid(provider, call_key):
    """The call's id (subject) as the fold derives it from the provider's call key."""
    return str(uuid.uuid5(NS, "\x1f".join([demo_network()["id"], provider, "call", call_key])))


def call_on(partition, tag, partitions=6):
    """A provider call id whose call lands on that partition of calls.raw
    (6 partitions: proto/topics.json): the producer's default partitioner
    takes the CRC-32 of the key, the call id."""
    for i in itertools.count():
        key = "pbx-%s-%d" % (tag, i)
        if zlib.crc32(call_uuid("generic", key).encode()) % partitions == partition:
            return key


def events_of_call(messages, provider_call_id, provider=None):
    """The events among messages whose data is about that provider call."""
    out = []
    for m in messages:
        if m["payload"] is None:
            continue
        ev = json.loads(m["payload"])
        data = ev.get("data") or {}
        if data.get("provider_call_id") == provider_call_id and (
                provider is None or data.get("provider") == provider):
            out.append(ev)
    return out


def raw_facts(stack, provider, call_key):
    """The calls.raw facts of one provider call."""
    return events_of_call(stack.reader(RAW).read(), call_key, provider)


def wait_call_event(stack, etype, subject=None, provider_call_id=None, timeout=30):
    """Waits for an event of type etype on calls.v1 about the call (by subject
    or by provider call id); returns every such event, oldest first."""
    found = []

    def seen():
        messages = stack.reader(CALLS).read()
        evs = (events_for(messages, subject) if subject is not None
               else events_of_call(messages, provider_call_id))
        found[:] = [e for e in evs if e["type"] == etype]
        return bool(found)

    wait_until(seen, timeout, etype + " on calls.v1")
    return found


def call_types(stack, subject):
    """The types of the calls.v1 events about the call, in order."""
    return [e["type"] for e in events_for(stack.reader(CALLS).read(), subject)]


def assert_nothing_on_raw(stack, text):
    """No message on calls.raw mentions text: what was refused produced nothing."""
    raw = stack.reader(RAW).read()
    assert not any(text in (m["payload"] or "") for m in raw), text


# The provider tests' payloads carry fixed dates (as the providers'
# documents show them), older than the default bound on a webhook's times
# (CLINICFLOW_CALLS_HOOK_MAX_AGE_S): their stacks take any past time; the
# tests of the bounds use times ahead of the arrival or in 1970.
FIXED_DATES_ENV = {"CLINICFLOW_CALLS_HOOK_MAX_AGE_S": "315360000"}


def run_provider_tests(tests, **stack_args):
    """Runs the tests in order on one Stack, then exits with their status."""
    cfstack.run_on_stack(Stack, tests, **stack_args)
