"""POST /v1/leads/{id}/events end to end: each type becomes one fact on
leads.raw keyed by the lead id (a response, or a status with its reason or
appointment), with an id derived from the key's network and the sender's
event_id; the body is strict (unknown members, another type's members, a
missing reason: 400 naming the field), a member given as null counting as
absent; a wrong key is 401, a read key 403;
another network's key writes only a fact of its own network, which the fold
never applies to this network's lead."""
import datetime
import json
import uuid

import cfstack
from common import NETWORK_B, Stack, demo_network, error_of

NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md
NET = demo_network()["id"]


def event_fact_id(network, event_id):
    return str(uuid.uuid5(NS, "\x1f".join([network, "api", "lead-event", event_id])))


def ahead(seconds):
    """The time seconds from now, RFC 3339."""
    return (datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def accepted(reply):
    st, _, body = reply
    assert st == 202, (st, body)
    return json.loads(body)


def test_responded(stack):
    lead = str(uuid.uuid4())
    ev_id = "crm-" + uuid.uuid4().hex[:8]
    out = accepted(stack.post_event(lead.upper(), {
        "event_id": ev_id, "type": "responded", "staff_id": "op-7", "channel": "telegram",
        "time": "2026-11-20T09:03:00Z"}))
    assert out == {"id": event_fact_id(NET, ev_id), "lead_id": lead}, out
    fact = stack.wait_raw(out["id"])
    assert fact["_key"] == fact["subject"] == lead, fact
    assert fact["type"] == "clinicflow.lead.reported" and fact["networkid"] == NET, fact
    assert fact["time"] == "2026-11-20T09:03:00.000Z", fact
    assert fact["source"] == "/clinicflow/leads/api", fact
    assert fact["data"] == {"kind": "response", "provider": "api", "channel": "api",
                            "provider_event_id": ev_id, "lead_id": lead, "staff_id": "op-7",
                            "via": "telegram"}, fact["data"]
    # a minute ahead is within the clocks' difference allowed
    accepted(stack.post_event(lead, {"event_id": ev_id + "-soon", "type": "responded",
                                     "time": ahead(60)}))
    # a retry is the same fact
    again = accepted(stack.post_event(lead, {
        "event_id": ev_id, "type": "responded", "staff_id": "op-7", "channel": "telegram",
        "time": "2026-11-20T09:03:00Z"}))
    assert again["id"] == out["id"]


def test_outcomes(stack):
    lead = str(uuid.uuid4())
    cases = [
        ({"type": "booked", "appointment_id": "apt-42", "staff_id": "op-1"},
         {"status": "booked", "appointment_id": "apt-42", "staff_id": "op-1"}),
        ({"type": "lost", "reason": "chose_other_clinic"},
         {"status": "lost", "reason": "chose_other_clinic"}),
        ({"type": "spam"}, {"status": "spam"}),
    ]
    for body, want in cases:
        ev_id = "crm-" + uuid.uuid4().hex[:8]
        out = accepted(stack.post_event(lead, dict(body, event_id=ev_id)))
        fact = stack.wait_raw(out["id"])
        assert fact["_key"] == lead, fact
        expect = {"kind": "status", "provider": "api", "channel": "api",
                  "provider_event_id": ev_id, "lead_id": lead, **want}
        assert fact["data"] == expect, (fact["data"], expect)


def test_strict_body(stack):
    lead = str(uuid.uuid4())
    bad = [
        ({"event_id": "e1", "type": "spam", "note": "x"}, "note"),
        ({"event_id": "e1", "type": "responded", "reason": "price"}, "reason"),
        ({"event_id": "e1", "type": "lost"}, "reason"),
        ({"event_id": "e1", "type": "lost", "reason": None}, "reason"),
        ({"event_id": "e1", "type": "lost", "reason": "too_expensive"}, "reason"),
        ({"event_id": "e1", "type": "booked", "channel": "call"}, "channel"),
        ({"event_id": "e1", "type": "called"}, "type"),
        ({"type": "spam"}, "event_id"),
        ({"event_id": "", "type": "spam"}, "event_id"),
        ({"event_id": "e1", "type": "responded", "time": "yesterday"}, "time"),
        # a sender's clock ahead of ours: a response dated 10 minutes from now
        ({"event_id": "e1", "type": "responded", "time": ahead(600)}, "time"),
        ({"event_id": "e1", "type": "responded", "staff_id": 7}, "staff_id"),
    ]
    for body, field in bad:
        st, _, reply = stack.post_event(lead, body)
        assert st == 400, (body, st, reply)
        err = error_of((st, None, reply))
        assert err["field"] == field and err["message"], (body, err)
    st, _, reply = stack.post_event("not-a-uuid", {"event_id": "e1", "type": "spam"})
    assert st == 400 and error_of((st, None, reply))["field"] == "id", reply
    st, _, reply = stack.post_event(lead, None, raw=b"{\"event_id\":")
    assert st == 400 and error_of((st, None, reply))["code"] == "invalid_json", reply
    st, _, reply = stack.post("/v1/leads/%s/events" % lead, b"event_id=e1&type=spam",
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Authorization": "Bearer " + stack.keys["ingest"]})
    assert st == 415, (st, reply)
    assert not any(f["data"].get("lead_id") == lead for f in stack.raw_facts())


def test_null_is_absent(stack):
    """A member given as null is a member not given, in every check and in
    the fact: another type's member as null is no member of it, and an
    optional one as null takes its default."""
    lead = str(uuid.uuid4())
    ev_id = "crm-" + uuid.uuid4().hex[:8]
    out = accepted(stack.post_event(lead, {
        "event_id": ev_id, "type": "responded", "reason": None, "appointment_id": None,
        "staff_id": None, "channel": None, "time": None}))
    fact = stack.wait_raw(out["id"])
    assert fact["data"] == {"kind": "response", "provider": "api", "channel": "api",
                            "provider_event_id": ev_id, "lead_id": lead,
                            "via": "api"}, fact["data"]
    ev_id = "crm-" + uuid.uuid4().hex[:8]
    out = accepted(stack.post_event(lead, {
        "event_id": ev_id, "type": "booked", "appointment_id": None, "channel": None}))
    fact = stack.wait_raw(out["id"])
    assert fact["data"] == {"kind": "status", "provider": "api", "channel": "api",
                            "provider_event_id": ev_id, "lead_id": lead,
                            "status": "booked"}, fact["data"]


def test_keys(stack):
    lead = str(uuid.uuid4())
    body = {"event_id": "k1", "type": "spam"}
    st, _, reply = stack.post_event(lead, body, key="cf_not_a_key")
    assert st == 401 and error_of((st, None, reply))["code"] == "unauthorized", reply
    st, _, reply = stack.post("/v1/leads/%s/events" % lead, json.dumps(body).encode(),
                              {"Content-Type": "application/json"})
    assert st == 401, reply
    st, _, reply = stack.post_event(lead, body, key=stack.keys["read"])
    assert st == 403, (st, reply)
    assert not any(f["data"].get("lead_id") == lead for f in stack.raw_facts())


def test_other_network_key(stack):
    """B's key on A's lead: the fact is B's (its network, an id of B's), so
    the fold, which applies a fact only to a lead of the fact's network,
    never changes A's lead; and it cannot stand in for A's own event."""
    lead = str(uuid.uuid4())
    body = {"event_id": "shared-1", "type": "lost", "reason": "price"}
    mine = accepted(stack.post_event(lead, body))
    theirs = accepted(stack.post_event(lead, body, key=stack.keys["other_ingest"]))
    assert theirs["id"] == event_fact_id(NETWORK_B["id"], "shared-1") != mine["id"], theirs
    fact = stack.wait_raw(theirs["id"])
    assert fact["networkid"] == NETWORK_B["id"], fact
    assert stack.wait_raw(mine["id"])["networkid"] == NET


if __name__ == "__main__":
    s = Stack(network_b=True)
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_responded, test_outcomes, test_strict_body, test_null_is_absent, test_keys,
            test_other_network_key)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
