"""All brokers down: the webhook answers 503 with Retry-After at once (not a
hang), readiness follows, and after the brokers return the retried request
succeeds and calls.v1 holds the call once. An idle service notices an
outage, and the brokers' return, with no request to tell it. This test owns
its devbroker."""
import json
import time

import cfstack
from common import Stack, call_body, events_for, wait_until


def test_brokers_down_then_up(stack):
    st, _, body = stack.post_generic(call_body())
    assert st == 202, body

    stack.broker.down()
    body = call_body(event="ended", talk_seconds=25, answered_at="2026-11-20T09:00:15Z")
    refused = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        st, hdrs, reply = stack.post_generic(body)
        took = time.monotonic() - t0
        assert took < 10, "a request took %.1fs with brokers down" % took
        if st == 503:
            refused = (hdrs, reply)
            break
        # Before the breaker opens a produce may still be acknowledged by a
        # broker going down; anything else is a failure.
        assert st == 202, (st, reply)
    assert refused, "never answered 503 with all brokers down"
    hdrs, reply = refused
    assert int(hdrs["retry-after"]) > 0
    assert json.loads(reply)["error"]["code"] == "unavailable", reply

    # The breaker is open now: the next answer is immediate.
    t0 = time.monotonic()
    st, _, _ = stack.post_generic(body)
    assert st == 503 and time.monotonic() - t0 < 2

    wait_until(lambda: cfstack.http("GET", stack.svc.url("/readyz"))[0] == 503, 20,
               "/readyz to report kafka down")
    ready = json.loads(cfstack.http("GET", stack.svc.url("/readyz"))[2])
    assert ready["kafka"] == "down", ready

    stack.broker.up()
    accepted = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not accepted:
        st, hdrs, reply = stack.post_generic(body)
        if st == 202:
            accepted = json.loads(reply)
        else:
            assert st == 503, (st, reply)
            time.sleep(0.5)
    assert accepted, "the retried request never succeeded after the brokers returned"

    call_uuid = accepted["call_id"]
    wait_until(lambda: any(e["type"] == "clinicflow.call.ended" for e in
                           events_for(stack.reader("clinicflow.calls.v1").read(), call_uuid)),
               60, "call.ended after recovery")
    stack.wait_folded(60)
    evs = events_for(stack.reader("clinicflow.calls.v1").read(), call_uuid)
    assert [e["type"] for e in evs] == ["clinicflow.call.ended"], evs
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.calls WHERE call_id = '%s'"
                        % call_uuid)
    assert rows == [["1"]]


def test_idle_outage_and_recovery(stack):
    """No request in flight: the service finds the brokers gone on its own
    (a metadata request), not at the next webhook, and back again."""
    ready = lambda: cfstack.http("GET", stack.svc.url("/readyz"))[0]  # noqa: E731
    wait_until(lambda: ready() == 200, 60, "/readyz ready before the outage")
    stack.broker.down()
    wait_until(lambda: ready() == 503, 20, "/readyz to report kafka down while idle")
    stack.broker.up()
    wait_until(lambda: ready() == 200, 60, "/readyz ready again with no request")
    # A broker answers; the partitions' leaders may take a moment more to
    # reconnect, meanwhile a webhook is told to retry (503), never lost.
    def accepted():
        st, _, body = stack.post_generic(call_body())
        assert st in (202, 503), (st, body)
        return st == 202

    wait_until(accepted, 60, "a webhook accepted after the brokers returned")


if __name__ == "__main__":
    # A probe interval longer than the test: the breaker closes only on the
    # statistics showing a broker up, so "open means an immediate 503" holds.
    s = Stack(extra_env={"CLINICFLOW_KAFKA_PROBE_INTERVAL_MS": "600000"})
    try:
        cfstack.run([lambda: test_brokers_down_then_up(s),
                     lambda: test_idle_outage_and_recovery(s)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
