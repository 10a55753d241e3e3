"""POST /v1/calls/{id}/result: a call tagged with what came of it goes
through calls.raw and comes out as call.updated with the result; retries are
one event; bad input, unknown calls and keys without ingest/admin change
nothing."""
import json
import uuid

import cfstack
from common import Stack, call_body, events_for, wait_until

CALLS = "clinicflow.calls.v1"
RAW = "clinicflow.calls.raw.v1"


def post_result(stack, call_id, body, key=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    return cfstack.http("POST", stack.svc.url("/v1/calls/%s/result" % call_id), data,
                        {"Content-Type": "application/json",
                         "Authorization": "Bearer " + (key or stack.keys["ingest"])})


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
        (str(uuid.uuid4()), dict(body={"result": "booked"}), 404, "not_found", None),
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


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_result_becomes_call_updated_once,
            test_comment_length_is_counted_in_characters,
            test_bad_results_change_nothing,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
