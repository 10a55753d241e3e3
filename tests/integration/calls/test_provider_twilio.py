"""Twilio Voice status callbacks end to end: signed form posts to
/v1/hooks/calls/twilio/demo-twilio, the facts on calls.raw, the fold's
call.* events on calls.v1. The signature is computed here the way Twilio
documents it (URL + sorted name+value, HMAC-SHA1 with the auth token,
base64), over the public URL the service is told it is reached at."""
import base64
import hashlib
import hmac
import random
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import cfstack
from common import (FIXED_DATES_ENV, FORM, RAW, assert_nothing_on_raw, assert_reply, assert_unauthorized,
                    call_types, call_uuid, contact_key, demo_channel, events_for, metric, post_form,
                    run_provider_tests, tasks_of, wait_call_event, wait_task, wait_until)

PUBLIC = "https://calls.clinicflow.test"
PATH = "/v1/hooks/calls/twilio/demo-twilio"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


def channel():
    return demo_channel("demo-twilio")


def sign(url, params, token=None):
    token = token or channel()["credentials"]["auth_token"]
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def new_sid():
    return "CA" + uuid.uuid4().hex


def callback(sid, status, seq, timestamp, **extra):
    """A status callback's parameters as Twilio documents them."""
    params = {
        "AccountSid": channel()["credentials"]["account_sid"], "ApiVersion": "2010-04-01",
        "CallSid": sid, "CallStatus": status, "CallbackSource": "call-progress-events",
        "Direction": "inbound", "From": "+79161234567", "Caller": "+79161234567",
        "To": "+74950000201", "Called": "+74950000201", "FromCountry": "RU", "ToCountry": "RU",
        "SequenceNumber": str(seq), "Timestamp": timestamp,
    }
    params.update(extra)
    return sorted(params.items())


def post(stack, params, signature="sign", channel_id="demo-twilio"):
    hdrs = {"I-Twilio-Idempotency-Token": uuid.uuid4().hex}
    path = "/v1/hooks/calls/twilio/" + channel_id
    if signature == "sign":
        signature = sign(PUBLIC + path, params,
                         demo_channel(channel_id)["credentials"]["auth_token"])
    if signature is not None:
        hdrs["X-Twilio-Signature"] = signature
    return post_form(stack, path, params, FORM + "; charset=UTF-8", hdrs)


def ended(stack, sid):
    """The call's last call.ended on calls.v1, once there."""
    return wait_call_event(stack, "clinicflow.call.ended", call_uuid("twilio", sid))[-1]


def test_lone_completed_is_a_full_answered_call(stack):
    # Twilio's default: only `completed` is sent.
    sid = new_sid()
    assert_reply(post(stack, callback(sid, "completed", 0, "Fri, 20 Nov 2026 09:01:00 +0000",
                                      CallDuration="52", Duration="1", SipResponseCode="200")),
                 TWIML, "text/xml")

    data = ended(stack, sid)["data"]
    assert data["provider"] == "twilio" and data["provider_call_id"] == sid, data
    assert data["direction"] == "inbound" and data["outcome"] == "answered", data
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["called"]["e164"] == "+74950000201", data["called"]
    assert data["contact_key"] == contact_key("+79161234567")
    assert data["clinic_id"] == "demo-center", data
    assert data["answered_at"] == "2026-11-20T09:00:08.000Z", data
    assert data["ended_at"] == "2026-11-20T09:01:00.000Z", data
    assert data["talk_seconds"] == 52, data


def test_every_progress_event(stack):
    sid = new_sid()
    events = [("ringing", 0, "Fri, 20 Nov 2026 10:00:00 +0000", {}),
              ("in-progress", 1, "Fri, 20 Nov 2026 10:00:08 +0000", {}),
              ("completed", 2, "Fri, 20 Nov 2026 10:01:00 +0000", {"CallDuration": "52"})]
    for status, seq, ts, extra in events:
        assert_reply(post(stack, callback(sid, status, seq, ts, **extra)), TWIML, what=status)
    data = ended(stack, sid)["data"]
    assert data["started_at"] == "2026-11-20T10:00:00.000Z", data
    assert data["ring_seconds"] == 8 and data["talk_seconds"] == 52, data
    types = call_types(stack, call_uuid("twilio", sid))
    assert types == ["clinicflow.call.started", "clinicflow.call.answered",
                     "clinicflow.call.ended"], types


def test_missed_call(stack):
    sid = new_sid()
    assert_reply(post(stack, callback(sid, "no-answer", 1, "Fri, 20 Nov 2026 11:00:30 +0000",
                                      CallDuration="0")), TWIML)
    data = ended(stack, sid)["data"]
    assert data["outcome"] == "missed", data


def now_rfc2822(later_s=0):
    return format_datetime(datetime.now(timezone.utc).replace(microsecond=0)
                           + timedelta(seconds=later_s))


def dial_action(sid, dial_status, number, duration=0):
    """The <Dial action> request as Twilio documents it: the parent call's
    parameters (still in progress) plus the dialled leg's; no Timestamp."""
    params = {
        "AccountSid": channel()["credentials"]["account_sid"], "ApiVersion": "2010-04-01",
        "CallSid": sid, "CallStatus": "in-progress", "Direction": "inbound",
        "From": number, "Caller": number, "To": "+74950000201", "Called": "+74950000201",
        "DialCallSid": new_sid(), "DialCallStatus": dial_status,
        "DialCallDuration": str(duration), "DialBridged": "false",
    }
    return sorted(params.items())


def test_staff_missed_call_behind_a_greeting(stack):
    # Twilio answers with a greeting, then <Dial>s reception, which does not
    # pick up: the parent call ends `completed`, yet the call was missed and
    # opens a callback task.
    sid = new_sid()
    number = "+7916%07d" % random.randrange(10 ** 7)
    assert_reply(post(stack, dial_action(sid, "no-answer", number)), TWIML, "text/xml")
    assert_reply(post(stack, callback(sid, "completed", 0, now_rfc2822(), CallDuration="40",
                                      From=number, Caller=number)), TWIML)
    data = ended(stack, sid)["data"]
    assert data["outcome"] == "missed", data
    assert "answered_at" not in data and data["talk_seconds"] == 0, data
    assert call_types(stack, call_uuid("twilio", sid)) == [
        "clinicflow.call.started", "clinicflow.call.ended"], data

    opened = wait_task(stack, contact_key(number), "clinicflow.task.opened", timeout=30)
    assert opened["data"]["source_call_id"] == call_uuid("twilio", sid)


def test_staff_answered_call_behind_a_greeting(stack):
    sid = new_sid()
    assert_reply(post(stack, dial_action(sid, "completed", "+79161234567", duration=35)), TWIML)
    assert_reply(post(stack, callback(sid, "completed", 0, now_rfc2822(), CallDuration="50")),
                 TWIML)
    data = ended(stack, sid)["data"]
    assert data["outcome"] == "answered" and data["talk_seconds"] == 35, data
    assert data["targeted"] is True, data
    # The caller waited from Twilio's answer (the greeting) to the staff's:
    # 50 - 35 s, less the time between the two posts (the action's arrival
    # dates the staff's answer), give or take whole-second timestamps.
    assert 10 <= data["ring_seconds"] <= 17, data


def test_staff_leg_reported_after_the_end_does_not_close_a_task(stack):
    # The contact has an open callback task. They call again through a
    # staff_leg channel and hang up while reception's phone rings: the
    # parent's `completed` (Twilio's own answer) is folded before the
    # <Dial action>. That must not close the task as called back; the staff
    # leg then says missed, and the same task counts a second missed call.
    number = "+7916%07d" % random.randrange(10 ** 7)
    ckey = contact_key(number)
    first = new_sid()
    assert post(stack, callback(first, "no-answer", 1, now_rfc2822(), CallDuration="0",
                                From=number, Caller=number))[0] == 200
    task_id = wait_task(stack, ckey, "clinicflow.task.opened", timeout=30)["data"]["task_id"]

    # Twilio's own answer comes after the task opened, so taken for the
    # clinic's it would close the task.
    sid = new_sid()
    assert_reply(post(stack, callback(sid, "completed", 0, now_rfc2822(60), CallDuration="25",
                                      From=number, Caller=number),
                      channel_id="demo-twilio-reception"), TWIML)
    data = ended(stack, sid)["data"]
    assert data["agent_pending"] is True and data["outcome"] == "answered", data
    assert data["answered_at"] > tasks_of(stack, ckey)[0]["data"]["opened_at"], data
    assert_reply(post(stack, dial_action(sid, "no-answer", number),
                      channel_id="demo-twilio-reception"), TWIML, "text/xml")
    upd = wait_call_event(stack, "clinicflow.call.updated", call_uuid("twilio", sid))[-1]["data"]
    assert upd["outcome"] == "missed" and "agent_pending" not in upd, upd
    assert "answered_at" not in upd, upd

    # Task events of a contact are in order: the update comes after
    # whatever the pending call.ended did, so no close may precede it.
    wait_task(stack, ckey, "clinicflow.task.updated", timeout=30)
    events = tasks_of(stack, ckey)
    assert [e["type"] for e in events] == ["clinicflow.task.opened",
                                           "clinicflow.task.updated"], events
    assert events[1]["data"]["task_id"] == task_id, events
    assert events[1]["data"]["status"] == "open" and events[1]["data"]["missed_calls"] == 2, events
    # The dial action decided, not the sweeper's deadline (STAFF_LEG_WAIT_S).
    assert not sweeper_facts(stack, sid)


def sweeper_facts(stack, sid):
    return [f for f in events_for(stack.reader(RAW).read(), call_uuid("twilio", sid))
            if f["data"]["provider_event_id"] == sid + ":staff-leg-unreported"]


def test_staff_leg_never_reported_is_missed(stack):
    # The caller hangs up during the greeting: Twilio never runs the <Dial>,
    # so no action request comes. After STAFF_LEG_WAIT_S the sweeper reports
    # the leg missed, and the call opens a callback task like any missed one.
    number = "+7916%07d" % random.randrange(10 ** 7)
    sid = new_sid()
    cid = call_uuid("twilio", sid)
    assert_reply(post(stack, callback(sid, "completed", 0, now_rfc2822(), CallDuration="6",
                                      From=number, Caller=number),
                      channel_id="demo-twilio-reception"), TWIML)
    assert ended(stack, sid)["data"]["agent_pending"] is True
    upd = wait_call_event(stack, "clinicflow.call.updated", cid, timeout=60)[-1]["data"]
    assert upd["outcome"] in ("missed", "abandoned") and "agent_pending" not in upd, upd
    assert "answered_at" not in upd and upd["talk_seconds"] == 0, upd
    facts = sweeper_facts(stack, sid)
    assert facts and facts[0]["data"]["agent_outcome"] == "missed", facts
    wait_until(lambda: [e for e in tasks_of(stack, contact_key(number))
                        if e["type"] == "clinicflow.task.opened"
                        and e["data"]["source_call_id"] == cid], 30, "a task for the call")


def test_retry_is_the_same_event(stack):
    sid = new_sid()
    params = callback(sid, "completed", 0, "Fri, 20 Nov 2026 12:01:00 +0000", CallDuration="30")
    assert post(stack, params)[0] == 200
    assert post(stack, params)[0] == 200
    cid = call_uuid("twilio", sid)
    stack.wait_folded()
    facts = events_for(stack.reader(RAW).read(), cid)
    assert len(facts) == 2 and facts[0]["id"] == facts[1]["id"], facts
    types = call_types(stack, cid)
    assert types == ["clinicflow.call.ended"], types


def test_callback_by_get(stack):
    """StatusCallbackMethod GET: the parameters come in the query, and the
    signature is over the URL with it (no POST parameters)."""
    sid = new_sid()
    params = callback(sid, "completed", 0, "Fri, 20 Nov 2026 12:31:00 +0000", CallDuration="25")
    url = PATH + "?" + urllib.parse.urlencode(params)
    hdrs = {"X-Twilio-Signature": sign(PUBLIC + url, [])}
    assert_reply(cfstack.http("GET", stack.svc.url(url), None, hdrs), TWIML, "text/xml")
    data = ended(stack, sid)["data"]
    assert data["outcome"] == "answered" and data["talk_seconds"] == 25, data
    assert data["caller"]["e164"] == "+79161234567", data
    # Signed without the query, it is someone else's URL.
    other = new_sid()
    url = PATH + "?" + urllib.parse.urlencode(callback(other, "completed", 0, "x"))
    assert_unauthorized(cfstack.http("GET", stack.svc.url(url), None,
                                     {"X-Twilio-Signature": sign(PUBLIC + PATH, [])}), "no query")


def test_bad_signatures_are_refused_and_nothing_produced(stack):
    sid = new_sid()
    params = callback(sid, "completed", 0, "Fri, 20 Nov 2026 13:01:00 +0000", CallDuration="5")
    other_token = sign(PUBLIC + PATH, params, token="not-the-auth-token")
    other_url = sign("https://elsewhere.test" + PATH, params)
    tampered = [(k, "99" if k == "CallDuration" else v) for k, v in params]
    for label, p, sig in (("other token", params, other_token), ("other url", params, other_url),
                          ("tampered", tampered, sign(PUBLIC + PATH, params)),
                          ("missing", params, None), ("empty", params, "")):
        assert_unauthorized(post(stack, p, signature=sig), label)
    # Garbage, properly signed, is a 400.
    junk = [("hello", "world")]
    st, _, body = post(stack, junk)
    assert st == 400, (st, body)
    # A good callback afterwards proves the topic readable; the refused call is not on it.
    good = new_sid()
    assert post(stack, callback(good, "busy", 0, "Fri, 20 Nov 2026 13:02:00 +0000"))[0] == 200
    ended(stack, good)
    assert_nothing_on_raw(stack, sid)


def test_timestamp_spelt_out_is_read_not_refused(stack):
    """Twilio's published callbacks write months out or in four letters
    ("July", "Sept"): read as the time they name. A Timestamp that still
    does not parse is not a 400 (Twilio would not retry it and the call would
    be lost): the callback is dated by its arrival and counted."""
    sid = new_sid()
    params = callback(sid, "completed", 0, "Sun, 20 Sept 2026 09:01:00 +0000", CallDuration="30")
    assert_reply(post(stack, params), TWIML, "text/xml")
    data = ended(stack, sid)["data"]
    assert data["ended_at"] == "2026-09-20T09:01:00.000Z", data
    assert data["answered_at"] == "2026-09-20T09:00:30.000Z" and data["talk_seconds"] == 30, data

    counted = 'clinicflow_calls_hooks_amended_total{provider="twilio",reason="timestamp_unparsed"}'
    before = metric(stack.svc, counted)
    sid = new_sid()
    sent = datetime.now(timezone.utc)
    params = callback(sid, "completed", 0, "Sunday the 20th", CallDuration="12")
    assert_reply(post(stack, params), TWIML, "text/xml")
    data = ended(stack, sid)["data"]
    got = datetime.strptime(data["ended_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((got - sent).total_seconds()) < 30, (data, sent)
    assert data["outcome"] == "answered" and data["talk_seconds"] == 12, data
    assert metric(stack.svc, counted) == before + 1


if __name__ == "__main__":
    run_provider_tests((
        test_lone_completed_is_a_full_answered_call, test_every_progress_event,
        test_missed_call, test_staff_missed_call_behind_a_greeting,
        test_staff_answered_call_behind_a_greeting,
        test_staff_leg_reported_after_the_end_does_not_close_a_task,
        test_staff_leg_never_reported_is_missed, test_retry_is_the_same_event,
        test_callback_by_get, test_bad_signatures_are_refused_and_nothing_produced,
        test_timestamp_spelt_out_is_read_not_refused,
    ), extra_env={**FIXED_DATES_ENV, "CLINICFLOW_CALLS_PUBLIC_BASE_URL": PUBLIC,
                  # long enough for a test's dial action, short enough to wait for
                  "CLINICFLOW_CALLS_STAFF_LEG_WAIT_S": "8",
                  "CLINICFLOW_CALLS_SWEEP_INTERVAL_MS": "500"})
