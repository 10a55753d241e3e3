"""Asterisk CDR posts end to end, as the dialplan snippet at the top of
services/calls/adapter_asterisk.c sends them: form posts to
/v1/hooks/calls/asterisk/demo-asterisk?token=..., PBX local times in the
channel's zone (Europe/Moscow, UTC+3), the fold's call.* on calls.v1."""
import json
import urllib.parse
import uuid

import cfstack
from common import Stack, contact_key, demo_network, events_for, wait_until

RAW = "clinicflow.calls.raw.v1"
CALLS = "clinicflow.calls.v1"
PATH = "/v1/hooks/calls/asterisk/demo-asterisk"
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md


def token():
    ch = next(c for c in demo_network()["channels"] if c["id"] == "demo-asterisk")
    return ch["credentials"]["url_token"]


def call_uuid(linkedid):
    return str(uuid.uuid5(NS, "\x1f".join([demo_network()["id"], "asterisk", "call", linkedid])))


def new_linkedid():
    return "1795165200.%d" % (uuid.uuid4().int % 100000)


def cdr(linkedid, **over):
    """The hangup post of the snippet: an answered inbound call, rang 8 s, talked 52 s."""
    p = {"event": "hangup", "direction": "inbound", "did": "74950000202", "uniqueid": linkedid,
         "linkedid": linkedid, "src": "89161234567", "dst": "reception",
         "disposition": "ANSWERED", "duration": "60", "billsec": "52",
         "start": "2026-11-20 12:00:00", "answer": "2026-11-20 12:00:08",
         "end": "2026-11-20 12:01:00", "agent": "101"}
    p.update(over)
    return p


def post(stack, params, tok="ok"):
    path = PATH
    if tok == "ok":
        tok = token()
    if tok is not None:
        path += "?token=" + urllib.parse.quote(tok)
    # What func_curl sends with post data: a form body.
    return cfstack.http("POST", stack.svc.url(path), urllib.parse.urlencode(params),
                        {"Content-Type": "application/x-www-form-urlencoded"})


def wait_event(stack, cid, etype, timeout=30):
    found = []

    def seen():
        found[:] = [e for e in events_for(stack.reader(CALLS).read(), cid) if e["type"] == etype]
        return bool(found)

    wait_until(seen, timeout, etype + " on calls.v1")
    return found[-1]


def test_answered_inbound_call(stack):
    lid = new_linkedid()
    st, hdrs, body = post(stack, cdr(lid))
    assert st == 200 and body == b"OK", (st, body)
    assert hdrs["content-type"].startswith("text/plain"), hdrs

    data = wait_event(stack, call_uuid(lid), "clinicflow.call.ended")["data"]
    assert data["provider"] == "asterisk" and data["provider_call_id"] == lid, data
    assert data["direction"] == "inbound" and data["outcome"] == "answered", data
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["caller"]["raw"] == "89161234567", data["caller"]
    assert data["called"]["e164"] == "+74950000202", data["called"]
    assert data["contact_key"] == contact_key("+79161234567")
    assert data["clinic_id"] == "demo-north", data
    assert data["started_at"] == "2026-11-20T09:00:00.000Z", data
    assert data["answered_at"] == "2026-11-20T09:00:08.000Z", data
    assert data["ended_at"] == "2026-11-20T09:01:00.000Z", data
    assert data["ring_seconds"] == 8 and data["talk_seconds"] == 52, data
    assert data["agent_id"] == "101", data


def test_live_answer_then_cdr(stack):
    lid = new_linkedid()
    live = {"event": "answered", "direction": "inbound", "linkedid": lid, "src": "89161234567",
            "dst": "74950000202", "did": "74950000202", "time": "2026-11-20 12:00:08"}
    st, _, body = post(stack, live)
    assert st == 200 and body == b"OK", (st, body)
    cid = call_uuid(lid)
    wait_event(stack, cid, "clinicflow.call.answered")
    assert post(stack, cdr(lid))[0] == 200
    data = wait_event(stack, cid, "clinicflow.call.ended")["data"]
    assert data["outcome"] == "answered" and data["talk_seconds"] == 52, data
    # The same CDR posted again is the same event: no second call.ended.
    assert post(stack, cdr(lid))[0] == 200
    stack.wait_folded()
    types = [e["type"] for e in events_for(stack.reader(CALLS).read(), cid)]
    assert types == ["clinicflow.call.answered", "clinicflow.call.ended"], types
    facts = events_for(stack.reader(RAW).read(), cid)
    assert len(facts) == 3 and facts[1]["id"] == facts[2]["id"], facts


def test_missed_call(stack):
    lid = new_linkedid()
    st, _, body = post(stack, cdr(lid, disposition="NO ANSWER", duration="25", billsec="0",
                                  answer="", end="2026-11-20 12:00:25", agent=""))
    assert st == 200, (st, body)
    data = wait_event(stack, call_uuid(lid), "clinicflow.call.ended")["data"]
    assert data["outcome"] == "missed" and data["ring_seconds"] == 25, data
    assert "answered_at" not in data, data


def test_bad_token_is_refused_and_nothing_produced(stack):
    lid = new_linkedid()
    for label, tok in (("wrong", "not-the-token"), ("missing", None), ("empty", "")):
        st, _, body = post(stack, cdr(lid), tok=tok)
        assert st == 401, (label, st, body)
        assert json.loads(body)["error"]["code"] == "unauthorized", body
    # Garbage with the right token is a 400.
    st, _, body = post(stack, {"hello": "world"})
    assert st == 400, (st, body)
    good = new_linkedid()
    assert post(stack, cdr(good))[0] == 200
    wait_event(stack, call_uuid(good), "clinicflow.call.ended")
    raw = stack.reader(RAW).read()
    assert not any(lid in (m["payload"] or "") for m in raw)


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_answered_inbound_call, test_live_answer_then_cdr, test_missed_call,
            test_bad_token_is_refused_and_nothing_produced,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
