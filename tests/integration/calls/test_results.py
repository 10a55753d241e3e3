"""POST /v1/calls/{id}/result: a call tagged with what came of it goes
through calls.raw and comes out as call.updated with the result. A retry
with the same idempotency key (event_id or Idempotency-Key) is one event;
without a key every post is a new result and the latest wins. The handler
reads no database: a result for a call the fold has not stored yet is
taken (202) and lands when the call does, one whose call never comes
expires to the DLQ, and one naming another network's call is never applied.
Bad input and keys without ingest/admin change nothing."""
import base64
import json
import os
import tempfile
import urllib.parse
import uuid

import cfstack
from common import Stack, call_body, call_uuid, demo_network, events_for, metric, wait_until

CALLS = "clinicflow.calls.v1"
RAW = "clinicflow.calls.raw.v1"
DLQ = "clinicflow.dlq.v1"


def post_result(stack, call_id, body, key=None, raw=None, headers=None, svc=None):
    data = raw if raw is not None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json",
            "Authorization": "Bearer " + (key or stack.keys["ingest"])}
    hdrs.update(headers or {})
    return cfstack.http("POST", (svc or stack.svc).url("/v1/calls/%s/result" % call_id), data,
                        hdrs)


def accepted(reply):
    """The event id of a 202."""
    st, _, body = reply
    assert st == 202, (st, body)
    return json.loads(body)["id"]


def updates_with_result(stack, call_id):
    return [e for e in events_for(stack.reader(CALLS).read(), call_id)
            if e["type"] == "clinicflow.call.updated" and "result" in e["data"]]


def new_call(stack):
    st, _, body = stack.post_generic(call_body(event="ended", talk_seconds=40,
                                               answered_at="2026-11-20T09:00:00Z"))
    assert st == 202, body
    call_id = json.loads(body)["call_id"]
    wait_until(lambda: events_for(stack.reader(CALLS).read(), call_id), 60, "the call")
    stack.wait_folded()
    return call_id


def test_result_becomes_call_updated_once(stack):
    call_id = new_call(stack)
    body = {"result": "booked", "comment": "hygiene, Tuesday 10:00"}
    body["event_id"] = "crm-" + uuid.uuid4().hex
    st, _, reply = post_result(stack, call_id, body)
    assert st == 202, reply
    first = json.loads(reply)
    assert first["call_id"] == call_id
    st, _, reply = post_result(stack, call_id, body)  # a retry: the same event
    assert st == 202 and json.loads(reply)["id"] == first["id"], reply

    wait_until(lambda: updates_with_result(stack, call_id), 60, "call.updated with the result")
    stack.wait_folded()
    ups = updates_with_result(stack, call_id)
    assert len(ups) == 1, ups
    result = ups[0]["data"]["result"]
    assert result["value"] == "booked" and result["comment"] == "hygiene, Tuesday 10:00", result
    rows = cfstack.psql(stack.dsn, "SELECT result FROM calls.calls WHERE call_id = '%s'" % call_id)
    assert rows == [["booked"]], rows

    # The admin key may tag too; a new result is a new update.
    st, _, reply = post_result(stack, call_id, {"result": "arrived"}, key=stack.keys["admin"])
    assert st == 202, reply
    wait_until(lambda: len(updates_with_result(stack, call_id)) == 2, 60, "the second result")
    assert updates_with_result(stack, call_id)[-1]["data"]["result"]["value"] == "arrived"

    # The same result again in a new event (its own event_id), no comment
    # either time: nothing changed, so no update.
    st, _, reply = post_result(stack, call_id, {"result": "arrived", "event_id": "desk-2"})
    assert st == 202, reply
    stack.wait_folded()
    assert len(updates_with_result(stack, call_id)) == 2, updates_with_result(stack, call_id)


def test_comment_length_is_counted_in_characters(stack):
    """The schema allows a comment of 1000 characters: a front desk writing
    in Russian fits as many (2 bytes each) as one writing in English."""
    call_id = new_call(stack)
    comment = ("Записана на имплантацию, перезвонить за день. " * 22)[:1000]
    st, _, reply = post_result(stack, call_id, {"result": "booked", "comment": comment + "!"})
    assert st == 400 and json.loads(reply)["error"]["field"] == "comment", reply
    st, _, reply = post_result(stack, call_id, {"result": "booked", "comment": comment})
    assert st == 202, reply
    wait_until(lambda: updates_with_result(stack, call_id), 60, "call.updated with the result")
    assert updates_with_result(stack, call_id)[0]["data"]["result"]["comment"] == comment


def test_bad_results_change_nothing(stack):
    call_id = new_call(stack)
    before = len(stack.reader(RAW).read())
    cases = [
        (call_id, dict(body={"result": "maybe"}), 400, "invalid_field", "result"),
        (call_id, dict(body={"result": "booked", "colour": "red"}), 400, "invalid_field",
         "colour"),
        (call_id, dict(body={"comment": "no result"}), 400, "invalid_field", "result"),
        (call_id, dict(body={"result": "booked", "comment": "x" * 1001}), 400, "invalid_field",
         "comment"),
        (call_id, dict(body=None, raw=b"{nope"), 400, "invalid_json", None),
        (call_id, dict(body={"result": "booked", "event_id": "a"},
                       headers={"Idempotency-Key": "b"}), 400, "invalid_field", "event_id"),
        (call_id, dict(body={"result": "booked"}, headers={"Idempotency-Key": "k" * 129}), 400,
         "invalid_field", "Idempotency-Key"),
        ("not-a-uuid", dict(body={"result": "booked"}), 404, "not_found", None),
        (call_id, dict(body={"result": "booked"}, key=stack.keys["read"]), 403, "forbidden",
         None),
        (call_id, dict(body={"result": "booked"}, key="cfk_wrong"), 401, "unauthorized", None),
    ]
    for cid, kwargs, status, code, field in cases:
        st, _, reply = post_result(stack, cid, **kwargs)
        assert st == status, (kwargs, st, reply)
        err = json.loads(reply)["error"]
        assert err["code"] == code, (kwargs, err)
        if field:
            assert err["field"] == field, (kwargs, err)
    assert len(stack.reader(RAW).read()) == before


def results_of(stack, call_id):
    """The values of the call's call.updated results, in order."""
    return [e["data"]["result"]["value"] for e in updates_with_result(stack, call_id)]


def test_posted_again_is_a_new_result(stack):
    """Without an idempotency key every post is a result of its own: booked,
    refused, booked again ends booked. With one (event_id, or the
    Idempotency-Key header, or both when they agree) a retry is one event."""
    call_id = new_call(stack)
    ids = [accepted(post_result(stack, call_id, {"result": r}))
           for r in ("booked", "refused", "booked")]
    assert len(set(ids)) == 3, ids
    wait_until(lambda: results_of(stack, call_id) == ["booked", "refused", "booked"], 60,
               "three results")
    stack.wait_folded()
    rows = cfstack.psql(stack.dsn, "SELECT result FROM calls.calls WHERE call_id = '%s'" % call_id)
    assert rows == [["booked"]], rows

    key = "crm-" + uuid.uuid4().hex
    by_header = accepted(post_result(stack, call_id, {"result": "arrived"},
                                     headers={"Idempotency-Key": key}))
    assert accepted(post_result(stack, call_id, {"result": "arrived"},
                                headers={"Idempotency-Key": key})) == by_header
    assert accepted(post_result(stack, call_id, {"result": "arrived", "event_id": key})) == by_header
    assert accepted(post_result(stack, call_id, {"result": "arrived", "event_id": key},
                                headers={"Idempotency-Key": key})) == by_header
    wait_until(lambda: len(results_of(stack, call_id)) == 4, 60, "the keyed result")
    stack.wait_folded()
    assert results_of(stack, call_id) == ["booked", "refused", "booked", "arrived"]


def test_result_before_its_call(stack):
    """The CRM learnt the call's id before the provider's webhook reached
    us: the result is taken, waits, and lands when the call's first fact is
    folded (after that fact's event); results of the same call keep their
    order, and the latest wins."""
    pbx_id = "pbx-" + uuid.uuid4().hex[:12]
    call_id = call_uuid("generic", pbx_id)
    accepted(post_result(stack, call_id, {"result": "callback", "comment": "ring at 5"}))
    accepted(post_result(stack, call_id, {"result": "booked"}))
    stack.wait_folded()
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.pending_results"
                        " WHERE call_id = '%s'" % call_id)
    assert rows == [["2"]], rows
    assert not events_for(stack.reader(CALLS).read(), call_id)

    st, _, reply = stack.post_generic(call_body(call_id=pbx_id, event="ended", talk_seconds=40,
                                                answered_at="2026-11-20T09:00:00Z"))
    assert st == 202 and json.loads(reply)["call_id"] == call_id, reply
    wait_until(lambda: len(results_of(stack, call_id)) == 2, 60, "the waiting results")
    types = [e["type"] for e in events_for(stack.reader(CALLS).read(), call_id)]
    assert types == ["clinicflow.call.ended", "clinicflow.call.updated",
                     "clinicflow.call.updated"], types
    assert results_of(stack, call_id) == ["callback", "booked"]
    stack.wait_folded()
    rows = cfstack.psql(stack.dsn, "SELECT c.result, (SELECT count(*) FROM calls.pending_results"
                        " p WHERE p.call_id = c.call_id) FROM calls.calls c"
                        " WHERE c.call_id = '%s'" % call_id)
    assert rows == [["booked", "0"]], rows


def test_result_right_after_the_calls_202(stack):
    """A CRM reacting to the webhook's 202 posts at once, before the fold
    stored the call: taken, and applied."""
    st, _, reply = stack.post_generic(call_body(event="ended", talk_seconds=30,
                                                answered_at="2026-11-20T09:00:00Z"))
    assert st == 202, reply
    call_id = json.loads(reply)["call_id"]
    accepted(post_result(stack, call_id, {"result": "info"}))
    wait_until(lambda: results_of(stack, call_id) == ["info"], 60, "the result")


def other_network(stack):
    """A second network with an ingest key: its key."""
    net = demo_network()
    other = {"id": "other-" + uuid.uuid4().hex[:8], "name": "Another network",
             "secret": "another-network-secret-0001", "timezone": net["timezone"],
             "clinics": [dict(net["clinics"][0], id="other-center-" + uuid.uuid4().hex[:6],
                              default_phone="+74950009901", cors_origins=[])]}
    path = os.path.join(tempfile.mkdtemp(prefix="cf-net-"), "other.json")
    with open(path, "w") as f:
        json.dump(other, f)
    cfstack.clinicflowctl(stack.dsn, "apply", "-f", path)
    key = cfstack.create_key(stack.dsn, other["id"], "ingest")
    # Until the service has reloaded its config, the key is unknown.
    wait_until(lambda: post_result(stack, str(uuid.uuid4()), None, key=key, raw=b"{")[0] == 400,
               30, "the other network in the service's config")
    return key


def test_result_naming_another_networks_call(stack):
    """Another network's key naming this network's call: taken (the handler
    cannot tell), never applied, and visible on the DLQ."""
    call_id = new_call(stack)
    key = other_network(stack)
    event_id = accepted(post_result(stack, call_id, {"result": "spam"}, key=key))
    dead = stack.reader(DLQ).wait_for(
        lambda m: json.loads(base64.b64decode(json.loads(m["payload"])["data"]["value_b64"]))
        ["id"] == event_id, 60)
    entry = json.loads(dead["payload"])["data"]
    assert entry["reason_code"] == "rejected" and "another network" in entry["reason"], entry
    stack.wait_folded()
    assert updates_with_result(stack, call_id) == []
    rows = cfstack.psql(stack.dsn, "SELECT result IS NULL FROM calls.calls"
                        " WHERE call_id = '%s'" % call_id)
    assert rows == [["t"]], rows


def test_intake_only_takes_results_with_postgres_down(stack):
    """An intake-only instance whose PostgreSQL is gone still takes results;
    the fold elsewhere applies them."""
    call_id = new_call(stack)
    parts = urllib.parse.urlsplit(stack.dsn)
    proxy = cfstack.Relay(parts.hostname, parts.port)
    intake = cfstack.Service("calls", dict(stack.service_env(),
                                           CLINICFLOW_PG_DSN=proxy.dsn(stack.dsn),
                                           CLINICFLOW_CALLS_CONSUMERS="0"))
    intake.start()
    try:
        proxy.refuse()
        st, _, reply = post_result(stack, call_id, {"result": "arrived"}, svc=intake)
        assert st == 202, (st, reply)
        wait_until(lambda: results_of(stack, call_id) == ["arrived"], 60, "the result folded")
    finally:
        proxy.close()
        intake.stop()


def test_result_whose_call_never_comes_expires(_stack):
    """A result waits CLINICFLOW_CALLS_RESULT_WAIT_S for its call, then goes
    to the DLQ with its original message, counted on /metrics; the call
    coming after that does not get it."""
    s = Stack(extra_env={"CLINICFLOW_CALLS_RESULT_WAIT_S": "1"})
    try:
        pbx_id = "pbx-" + uuid.uuid4().hex[:12]
        call_id = call_uuid("generic", pbx_id)
        event_id = accepted(post_result(s, call_id, {"result": "booked"}))
        raw = [m for m in s.reader(RAW).read()
               if json.loads(m["payload"])["id"] == event_id]
        assert len(raw) == 1, raw
        dead = s.reader(DLQ).wait_for(lambda m: json.loads(m["payload"])["data"]
                                      ["reason_code"] == "call_not_stored", 60)
        entry = json.loads(dead["payload"])
        data = entry["data"]
        assert data["group_id"] == "clinicflow-calls-fold" and data["topic"] == RAW, data
        assert (data["partition"], data["offset"]) == (raw[0]["partition"], raw[0]["offset"])
        assert base64.b64decode(data["value_b64"]).decode() == raw[0]["payload"], data
        assert base64.b64decode(data["key_b64"]).decode() == call_id == dead["key"], data
        assert entry["networkid"] == s.keys["network_id"], entry
        wait_until(lambda: metric(s.svc, "clinicflow_calls_results_expired_total") == 1, 30,
                   "the expired result counted")
        assert cfstack.psql(s.dsn, "SELECT count(*) FROM calls.pending_results") == [["0"]]

        st, _, reply = s.post_generic(call_body(call_id=pbx_id, event="ended"))
        assert st == 202, reply
        wait_until(lambda: events_for(s.reader(CALLS).read(), call_id), 60, "the call")
        s.wait_folded()
        assert updates_with_result(s, call_id) == []
        assert len(s.reader(DLQ).read()) == 1
    finally:
        s.close()


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_result_becomes_call_updated_once,
            test_comment_length_is_counted_in_characters,
            test_bad_results_change_nothing,
            test_posted_again_is_a_new_result,
            test_result_before_its_call,
            test_result_right_after_the_calls_202,
            test_result_naming_another_networks_call,
            test_intake_only_takes_results_with_postgres_down,
            test_result_whose_call_never_comes_expires,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
