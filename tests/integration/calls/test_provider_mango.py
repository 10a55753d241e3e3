"""Mango Office VPBX webhooks end to end: signed events/call legs and
events/summary posted to /v1/hooks/calls/mango/demo-mango become one call on
calls.v1; a wrong sign is a 401 with nothing produced; every accepted post
is answered 200 with an empty body, as Mango expects.

Payloads are shaped from the documented events/call and events/summary
fields (services/calls/PROVIDERS.md); the sign is computed here with hashlib,
independently of the service: sha256_hex(vpbx_api_key + json + vpbx_api_salt).
"""
import hashlib
import json
import uuid

from common import (FIXED_DATES_ENV, CALLS, assert_nothing_on_raw, assert_reply, assert_unauthorized,
                    contact_key, demo_channel, events_of_call, hook_path, post_form,
                    run_provider_tests, wait_call_event)

CHANNEL = "demo-mango"


def credentials():
    ch = demo_channel(CHANNEL)
    return ch["credentials"]["vpbx_api_key"], ch["credentials"]["vpbx_api_salt"]


def post(stack, sub, payload, sign=None, key=None):
    """Posts one Mango event as the VPBX does: form fields vpbx_api_key, sign, json."""
    api_key, salt = credentials()
    body_json = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if sign is None:
        sign = hashlib.sha256((api_key + body_json + salt).encode()).hexdigest()
    return post_form(stack, hook_path("mango", CHANNEL, sub),
                     {"vpbx_api_key": key or api_key, "sign": sign, "json": body_json})


def test_answered_inbound_call(stack):
    entry = "MjA5NDE0NzQ4Mzo" + uuid.uuid4().hex[:10] + "=="
    t0 = 1795165200  # 2026-11-20T09:00:00Z
    caller = {"number": "79161234567"}
    leg_ivr = {"entry_id": entry, "call_id": entry + "-1", "timestamp": t0, "seq": 1,
               "call_state": "Appeared", "location": "ivr", "from": caller,
               "to": {"number": "74950000301", "line_number": "74950000301"}}
    leg_agent = {"entry_id": entry, "call_id": entry + "-2", "timestamp": t0 + 8, "seq": 1,
                 "call_state": "Connected", "location": "abonent", "from": caller,
                 "to": {"extension": "101", "number": "sip:user3@vpbx400210093.mangosip.ru",
                        "line_number": "74950000301"}}
    leg_agent_ring = dict(leg_agent, timestamp=t0 + 3, seq=0, call_state="Appeared")
    leg_agent_end = dict(leg_agent, timestamp=t0 + 60, seq=2, call_state="Disconnected",
                         disconnect_reason=1110)
    summary = {"entry_id": entry, "call_direction": 1, "from": caller,
               "to": {"extension": "101", "number": "sip:user3@vpbx400210093.mangosip.ru"},
               "line_number": "74950000301", "create_time": t0, "forward_time": t0 + 3,
               "talk_time": t0 + 8, "end_time": t0 + 60, "entry_result": 1,
               "disconnect_reason": 1110}
    # Legs out of order and interleaved, one retried; the summary last.
    for sub, payload in (("/events/call", leg_agent), ("/events/call", leg_ivr),
                         ("/events/call", leg_agent_end), ("/events/call", leg_agent_ring),
                         ("/events/call", leg_agent), ("/events/summary", summary)):
        assert_reply(post(stack, sub, payload), what=sub)

    ended = wait_call_event(stack, "clinicflow.call.ended", provider_call_id=entry)
    data = ended[-1]["data"]
    assert data["status"] == "ended" and data["outcome"] == "answered", data
    assert data["direction"] == "inbound", data
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["contact_key"] == contact_key("+79161234567")
    assert data["tracking_number"] == "+74950000301", data
    assert data["started_at"] == "2026-11-20T09:00:00.000Z", data
    assert data["answered_at"] == "2026-11-20T09:00:08.000Z", data
    assert data["ended_at"] == "2026-11-20T09:01:00.000Z", data
    assert data["ring_seconds"] == 8 and data["talk_seconds"] == 52, data
    assert data["agent_id"] == "101", data
    assert ended[-1]["clinicid"] == "demo-center", ended[-1]
    # The answered leg came first: the call never went back to ringing.
    stack.wait_folded()
    evs = events_of_call(stack.reader(CALLS).read(), entry)
    types = [e["type"] for e in evs]
    assert types[0] == "clinicflow.call.answered", types
    assert types.count("clinicflow.call.ended") == 1, types
    assert "clinicflow.call.started" not in types, types
    assert all(e["data"]["status"] != "ringing" for e in evs), types


def test_missed_inbound_call(stack):
    entry = "MjA5NDE0NzQ4Mzo" + uuid.uuid4().hex[:10] + "=="
    t0 = 1795165800
    summary = {"entry_id": entry, "call_direction": 1, "from": {"number": "79031112233"},
               "to": {"extension": "102"}, "line_number": "74950000302", "create_time": t0,
               "forward_time": t0 + 2, "talk_time": 0, "end_time": t0 + 40, "entry_result": 0,
               "disconnect_reason": 1110}
    assert_reply(post(stack, "/events/summary", summary))
    reader = stack.reader(CALLS)
    ev = reader.wait_for(lambda m: m["payload"] and entry in m["payload"]
                         and "clinicflow.call.ended" in m["payload"])
    data = json.loads(ev["payload"])["data"]
    assert data["outcome"] == "missed" and "answered_at" not in data, data
    assert data["ring_seconds"] == 40, data


def test_wrong_sign_is_refused_and_nothing_produced(stack):
    entry = "WRONG" + uuid.uuid4().hex[:12]
    leg = {"entry_id": entry, "call_id": entry + "-1", "timestamp": 1795165200, "seq": 1,
           "call_state": "Appeared", "from": {"number": "79161234567"},
           "to": {"number": "74950000301", "line_number": "74950000301"}}
    assert_unauthorized(post(stack, "/events/call", leg, sign="0" * 64))
    st, _, _ = post(stack, "/events/call", leg, sign="")
    assert st == 401
    st, _, _ = post(stack, "/events/call", leg, key="someone-elses-vpbx")
    assert st == 401
    # Garbage with a valid sign is a 400, not a fact.
    st, _, body = post(stack, "/events/call", {"hello": "world", "entry_id": entry})
    assert st == 400, (st, body)
    # A good post afterwards proves the topic was readable.
    other = "GOOD" + uuid.uuid4().hex[:12]
    good = dict(leg, entry_id=other, call_id=other + "-1")
    st, _, _ = post(stack, "/events/call", good)
    assert st == 200
    stack.wait_folded()
    assert_nothing_on_raw(stack, entry)


def test_ping_is_verified_and_answered_empty(stack):
    assert_reply(post(stack, "/events/ping", {}))
    st, _, body = post(stack, "/events/ping", {}, sign="f" * 64)
    assert st == 401, (st, body)


if __name__ == "__main__":
    run_provider_tests((
        test_answered_inbound_call,
        test_missed_inbound_call,
        test_wrong_sign_is_refused_and_nothing_produced,
        test_ping_is_verified_and_answered_empty,
    ), extra_env=FIXED_DATES_ENV)
