"""Sipuni "События на АТС" end to end: URL-encoded events (POST form and GET
query, as Sipuni sends either) on /v1/hooks/calls/sipuni/demo-sipuni with the
channel's URL token, through calls.raw and the fold to calls.v1. Payloads
follow the fields of doc.sipuni.com "Отправка событий HTTP" and captured
traffic (tests/unit/calls_adapters/test_sipuni.c names the sources)."""
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

import cfstack
from common import (FIXED_DATES_ENV, assert_reply, metric, assert_unauthorized, call_types, contact_key, demo_channel,
                    hook_path, post_form, raw_facts, run_provider_tests, wait_call_event,
                    wait_task, wait_until)

CHANNEL = "demo-sipuni"
T0 = 1763629200  # 2025-11-20T09:00:00Z
TOKEN = demo_channel(CHANNEL)["credentials"]["url_token"]


def send(stack, params, token=TOKEN, method="POST"):
    """One Sipuni event; returns (status, headers, body)."""
    path = hook_path("sipuni", CHANNEL, token=token)
    if method == "GET":
        data = urllib.parse.urlencode(params)
        return cfstack.http("GET", stack.svc.url(path + ("&" if token is not None else "?") + data))
    return post_form(stack, path, params)


def facts_of(stack, call_key):
    """The calls.raw facts of one Sipuni call."""
    return raw_facts(stack, "sipuni", call_key)


def assert_success_reply(reply):
    assert_reply(reply, b'{"success":true}', "application/json")


def test_answered_inbound_call(stack):
    call_key = "%d.%d" % (T0, uuid.uuid4().int % 1000000)
    common = {"call_id": call_key, "src_type": "1", "src_num": "79161234567",
              "short_src_num": "79161234567", "user_id": "012345"}
    leg = dict(common, dst_type="2", dst_num="012345201", short_dst_num="201",
               channel="SIP/012345201-0000a1b2")
    events = [
        ("POST", dict(leg, event="1", timestamp=str(T0), treeName="Входящая",
                      treeNumber="000-123456")),
        # Sipuni repeats event 1 a second later: the same leg, the same event
        ("GET", dict(leg, event="1", timestamp=str(T0 + 1))),
        ("POST", dict(leg, event="3", timestamp=str(T0 + 8))),
        ("POST", dict(common, event="2", dst_type="1", dst_num="74950000205_id265648",
                      short_dst_num="74950000205_id265648", pbxdstnum="74950000205",
                      status="ANSWER", call_start_timestamp=str(T0),
                      call_answer_timestamp=str(T0 + 8), timestamp=str(T0 + 60),
                      last_called="201", transfer_from="",
                      call_record_link="https://sipuni.com/api/crm/record?id=%s&hash=ab12"
                      % call_key)),
    ]
    for method, params in events:
        assert_success_reply(send(stack, params, method=method))

    wait_until(lambda: len(facts_of(stack, call_key)) == 4, 30, "4 facts on calls.raw")
    facts = facts_of(stack, call_key)
    call_uuid = facts[0]["subject"]
    assert {f["subject"] for f in facts} == {call_uuid}
    assert len({f["id"] for f in facts}) == 3, facts  # the repeated event 1 has one id
    assert all(f["type"] == "clinicflow.call.reported" for f in facts)
    assert facts[-1]["clinicid"] == "demo-south", facts[-1]

    data = wait_call_event(stack, "clinicflow.call.ended", call_uuid)[0]["data"]
    assert data["status"] == "ended" and data["outcome"] == "answered", data
    assert data["direction"] == "inbound", data
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["called"]["e164"] == "+74950000205", data["called"]
    assert data["contact_key"] == contact_key("+79161234567")
    assert data["started_at"] == "2025-11-20T09:00:00.000Z", data
    assert data["answered_at"] == "2025-11-20T09:00:08.000Z", data
    assert data["ended_at"] == "2025-11-20T09:01:00.000Z", data
    assert data["ring_seconds"] == 8 and data["talk_seconds"] == 52, data
    assert data["targeted"] is True, data
    assert data["agent_id"] == "201", data
    assert data["recording_url"].startswith("https://sipuni.com/api/crm/record?id="), data
    types = call_types(stack, call_uuid)
    assert types[0] == "clinicflow.call.started" and "clinicflow.call.ended" in types, types


def test_missed_inbound_call(stack):
    call_key = "%d.%d" % (T0 + 100, uuid.uuid4().int % 1000000)
    assert_success_reply(send(stack, {
        "event": "2", "call_id": call_key, "src_type": "1", "src_num": "79161234567",
        "dst_type": "1", "dst_num": "74950000205_id265648", "pbxdstnum": "74950000205",
        "status": "NOANSWER", "call_start_timestamp": str(T0 + 100),
        # set on unanswered calls too: must not count as an answer
        "call_answer_timestamp": str(T0 + 100), "timestamp": str(T0 + 125)}, method="GET"))
    wait_until(lambda: facts_of(stack, call_key), 30, "the fact on calls.raw")
    data = wait_call_event(stack, "clinicflow.call.ended",
                           facts_of(stack, call_key)[0]["subject"])[0]["data"]
    assert data["outcome"] == "missed", data
    assert "answered_at" not in data and data["ring_seconds"] == 25, data


def test_a_start_naming_the_extension_alone_leaves_the_clinic_to_the_number(stack):
    """A channel serving two clinics: its numbers map +74950000205 to the
    North, its own clinic (the default) is the South. Sipuni's event 1
    names only the extension, so it takes the default; the hangup names the
    number dialled (pbxdstnum): the call is the North's, and so is its
    callback task (it was the South's: the first clinic stuck)."""
    doc = cfstack.demo_network()
    for ch in doc["channels"]:
        if ch["id"] == CHANNEL:
            ch["numbers"] = {"+74950000205": "demo-north"}
    try:
        cfstack.apply_network_and_wait(stack.dsn, doc, [stack.svc])
        call_key = "%d.%d" % (T0 + 200, uuid.uuid4().int % 1000000)
        common = {"call_id": call_key, "src_type": "1", "src_num": "79161234599",
                  "short_src_num": "79161234599", "user_id": "012345"}
        assert_success_reply(send(stack, dict(common, event="1", dst_type="2",
                                              dst_num="012345201", short_dst_num="201",
                                              timestamp=str(T0 + 200))))
        wait_until(lambda: facts_of(stack, call_key), 30, "event 1 on calls.raw")
        first = facts_of(stack, call_key)[0]
        assert first["clinicid"] == "demo-south" and first["data"]["clinic_by_channel"], first
        started = wait_call_event(stack, "clinicflow.call.started", first["subject"])[0]["data"]
        assert started["clinic_id"] == "demo-south" and "clinic_by_channel" not in started
        assert_success_reply(send(stack, dict(
            common, event="2", dst_type="1", dst_num="74950000205_id265648",
            pbxdstnum="74950000205", status="NOANSWER", call_start_timestamp=str(T0 + 200),
            timestamp=str(T0 + 230))))
        ended = wait_call_event(stack, "clinicflow.call.ended", first["subject"])[0]["data"]
        assert ended["clinic_id"] == "demo-north" and ended["outcome"] == "missed", ended
        task = wait_task(stack, contact_key("+79161234599"), "clinicflow.task.opened")
        assert task["data"]["clinic_id"] == "demo-north", task
    finally:
        cfstack.apply_network(stack.dsn, cfstack.demo_network())


def test_wrong_or_missing_token_is_refused(stack):
    call_key = "bad-" + uuid.uuid4().hex[:10]
    params = {"event": "2", "call_id": call_key, "src_type": "1", "src_num": "79161234567",
              "dst_type": "1", "dst_num": "74950000205", "status": "ANSWER",
              "timestamp": str(T0)}
    for token in ("not-the-token", "", None):
        for method in ("POST", "GET"):
            assert_unauthorized(send(stack, params, token=token, method=method), (token, method))
    # the token in the form body is not the URL's
    st, _, _ = send(stack, dict(params, token=TOKEN), token=None)
    assert st == 401
    # garbage with the right token is a 400
    st, _, body = send(stack, {"event": "two", "call_id": call_key, "timestamp": "x"})
    assert st == 400, (st, body)
    # a good event afterwards proves the topic was readable; no bad one is on it
    good = "good-" + uuid.uuid4().hex[:10]
    assert_success_reply(send(stack, dict(params, call_id=good)))
    wait_until(lambda: facts_of(stack, good), 30, "the good fact on calls.raw")
    assert facts_of(stack, call_key) == []


def test_settings_check_is_acknowledged(stack):
    # Sipuni calls the URL without call fields when the settings are saved
    assert_success_reply(cfstack.http(
        "GET", stack.svc.url("/v1/hooks/calls/sipuni/%s?token=%s" % (CHANNEL, TOKEN))))


def test_answered_without_answer_time_has_no_guessed_ring(stack):
    """A hang-up event with status=ANSWER and no call_answer_timestamp (Sipuni
    leaves it out at times): answered, but when is unknown, so neither the
    ring nor the talk time is known; the call's whole length is not ring."""
    call_key = "%d.%d" % (T0, uuid.uuid4().int % 1000000)
    assert_success_reply(send(stack, {
        "event": "2", "call_id": call_key, "src_type": "1", "src_num": "79161234567",
        "dst_type": "1", "dst_num": "74950000205", "pbxdstnum": "74950000205",
        "status": "ANSWER", "call_start_timestamp": str(T0), "timestamp": str(T0 + 192),
        "last_called": "201"}))
    wait_until(lambda: facts_of(stack, call_key), 30, "the fact on calls.raw")
    data = wait_call_event(stack, "clinicflow.call.ended",
                           facts_of(stack, call_key)[0]["subject"])[0]["data"]
    assert data["outcome"] == "answered", data
    assert "ring_seconds" not in data and "talk_seconds" not in data, data
    assert "answered_at" not in data, data


def test_body_cut_short_is_kept_without_its_1970_time(stack):
    """A hang-up event whose body was cut short ("timestamp=17" instead of
    ten digits) reads as a call that ended in 1970. Sipuni may stop sending
    after an error reply, so it is not refused: the end becomes the arrival
    and the amendment is counted; no 1970 time is folded."""
    counted = 'clinicflow_calls_hooks_amended_total{provider="sipuni",reason="time_out_of_bounds"}'
    before = metric(stack.svc, counted)
    now = int(time.time())
    call_key = "%d.%d" % (now, uuid.uuid4().int % 1000000)
    assert_success_reply(send(stack, {
        "event": "2", "call_id": call_key, "src_type": "1", "src_num": "79161234567",
        "dst_type": "1", "dst_num": "74950000205", "pbxdstnum": "74950000205",
        "status": "NOANSWER", "call_start_timestamp": str(now - 40), "timestamp": "17"}))
    wait_until(lambda: facts_of(stack, call_key), 30, "the fact on calls.raw")
    data = wait_call_event(stack, "clinicflow.call.ended",
                           facts_of(stack, call_key)[0]["subject"])[0]["data"]
    ended = datetime.strptime(data["ended_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()
    assert abs(ended - now) < 30, data
    assert data["outcome"] == "missed" and 40 <= data["ring_seconds"] < 70, data
    assert metric(stack.svc, counted) == before + 1


if __name__ == "__main__":
    run_provider_tests((
        test_answered_inbound_call, test_missed_inbound_call,
        test_a_start_naming_the_extension_alone_leaves_the_clinic_to_the_number,
        test_wrong_or_missing_token_is_refused, test_settings_check_is_acknowledged,
        test_answered_without_answer_time_has_no_guessed_ring,
        test_body_cut_short_is_kept_without_its_1970_time,
    ), extra_env=FIXED_DATES_ENV)
