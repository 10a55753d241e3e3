"""Zadarma PBX notifications end to end: the unsigned GET ?zd_echo= URL
check, signed NOTIFY_* posts to /v1/hooks/calls/zadarma/demo-zadarma
becoming one call on calls.v1, a wrong Signature answered 401 with nothing
produced, and the empty 200 Zadarma expects.

Payloads are shaped from the documented fields of each notification
(Zadarma's user-api-v1 lib/Webhook/Notify*.php; services/calls/PROVIDERS.md).
The Signature is computed here as PHP's
base64_encode(hash_hmac('sha1', fields, secret)) does: base64 of the hex
digest, independently of the service.
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import tempfile
import uuid
import zoneinfo

import cfstack
from common import (FIXED_DATES_ENV, RAW, assert_nothing_on_raw, assert_reply,
                    assert_unauthorized, contact_key, demo_channel, events_of_call, hook_path,
                    metric, post_form, run_provider_tests, wait_call_event, wait_until)

CHANNEL = "demo-zadarma"
SIGNED = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}


def channel():
    return demo_channel(CHANNEL)


def signature(fields):
    secret = channel()["credentials"]["secret"]
    text = "".join(fields.get(k, "") for k in SIGNED[fields["event"]])
    hexdigest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hexdigest.encode()).decode()


def post(stack, fields, sig=None):
    hdrs = {}
    if sig is not False:
        hdrs["Signature"] = sig if sig is not None else signature(fields)
    return post_form(stack, hook_path("zadarma", CHANNEL), fields, headers=hdrs)


def pbx_now(seconds_ago=0):
    """The PBX's wall clock (the channel's zone) as Zadarma writes call_start."""
    tz = zoneinfo.ZoneInfo(channel()["timezone"])
    t = datetime.datetime.now(tz).replace(microsecond=0) - datetime.timedelta(
        seconds=seconds_ago)
    return t, t.strftime("%Y-%m-%d %H:%M:%S")


def iso(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_zd_echo_is_answered_before_authentication(stack):
    assert_reply(cfstack.http("GET", stack.svc.url(hook_path("zadarma", CHANNEL)
                                                   + "?zd_echo=Xk3b9QpL2")),
                 b"Xk3b9QpL2", "text/plain")
    # Without zd_echo a GET is just an unsigned request.
    st, _, _ = cfstack.http("GET", stack.svc.url(hook_path("zadarma", CHANNEL)))
    assert st == 401


def test_answered_inbound_call(stack):
    pbx_call_id = "in_" + uuid.uuid4().hex[:16]
    start, call_start = pbx_now(seconds_ago=5)
    base = {"call_start": call_start, "pbx_call_id": pbx_call_id, "caller_id": "79161234567",
            "called_did": "74950000304"}
    notes = [
        dict(base, event="NOTIFY_START"),
        dict(base, event="NOTIFY_INTERNAL", internal="101"),
        {"event": "NOTIFY_ANSWER", "call_start": call_start, "pbx_call_id": pbx_call_id,
         "caller_id": "79161234567", "destination": "101", "internal": "101"},
        dict(base, event="NOTIFY_END", internal="101", duration="65", disposition="answered",
             status_code="16", is_recorded="1", call_id_with_rec="1795165200.987654",
             some_future_field="x"),
    ]
    for fields in notes:
        assert_reply(post(stack, fields), what=fields["event"])
    # The END retried: same fact id, nothing new downstream.
    assert_reply(post(stack, notes[-1]))

    wait_call_event(stack, "clinicflow.call.ended", provider_call_id=pbx_call_id)
    stack.wait_folded()  # the retry too
    ended = wait_call_event(stack, "clinicflow.call.ended", provider_call_id=pbx_call_id)
    data = ended[-1]["data"]
    assert len(ended) == 1, ended
    assert data["status"] == "ended" and data["outcome"] == "answered", data
    assert data["direction"] == "inbound", data
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["contact_key"] == contact_key("+79161234567")
    assert data["tracking_number"] == "+74950000304", data
    assert data["started_at"] == iso(start), (data, call_start)
    # duration is the talk time; the END came early (the test posts it at
    # once), so the end is no earlier than call_start + duration.
    assert data["ended_at"] == iso(start + datetime.timedelta(seconds=65)), data
    assert data["talk_seconds"] == 65, data
    assert "answered_at" in data and 0 <= data["ring_seconds"] <= 30, data
    assert data["agent_id"] == "101", data
    assert data["recording_url"].endswith("call_id=1795165200.987654&pbx_call_id="
                                          + pbx_call_id), data
    assert ended[-1]["clinicid"] == "demo-center", ended[-1]
    raw = events_of_call(stack.reader(RAW).read(), pbx_call_id)
    ids = [e["id"] for e in raw if e["data"]["provider_event_id"].endswith("/NOTIFY_END")]
    assert len(ids) == 2 and ids[0] == ids[1], ids


def test_unanswered_call_rang_until_its_end_arrived(stack):
    """An unanswered call reports duration 0 (it is the talk time): it rang
    from call_start until the END arrived. 40 s of ringing is a missed call;
    3 s is an abandoned one (the threshold is 10 s)."""
    calls = {}
    for rang, disposition in ((40, "no answer"), (3, "cancel")):
        pbx_call_id = "in_" + uuid.uuid4().hex[:16]
        _, call_start = pbx_now(seconds_ago=rang)
        base = {"call_start": call_start, "pbx_call_id": pbx_call_id,
                "caller_id": "7916555%04d" % rang, "called_did": "74950000304"}
        assert_reply(post(stack, dict(base, event="NOTIFY_START")))
        assert_reply(post(stack, dict(base, event="NOTIFY_END", internal="", duration="0",
                                      disposition=disposition, status_code="19",
                                      is_recorded="0", call_id_with_rec="")))
        calls[rang] = pbx_call_id
    missed = wait_call_event(stack, "clinicflow.call.ended", provider_call_id=calls[40])[-1]
    assert missed["data"]["outcome"] == "missed", missed
    assert 40 <= missed["data"]["ring_seconds"] <= 40 + 30, missed
    assert "answered_at" not in missed["data"], missed
    short = wait_call_event(stack, "clinicflow.call.ended", provider_call_id=calls[3])[-1]
    assert short["data"]["outcome"] == "abandoned", short
    assert 3 <= short["data"]["ring_seconds"] < 10, short


def test_wrong_signature_is_refused_and_nothing_produced(stack):
    pbx_call_id = "in_" + uuid.uuid4().hex[:16]
    _, call_start = pbx_now()
    fields = {"event": "NOTIFY_START", "call_start": call_start, "pbx_call_id": pbx_call_id,
              "caller_id": "79161234567", "called_did": "74950000304"}
    good = signature(fields)

    def raw_digest(caller):
        """base64 of the raw HMAC bytes, as Zadarma's TypeScript library has it."""
        return base64.b64encode(hmac.new(channel()["credentials"]["secret"].encode(),
                                         (caller + "74950000304" + call_start).encode(),
                                         hashlib.sha1).digest()).decode()

    # Wrong (either encoding), and missing.
    for sig in (good[:-4] + "AAA=", False, raw_digest("79990000000")):
        assert_unauthorized(post(stack, fields, sig=sig), sig)
    # A signature made for other fields does not carry over.
    st, _, _ = post(stack, dict(fields, caller_id="79990000000"), sig=good)
    assert st == 401
    # Good ones afterwards, in both encodings, prove the topic was readable.
    for sig in (None, raw_digest("79161234567")):
        ok = dict(fields, pbx_call_id="in_" + uuid.uuid4().hex[:16])
        st, _, _ = post(stack, ok, sig=sig)
        assert st == 200, sig
        assert wait_call_event(stack, "clinicflow.call.started", provider_call_id=ok["pbx_call_id"])
    # Events that are not call events are acknowledged unverified and record
    # nothing, even when they carry a call's fields.
    other = dict(fields, event="NOTIFY_SOMETHING", pbx_call_id="in_" + uuid.uuid4().hex[:16])
    for ev in (other, {"event": "SMS", "result": '{"caller_id":"79161234567"}'}):
        st, _, _ = post(stack, ev, sig=False)
        assert st == 200, ev
    stack.wait_folded()
    assert_nothing_on_raw(stack, pbx_call_id)
    assert_nothing_on_raw(stack, other["pbx_call_id"])


def test_replayed_notification_is_refused(stack):
    """Zadarma signs caller_id, called_did and call_start only: the call id,
    disposition and duration of a captured NOTIFY_END can be changed at
    will and the signature still holds, so one request could mint any number
    of missed calls. A signed call_start older than the replay window
    (CLINICFLOW_CALLS_REPLAY_WINDOW_S, 4 h by default) is refused as a
    replay; a call_start within it is taken."""
    replay = 'clinicflow_calls_hooks_refused_total{reason="replay"}'
    before = metric(stack.svc, replay)
    _, old_start = pbx_now(seconds_ago=5 * 3600)
    captured = {"event": "NOTIFY_END", "call_start": old_start, "caller_id": "79161234567",
                "called_did": "74950000304", "internal": "", "duration": "0",
                "disposition": "cancel", "status_code": "16", "is_recorded": "0"}
    sig = signature(captured)
    minted = []
    for _ in range(3):
        fields = dict(captured, pbx_call_id="in_" + uuid.uuid4().hex[:16])
        minted.append(fields["pbx_call_id"])
        assert_unauthorized(post(stack, fields, sig=sig), "replayed")
    assert metric(stack.svc, replay) == before + 3
    _, recent = pbx_now(seconds_ago=3600)
    fine = dict(captured, call_start=recent, pbx_call_id="in_" + uuid.uuid4().hex[:16])
    assert post(stack, fine)[0] == 200
    wait_call_event(stack, "clinicflow.call.ended", provider_call_id=fine["pbx_call_id"])
    for pbx_call_id in minted:
        assert_nothing_on_raw(stack, pbx_call_id)


def test_allowed_sources(stack):
    """A channel that lists the provider's addresses ("allowed_sources")
    refuses a request from anywhere else, signed or not, with 401 and counts
    it. Behind a proxy (CLINICFLOW_CALLS_TRUSTED_PROXIES is 127.0.0.1 for
    this stack) the client is the X-Forwarded-For address the proxy names.
    Runs last: it changes the demo channel."""
    net = cfstack.demo_network()
    for ch in net["channels"]:
        if ch["id"] == CHANNEL:
            ch["allowed_sources"] = ["203.0.113.0/24", "192.0.2.0/24"]
    path = os.path.join(tempfile.mkdtemp(prefix="cf-net-"), "network.json")
    with open(path, "w") as f:
        json.dump(net, f)
    cfstack.clinicflowctl(stack.dsn, "apply", "-f", path)
    source = 'clinicflow_calls_hooks_refused_total{reason="source"}'
    _, call_start = pbx_now()

    def start(forwarded_for=None):
        fields = {"event": "NOTIFY_START", "call_start": call_start,
                  "pbx_call_id": "in_" + uuid.uuid4().hex[:16], "caller_id": "79161234567",
                  "called_did": "74950000304"}
        hdrs = {"Signature": signature(fields)}
        if forwarded_for:
            hdrs["X-Forwarded-For"] = forwarded_for
        return fields["pbx_call_id"], post_form(stack, hook_path("zadarma", CHANNEL), fields,
                                                headers=hdrs)

    # Once the service has the new config, the test's own address is refused.
    wait_until(lambda: start()[1][0] == 401, 30, "the allowed_sources in the service's config")
    before = metric(stack.svc, source)
    refused, reply = start()
    assert_unauthorized(reply, "from 127.0.0.1")
    refused_fwd, reply = start("198.51.100.9")
    assert_unauthorized(reply, "forwarded for an address outside the list")
    assert metric(stack.svc, source) == before + 2
    taken, reply = start("203.0.113.5, 203.0.113.17")
    assert reply[0] == 200, reply
    wait_call_event(stack, "clinicflow.call.started", provider_call_id=taken)
    for pbx_call_id in (refused, refused_fwd):
        assert_nothing_on_raw(stack, pbx_call_id)


if __name__ == "__main__":
    run_provider_tests((
        test_zd_echo_is_answered_before_authentication,
        test_answered_inbound_call,
        test_unanswered_call_rang_until_its_end_arrived,
        test_wrong_signature_is_refused_and_nothing_produced,
        test_replayed_notification_is_refused,
        test_allowed_sources,
    ), extra_env={**FIXED_DATES_ENV, "CLINICFLOW_CALLS_TRUSTED_PROXIES": "127.0.0.1"})
