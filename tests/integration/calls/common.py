"""Shared set-up for the calls service's integration tests: a fresh database
with the demo network and keys, an own devbroker (so topic contents belong to
this test alone), and the service as a real process."""
import hashlib
import hmac
import json
import os
import time
import uuid

import cfstack

DEMO = os.path.join(os.environ["CLINICFLOW_SOURCE_DIR"], "deploy", "local", "demo-network.json")


def demo_network():
    with open(DEMO) as f:
        return json.load(f)


def contact_key(e164):
    secret = demo_network()["secret"]
    return hmac.new(secret.encode(), e164.encode(), hashlib.sha256).hexdigest()


def wait_until(predicate, timeout, what):
    """Polls predicate until it is true; fails naming what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.1)


class Stack:
    """A database, a devbroker and one or more clinicflow-calls instances."""

    def __init__(self, instances=1, extra_env=None):
        self.extra_env = extra_env or {}
        self.raw_valid = True  # False once a test wrote poison to calls.raw
        self.test_env = cfstack.env()
        self.dsn = cfstack.new_database(self.test_env["pg_dsn"])
        self.keys = cfstack.setup_demo(self.dsn)
        self.broker = cfstack.Devbroker()
        self.services = []
        for _ in range(instances):
            self.services.append(self.start_service())
        self.svc = self.services[0]

    def service_env(self):
        """The environment the stack's services run with."""
        return {
            "CLINICFLOW_PG_DSN": self.dsn,
            "CLINICFLOW_KAFKA_BROKERS": self.broker.bootstrap,
            "CLINICFLOW_REDIS_URL": self.test_env["redis_url"],
            "CLINICFLOW_CONFIG_RELOAD_MS": "200",
            "CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "3000",
            "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS": "5000",
            **self.extra_env,
        }

    def start_service(self):
        svc = cfstack.Service("calls", self.service_env())
        svc.start()
        return svc

    def close(self):
        try:
            for svc in self.services:
                svc.stop()
        finally:
            self.broker.stop()

    def post_generic(self, body=None, key=None, raw=None, headers=None):
        hdrs = {"Content-Type": "application/json",
                "Authorization": "Bearer " + (key or self.keys["ingest"])}
        hdrs.update(headers or {})
        data = raw if raw is not None else json.dumps(body).encode()
        return cfstack.http("POST", self.svc.url("/v1/hooks/calls/generic"), data, hdrs)

    def reader(self, topic, validate=True):
        return cfstack.TopicReader(self.broker.bootstrap, topic, validate=validate)

    def wait_folded(self, timeout=30):
        """Waits until the fold has committed every message on calls.raw."""
        total = len(self.reader("clinicflow.calls.raw.v1", validate=self.raw_valid).read())
        wait_until(
            lambda: int(cfstack.psql(self.dsn, "SELECT coalesce(sum(next_offset),0) FROM "
                                     "calls.consumer_offsets")[0][0]) >= total,
            timeout, "fold to reach the end of calls.raw")


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


def events_for(messages, subject):
    out = []
    for m in messages:
        if m["payload"] is None:
            continue
        ev = json.loads(m["payload"])
        if ev.get("subject") == subject:
            out.append(ev)
    return out
