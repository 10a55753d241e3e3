"""POST /v1/hooks/calls/generic end to end: the webhook, calls.raw, the fold,
calls.v1 and the calls table, against real PostgreSQL and a devbroker."""
import json
import random
import uuid

import cfstack
from common import (Stack, call_body, contact_key, demo_network, events_for, metric, tasks_of,
                    wait_consumed, wait_task, wait_until)

RAW = "clinicflow.calls.raw.v1"
CALLS = "clinicflow.calls.v1"


def wait_event(stack, call_uuid, etype, timeout=30):
    reader = stack.reader(CALLS)
    found = []

    def seen():
        found[:] = [e for e in events_for(reader.read(), call_uuid) if e["type"] == etype]
        return bool(found)

    wait_until(seen, timeout, etype + " on calls.v1")
    return found[0]


def test_answered_inbound_call(stack):
    cid = "pbx-" + uuid.uuid4().hex[:12]
    for event, t in (("started", "2026-11-20T09:00:00Z"), ("answered", "2026-11-20T09:00:08Z"),
                     ("ended", "2026-11-20T09:01:00Z")):
        st, hdrs, body = stack.post_generic(call_body(cid, event, time=t, agent_id="op-7",
                                                      agent_group="reception"))
        assert st == 202, (st, body)
        reply = json.loads(body)
        call_uuid = reply["call_id"]
        assert "x-request-id" in hdrs

    ended = wait_event(stack, call_uuid, "clinicflow.call.ended")
    data = ended["data"]
    assert ended["source"] == "/clinicflow/calls/fold"
    assert ended["networkid"] == demo_network()["id"], ended
    assert data["status"] == "ended" and data["outcome"] == "answered", data
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["caller"]["raw"] == "8 (916) 123-45-67"
    assert data["contact_key"] == contact_key("+79161234567")
    assert data["ring_seconds"] == 8 and data["talk_seconds"] == 52, data
    assert data["targeted"] is True
    assert data["agent_group"] == "reception"
    types = [e["type"] for e in events_for(stack.reader(CALLS).read(), call_uuid)]
    assert types == ["clinicflow.call.started", "clinicflow.call.answered",
                     "clinicflow.call.ended"], types

    facts = events_for(stack.reader(RAW).read(), call_uuid)
    assert len(facts) == 3 and all(f["type"] == "clinicflow.call.reported" for f in facts)
    assert facts[0]["data"]["from"]["e164"] == "+79161234567"

    rows = cfstack.psql(stack.dsn, "SELECT status, outcome, talk_seconds, facts FROM calls.calls "
                        "WHERE call_id = '%s'" % call_uuid)
    assert rows == [["ended", "answered", "52", "3"]], rows


def test_nulls_are_absent_and_times_written_one_way(stack):
    # an optional member given as null is left out of the fact, and a time
    # in another accepted form is written as every time is (the raw topic's
    # reader checks the fact against call.reported.json)
    cid = "pbx-" + uuid.uuid4().hex[:12]
    st, _, body = stack.post_generic(call_body(
        cid, "ended", outcome=None, agent_id=None, started_at="2026-11-20t08:59:50.123456789z",
        ended_at="2026-11-20T12:00:40+03:00"))
    assert st == 202, (st, body)
    call_uuid = json.loads(body)["call_id"]
    wait_until(lambda: events_for(stack.reader(RAW).read(), call_uuid), 30, "the fact")
    data = events_for(stack.reader(RAW).read(), call_uuid)[0]["data"]
    assert "outcome" not in data and "agent_id" not in data, data
    assert data["started_at"] == "2026-11-20T08:59:50.123Z", data
    assert data["ended_at"] == "2026-11-20T09:00:40.000Z", data


def test_missed_short_ring_is_abandoned_and_untargeted(stack):
    st, _, body = stack.post_generic(call_body(event="ended", ring_seconds=4, outcome="missed"))
    assert st == 202, body
    data = wait_event(stack, json.loads(body)["call_id"], "clinicflow.call.ended")["data"]
    assert data["outcome"] == "abandoned" and data["targeted"] is False, data


def test_missed_without_ring_time_is_not_abandoned(stack):
    # Only the end is known: no ring time, so the abandoned rule cannot apply.
    st, _, body = stack.post_generic(call_body(event="ended", outcome="missed"))
    assert st == 202, body
    data = wait_event(stack, json.loads(body)["call_id"], "clinicflow.call.ended")["data"]
    assert data["outcome"] == "missed" and "ring_seconds" not in data, data
    assert "reported" not in data, data


def test_out_of_order_never_regresses(stack):
    cid = "pbx-" + uuid.uuid4().hex[:12]
    order = (("ended", "2026-11-20T10:00:50Z"), ("answered", "2026-11-20T10:00:05Z"),
             ("started", "2026-11-20T10:00:00Z"))
    for event, t in order:
        st, _, body = stack.post_generic(call_body(cid, event, time=t))
        assert st == 202, body
    call_uuid = json.loads(body)["call_id"]
    stack.wait_folded()
    evs = [e for e in events_for(stack.reader(CALLS).read(), call_uuid)]
    assert evs[0]["type"] == "clinicflow.call.ended", [e["type"] for e in evs]
    assert all(e["data"]["status"] == "ended" for e in evs)
    last = evs[-1]["data"]
    assert last["answered_at"] == "2026-11-20T10:00:05.000Z", last
    assert last["started_at"] == "2026-11-20T10:00:00.000Z", last
    # Derived from the reported times, not from the start the first fact
    # had to assume.
    assert last["ring_seconds"] == 5 and last["talk_seconds"] == 45, last
    rows = cfstack.psql(stack.dsn, "SELECT status FROM calls.calls WHERE call_id = '%s'"
                        % call_uuid)
    assert rows == [["ended"]]


def test_same_call_posted_twice_is_one_call(stack):
    body = call_body(event="ended", talk_seconds=30, answered_at="2026-11-20T09:00:10Z")
    first = stack.post_generic(body)
    second = stack.post_generic(body)
    assert first[0] == 202 and second[0] == 202
    assert json.loads(first[2])["id"] == json.loads(second[2])["id"]
    call_uuid = json.loads(first[2])["call_id"]
    stack.wait_folded()
    assert len(events_for(stack.reader(RAW).read(), call_uuid)) == 2
    ended = [e for e in events_for(stack.reader(CALLS).read(), call_uuid)]
    assert [e["type"] for e in ended] == ["clinicflow.call.ended"], ended
    rows = cfstack.psql(stack.dsn, "SELECT facts FROM calls.calls WHERE call_id = '%s'"
                        % call_uuid)
    assert rows == [["1"]], rows


def test_bad_input_is_rejected_and_nothing_produced(stack):
    marker = "bad-" + uuid.uuid4().hex[:10]
    cases = [
        (dict(raw=b"{not json"), 400, "invalid_json", None),
        (dict(body={k: v for k, v in call_body(marker).items() if k != "event_id"}), 400,
         "invalid_field", "event_id"),
        (dict(body=dict(call_body(marker), colour="red")), 400, "invalid_field", "colour"),
        (dict(body=call_body(marker, event="exploded")), 400, "invalid_field", "event"),
        (dict(body=call_body(marker, time="yesterday")), 400, "invalid_field", "time"),
        # before 1970: a time no call has, which would be kept as "none"
        (dict(body=call_body(marker, time="1960-01-01T00:00:00Z")), 400, "invalid_field",
         "time"),
        # a call ahead of the clock (one in 9999 retention would never delete), or a start,
        # answer or end more than a day from its time (a ring of years)
        (dict(body=call_body(marker, time="9999-12-31T23:59:59Z")), 400, "invalid_field",
         "time"),
        (dict(body=call_body(marker, started_at="1970-01-01T00:00:00Z")), 400, "invalid_field",
         "started_at"),
        (dict(body=call_body(marker, answered_at="2026-11-22T09:00:05Z")), 400,
         "invalid_field", "answered_at"),
        (dict(body=call_body(marker, **{"from": "call me maybe"})), 400, "invalid_phone", "from"),
        (dict(body=call_body(marker, clinic_id="nowhere")), 400, "unknown_clinic", "clinic_id"),
        (dict(body=call_body(marker, talk_seconds=-1)), 400, "invalid_field", "talk_seconds"),
        (dict(body=call_body(marker), key="cfk_wrong"), 401, "unauthorized", None),
        (dict(body=call_body(marker), key=stack.keys["read"]), 403, "forbidden", None),
        (dict(body=call_body(marker), headers={"Content-Type": "text/plain"}), 415,
         "unsupported_media_type", None),
        (dict(body=call_body(marker, recording_url="x" * 70000)), 413, "body_too_large", None),
    ]
    for kwargs, status, code, field in cases:
        st, _, body = stack.post_generic(**kwargs)
        assert st == status, (kwargs.get("body", kwargs.get("raw")), st, body)
        err = json.loads(body)["error"]
        assert err["code"] == code, (code, err)
        assert set(err) == {"code", "message", "field"}, err
        if field:
            assert err["field"] == field, (field, err)
    st, _, body = cfstack.http("POST", stack.svc.url("/v1/hooks/calls/generic"),
                               json.dumps(call_body(marker)).encode(),
                               {"Content-Type": "application/json"})
    assert st == 401 and json.loads(body)["error"]["code"] == "unauthorized"
    # A good event afterwards proves the topic was readable; none of the bad ones is on it.
    st, _, body = stack.post_generic(call_body())
    assert st == 202
    stack.wait_folded()
    raw = stack.reader(RAW).read()
    assert not any(marker in (m["payload"] or "") for m in raw)


def test_withheld_caller_and_extensions(stack):
    """A PBX reports what it has: a missed call from a caller who withheld
    the number, and the clinic calling a patient back from extension 101.
    Both are calls; only a number gets a contact key."""
    st, _, body = stack.post_generic(call_body(event="ended", outcome="missed", ring_seconds=30,
                                               **{"from": "anonymous"}))
    assert st == 202, body
    data = wait_event(stack, json.loads(body)["call_id"], "clinicflow.call.ended")["data"]
    assert data["caller"] == {"raw": "anonymous", "kind": "anonymous"}, data
    assert "contact_key" not in data and data["outcome"] == "missed", data

    st, _, body = stack.post_generic(call_body(
        event="ended", direction="outbound", answered_at="2026-11-20T09:00:10Z",
        talk_seconds=30, **{"from": "101", "to": "8 916 765-43-21"}))
    assert st == 202, body
    data = wait_event(stack, json.loads(body)["call_id"], "clinicflow.call.ended")["data"]
    assert data["caller"] == {"raw": "101", "kind": "extension"}, data
    assert data["contact_key"] == contact_key("+79167654321"), data

    # A tracking number must still be a number.
    st, _, body = stack.post_generic(call_body(tracking_number="101"))
    assert st == 400 and json.loads(body)["error"]["field"] == "tracking_number", body


def test_contact_key_is_the_callers(stack):
    """A later leg reports another number: the caller stays the first number
    seen, and the contact key, the callback task and its contact stay that
    number's."""
    first, other = ["+7916%07d" % random.randrange(10 ** 7) for _ in range(2)]
    cid = "pbx-" + uuid.uuid4().hex[:12]
    st, _, body = stack.post_generic(call_body(cid, "started", time="2026-11-20T09:00:00Z",
                                               **{"from": first}))
    assert st == 202, body
    call_uuid = json.loads(body)["call_id"]
    st, _, body = stack.post_generic(call_body(cid, "ended", time="2026-11-20T09:00:40Z",
                                               outcome="missed", **{"from": other}))
    assert st == 202, body
    data = wait_event(stack, call_uuid, "clinicflow.call.ended")["data"]
    assert data["caller"]["e164"] == first, data
    assert data["contact_key"] == contact_key(first), data
    rows = cfstack.psql(stack.dsn, "SELECT contact_key FROM calls.calls WHERE call_id = '%s'"
                        % call_uuid)
    assert rows == [[contact_key(first)]], rows
    task = wait_task(stack, contact_key(first), "clinicflow.task.opened")["data"]
    assert task["contact"]["e164"] == first and task["source_call_id"] == call_uuid, task
    wait_consumed(stack, "clinicflow-calls-tasks", CALLS)
    assert tasks_of(stack, contact_key(other)) == []


def test_health_readiness_metrics(stack):
    st, _, body = cfstack.http("GET", stack.svc.url("/healthz"))
    assert st == 200
    st, _, body = cfstack.http("GET", stack.svc.url("/readyz"))
    ready = json.loads(body)
    assert st == 200 and ready["ready"] is True, ready
    assert ready["postgres"] == "ok" and ready["kafka"] == "ok", ready
    assert int(ready["config_version"]) >= 1, ready
    st, hdrs, body = cfstack.http("GET", stack.svc.url("/metrics"))
    text = body.decode()
    assert st == 200 and hdrs["content-type"].startswith("text/plain")
    assert "clinicflow_config_version" in text
    # The tests before this one: 13 bad requests of 400, 2 of 401, one each
    # of 403, 415 and 413, and at least 9 accepted.
    route = 'clinicflow_http_requests_total{route="/v1/hooks/calls/generic",method="POST",'
    counts = {code: metric(stack.svc, route + 'status="%d"}' % code)
              for code in (202, 400, 401, 403, 413, 415)}
    assert counts[202] >= 11 and counts[400] == 13 and counts[401] == 2, counts
    assert counts[403] == counts[413] == counts[415] == 1, counts


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_answered_inbound_call,
            test_missed_short_ring_is_abandoned_and_untargeted,
            test_missed_without_ring_time_is_not_abandoned, test_out_of_order_never_regresses,
            test_same_call_posted_twice_is_one_call, test_bad_input_is_rejected_and_nothing_produced,
            test_withheld_caller_and_extensions,
            test_contact_key_is_the_callers,
            test_nulls_are_absent_and_times_written_one_way,
            # last: the request counters it checks were made by the tests above
            test_health_readiness_metrics,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
