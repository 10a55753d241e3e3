"""Asterisk CDR posts end to end, as the dialplan snippet at the top of
services/calls/providers/asterisk.c sends them: form posts to
/v1/hooks/calls/asterisk/demo-asterisk?token=..., PBX local times in the
channel's zone (Europe/Moscow, UTC+3), the fold's call.* on calls.v1."""
import json
import time
import urllib.parse
import uuid

import cfstack

from common import (FIXED_DATES_ENV, RAW, assert_nothing_on_raw, assert_reply, assert_unauthorized,
                    call_types, call_uuid, contact_key, demo_channel, events_for, hook_path, metric,
                    post_form, run_provider_tests, wait_call_event, wait_task)


def token():
    return demo_channel("demo-asterisk")["credentials"]["url_token"]


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
    # What func_curl sends with post data: a form body.
    return post_form(stack, hook_path("asterisk", "demo-asterisk",
                                      token=token() if tok == "ok" else tok), params)


def wait_event(stack, lid, etype):
    """The call's last etype on calls.v1, once there."""
    return wait_call_event(stack, etype, call_uuid("asterisk", lid))[-1]


def test_answered_inbound_call(stack):
    lid = new_linkedid()
    assert_reply(post(stack, cdr(lid)), b"OK", "text/plain")

    data = wait_event(stack, lid, "clinicflow.call.ended")["data"]
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


def test_values_longer_than_the_schema_keeps(stack):
    """A dialplan may post longer values than the events keep (a SIP URI as
    the caller, a long agent name, a signed recording link): the events
    stay valid (every message read here is checked against proto/), cut in
    characters, the link left out rather than cut. A call id that long is
    no PBX's: it is refused, and nothing is produced."""
    lid = new_linkedid()
    src = "sip:" + "регистратура" * 30 + "@pbx.clinic.test"
    agent = "Оператор " * 20
    link = "https://pbx.clinic.test/rec/" + "a" * 3000 + ".mp3"
    assert_reply(post(stack, cdr(lid, src=src, agent=agent, recording_url=link)), b"OK")
    data = wait_event(stack, lid, "clinicflow.call.ended")["data"]
    assert data["caller"] == {"raw": src[:256], "kind": "invalid"}, data["caller"]
    assert data["agent_id"] == agent[:128], data
    assert "recording_url" not in data, data

    long_lid = new_linkedid() + "-" + "x" * 300
    st, _, body = post(stack, cdr(long_lid))
    assert st == 400 and json.loads(body)["error"]["code"] == "invalid_field", (st, body)
    stack.wait_folded()
    assert_nothing_on_raw(stack, long_lid[:40])


def test_live_answer_then_cdr(stack):
    lid = new_linkedid()
    live = {"event": "answered", "direction": "inbound", "linkedid": lid, "src": "89161234567",
            "dst": "74950000202", "did": "74950000202", "time": "2026-11-20 12:00:08"}
    assert_reply(post(stack, live), b"OK")
    cid = call_uuid("asterisk", lid)
    wait_event(stack, lid, "clinicflow.call.answered")
    assert post(stack, cdr(lid))[0] == 200
    data = wait_event(stack, lid, "clinicflow.call.ended")["data"]
    assert data["outcome"] == "answered" and data["talk_seconds"] == 52, data
    # The same CDR posted again is the same event: no second call.ended.
    assert post(stack, cdr(lid))[0] == 200
    stack.wait_folded()
    types = call_types(stack, cid)
    assert types == ["clinicflow.call.answered", "clinicflow.call.ended"], types
    facts = events_for(stack.reader(RAW).read(), cid)
    assert len(facts) == 3 and facts[1]["id"] == facts[2]["id"], facts


def test_missed_call(stack):
    lid = new_linkedid()
    st, _, body = post(stack, cdr(lid, disposition="NO ANSWER", duration="25", billsec="0",
                                  answer="", end="2026-11-20 12:00:25", agent=""))
    assert st == 200, (st, body)
    data = wait_event(stack, lid, "clinicflow.call.ended")["data"]
    assert data["outcome"] == "missed" and data["ring_seconds"] == 25, data
    assert "answered_at" not in data, data


def test_call_that_fell_to_voicemail_opens_a_callback(stack):
    """Reception did not answer and the dialplan went on to VoiceMail(),
    which answered: the CDR (the channel's last record) says ANSWERED, the
    Dial's status NOANSWER. The call is voicemail, a missed call, and opens
    a callback task."""
    lid = new_linkedid()
    caller = "8916%07d" % (uuid.uuid4().int % 10 ** 7)
    end = time.time() - 60
    st, _, body = post(stack, cdr(lid, src=caller, duration="75", billsec="45",
                                  start="%.6f" % (end - 75), answer="%.6f" % (end - 45),
                                  end="%.6f" % end, agent="", dialstatus="NOANSWER",
                                  answeredtime=""))
    assert st == 200, (st, body)
    data = wait_event(stack, lid, "clinicflow.call.ended")["data"]
    assert data["outcome"] == "voicemail" and data["talk_seconds"] == 0, data
    assert "answered_at" not in data and not data["targeted"], data
    opened = wait_task(stack, contact_key("+7" + caller[1:]), "clinicflow.task.opened",
                       timeout=30)
    assert opened["data"]["source_call_id"] == call_uuid("asterisk", lid), opened


def test_bad_token_is_refused_and_nothing_produced(stack):
    lid = new_linkedid()
    for label, tok in (("wrong", "not-the-token"), ("missing", None), ("empty", "")):
        assert_unauthorized(post(stack, cdr(lid), tok=tok), label)
    # Garbage with the right token is a 400.
    st, _, body = post(stack, {"hello": "world"})
    assert st == 400, (st, body)
    good = new_linkedid()
    assert post(stack, cdr(good))[0] == 200
    wait_event(stack, good, "clinicflow.call.ended")
    assert_nothing_on_raw(stack, lid)


def test_malformed_form_is_refused(stack):
    """Every provider's form and query go through one strict decoder
    (common/form.c): a '%' without two hex digits after it is a 400, not a
    literal, and a form with more fields than CLINICFLOW_HTTP_MAX_FORM_FIELDS
    (1000) a 413, before anything is produced."""
    lid = new_linkedid()
    path = hook_path("asterisk", "demo-asterisk", token=token())
    form = urllib.parse.urlencode(cdr(lid))
    for label, url, body, status, code in (
            ("body", path, form + "&agent=100%", 400, "invalid_field"),
            ("query", path + "&x=%G1", form, 400, "invalid_field"),
            ("fields", path, form + "&x=1" * 1000, 413, "too_many_fields")):
        st, _, got = cfstack.http("POST", stack.svc.url(url), body,
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        assert st == status and json.loads(got)["error"]["code"] == code, (label, st, got)
    good = new_linkedid()
    assert post(stack, cdr(good, agent="100%"))[0] == 200  # encoded, the '%' is data
    assert wait_event(stack, good, "clinicflow.call.ended")["data"]["agent_id"] == "100%"
    assert_nothing_on_raw(stack, lid)


def test_times_out_of_bounds_are_refused(stack):
    """A CDR whose times are far ahead of the arrival (a PBX clock gone
    wrong), or whose talk time is over a day, is refused with a 400 that
    names the field (the dialplan's loop retries, then the owner sees it),
    counted, and nothing reaches the topic or the fold."""
    refused = 'clinicflow_calls_hooks_refused_total{reason="time"}'
    before = metric(stack.svc, refused)
    now = int(time.time())
    ahead, long_talk = new_linkedid(), new_linkedid()
    st, _, body = post(stack, cdr(ahead, start=str(now + 7200), answer=str(now + 7208),
                                  end=str(now + 7260)))
    assert st == 400, (st, body)
    err = json.loads(body)["error"]
    assert err["code"] == "invalid_field" and err["field"] == "time", err
    st, _, body = post(stack, cdr(long_talk, start=str(now - 90060), answer=str(now - 90000),
                                  end=str(now), duration="90060", billsec="90000"))
    assert st == 400, (st, body)
    assert json.loads(body)["error"]["field"] in ("started_at", "talk_seconds"), body
    assert metric(stack.svc, refused) == before + 2
    good = new_linkedid()
    assert post(stack, cdr(good))[0] == 200
    wait_event(stack, good, "clinicflow.call.ended")
    assert_nothing_on_raw(stack, ahead)
    assert_nothing_on_raw(stack, long_talk)


if __name__ == "__main__":
    run_provider_tests((
        test_answered_inbound_call, test_values_longer_than_the_schema_keeps,
        test_live_answer_then_cdr, test_missed_call,
        test_call_that_fell_to_voicemail_opens_a_callback,
        test_bad_token_is_refused_and_nothing_produced, test_malformed_form_is_refused,
        test_times_out_of_bounds_are_refused,
    ), extra_env=FIXED_DATES_ENV)
