"""Tenants are walled: a key or a channel of one network that names another
network's clinic, call or channel gets the documented refusal, and nothing
of the other network is changed or shown. Two networks share one database
and one service here: the demo network (A) and a small network of its own
(B) applied beside it with clinicflowctl."""
import base64
import hashlib
import hmac
import json
import os
import tempfile
import uuid

import cfstack
from common import (FORM, NS, RAW, Stack, assert_nothing_on_raw, assert_unauthorized, call_body,
                    call_uuid, demo_network, events_for, post_form, wait_until)

CALLS = "clinicflow.calls.v1"
PUBLIC = "https://calls.clinicflow.test"
B_TOKEN = "other-twilio-auth-token-0001"

# Network B: one clinic, one Twilio channel with its own token and number.
NETWORK_B = cfstack.small_network("other", "other-contact-key-secret-0001", "other-clinic", [{
    "id": "other-twilio",
    "kind": "telephony",
    "provider": "twilio",
    "clinic_id": "other-clinic",
    "credentials": {"account_sid": "AC11111111111111111111111111111111",
                    "auth_token": B_TOKEN},
    "timezone": "Europe/Moscow",
    "numbers": {"+74950007002": "other-clinic"},
}])


def network_b(stack):
    """Applies network B once and returns its ingest key."""
    if "other_ingest" not in stack.keys:
        cfstack.apply_network(stack.dsn, NETWORK_B)
        stack.keys["other_ingest"] = cfstack.create_key(stack.dsn, "other", "ingest")
        # the service sees B once its configuration snapshot has reloaded
        wait_until(lambda: stack.post_generic(
            call_body(clinic_id="other-clinic", event_id="probe-" + uuid.uuid4().hex),
            key=stack.keys["other_ingest"])[0] == 202, 30, "network B to be loaded")
    return stack.keys["other_ingest"]


def call_row(stack, call_id):
    return cfstack.psql(stack.dsn, "SELECT network_id, clinic_id, outcome, doc->'result'"
                        " FROM calls.calls WHERE call_id = '%s'" % call_id)


def test_key_of_a_naming_bs_clinic_is_refused(stack):
    network_b(stack)
    cid = "tenant-" + uuid.uuid4().hex[:12]
    st, _, body = stack.post_generic(call_body(cid, clinic_id="other-clinic"))
    assert st == 400, (st, body)
    err = json.loads(body)["error"]
    assert err["code"] == "unknown_clinic" and err["field"] == "clinic_id", err
    assert_nothing_on_raw(stack, cid)


def test_same_provider_call_id_is_two_calls(stack):
    # The call id is derived from the network too: B's call of the same
    # provider id is its own, and A's facts never reach it.
    b_key = network_b(stack)
    cid = "tenant-" + uuid.uuid4().hex[:12]
    st, _, body = stack.post_generic(call_body(cid, clinic_id="other-clinic", outcome="missed"),
                                     key=b_key)
    assert st == 202, (st, body)
    b_call = json.loads(body)["call_id"]
    st, _, body = stack.post_generic(call_body(cid, answered_at="2026-11-20T09:00:08Z",
                                               talk_seconds=30))
    assert st == 202, (st, body)
    a_call = json.loads(body)["call_id"]
    assert a_call != b_call
    stack.wait_folded()
    assert call_row(stack, b_call)[0][:3] == ["other", "other-clinic", "missed"], \
        call_row(stack, b_call)
    assert call_row(stack, a_call)[0][:3] == [demo_network()["id"], "demo-center",
                                              "answered"], call_row(stack, a_call)


def test_result_with_key_of_a_never_reaches_bs_call(stack):
    b_key = network_b(stack)
    cid = "tenant-" + uuid.uuid4().hex[:12]
    st, _, body = stack.post_generic(call_body(cid, clinic_id="other-clinic"), key=b_key)
    assert st == 202, (st, body)
    b_call = json.loads(body)["call_id"]
    stack.wait_folded()
    before = call_row(stack, b_call)

    st, _, body = cfstack.http(
        "POST", stack.svc.url("/v1/calls/%s/result" % b_call),
        json.dumps({"result": "spam", "event_id": "tenant-" + cid}).encode(),
        {"Content-Type": "application/json", "Authorization": "Bearer " + stack.keys["ingest"]})
    # Refused at once, or taken and never applied to another network's call:
    # either way nothing of B's changes and nothing about it is told.
    assert st in (202, 404), (st, body)
    if st == 404:
        assert json.loads(body)["error"]["code"] == "not_found", body
    else:
        assert "other" not in body.decode(), body
    stack.wait_folded()
    assert call_row(stack, b_call) == before, (call_row(stack, b_call), before)
    updates = [e for e in events_for(stack.reader(CALLS).read(), b_call)
               if e["type"] == "clinicflow.call.updated"]
    assert not updates, updates


def twilio_sign(url, params, token):
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_channel_of_b_signed_with_as_token_is_unauthorized(stack):
    network_b(stack)
    sid = "CA" + uuid.uuid4().hex
    params = sorted({
        "AccountSid": "AC11111111111111111111111111111111", "CallSid": sid,
        "CallStatus": "no-answer", "Direction": "inbound", "From": "+79161234567",
        "To": "+74950007002", "SequenceNumber": "1", "CallDuration": "0",
        "Timestamp": "Fri, 20 Nov 2026 09:00:30 +0000",
    }.items())
    path = "/v1/hooks/calls/twilio/other-twilio"
    a_token = [c for c in demo_network()["channels"]
               if c["id"] == "demo-twilio"][0]["credentials"]["auth_token"]
    hdrs = {"X-Twilio-Signature": twilio_sign(PUBLIC + path, params, a_token)}
    assert_unauthorized(post_form(stack, path, params, FORM, hdrs), "A's token on B's channel")
    assert_nothing_on_raw(stack, sid)

    # B's own token passes: the refusal above was the tenant wall, not the form.
    hdrs = {"X-Twilio-Signature": twilio_sign(PUBLIC + path, params, B_TOKEN)}
    st, _, body = post_form(stack, path, params, FORM, hdrs)
    assert st == 200, (st, body)
    facts = []
    wait_until(lambda: facts.extend(e for e in (json.loads(m["payload"]) for m in
                                                stack.reader(RAW).read() if m["payload"])
                                    if e["data"].get("provider_call_id") == sid) or facts,
               30, "B's fact on calls.raw")
    # B's fact carries B's network and B's call id, never A's
    assert {e["networkid"] for e in facts} == {"other"}, facts
    assert {e["subject"] for e in facts} == {str(uuid.uuid5(NS, "\x1f".join(
        ["other", "twilio", "call", sid])))}, facts
    assert call_uuid("twilio", sid) not in {e["subject"] for e in facts}


def test_channel_of_a_cannot_be_reached_under_b(stack):
    # A channel id belongs to one network: B's token on A's channel fails.
    network_b(stack)
    sid = "CA" + uuid.uuid4().hex
    params = sorted({
        "AccountSid": "AC00000000000000000000000000000000", "CallSid": sid,
        "CallStatus": "no-answer", "Direction": "inbound", "From": "+79161234567",
        "To": "+74950000201", "SequenceNumber": "1", "CallDuration": "0",
        "Timestamp": "Fri, 20 Nov 2026 09:00:30 +0000",
    }.items())
    path = "/v1/hooks/calls/twilio/demo-twilio"
    hdrs = {"X-Twilio-Signature": twilio_sign(PUBLIC + path, params, B_TOKEN)}
    assert_unauthorized(post_form(stack, path, params, FORM, hdrs), "B's token on A's channel")
    assert_nothing_on_raw(stack, sid)


def test_b_cannot_take_as_clinic_id(stack):
    # Clinic ids are the network's own: a network file naming another
    # network's clinic is refused and A's clinic is left as it was.
    network_b(stack)
    doc = json.loads(json.dumps(NETWORK_B))
    doc["clinics"].append({"id": "demo-center", "name": "Taken",
                           "address": "Moscow (test)", "timezone": "Europe/Moscow"})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    try:
        p = cfstack.clinicflowctl(stack.dsn, "apply", "-f", f.name, check=False)
    finally:
        os.unlink(f.name)
    assert p.returncode != 0, p.stdout
    rows = cfstack.psql(stack.dsn, "SELECT network_id, name FROM config.clinics"
                        " WHERE id = 'demo-center'")
    assert rows == [[demo_network()["id"], demo_network()["clinics"][0]["name"]]], rows


if __name__ == "__main__":
    s = Stack(extra_env={"CLINICFLOW_CALLS_PUBLIC_BASE_URL": PUBLIC})
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_key_of_a_naming_bs_clinic_is_refused,
            test_same_provider_call_id_is_two_calls,
            test_result_with_key_of_a_never_reaches_bs_call,
            test_channel_of_b_signed_with_as_token_is_unauthorized,
            test_channel_of_a_cannot_be_reached_under_b,
            test_b_cannot_take_as_clinic_id,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
