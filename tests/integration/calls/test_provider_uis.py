"""UIS / CoMagic notifications end to end: JSON bodies written from the
customer's templates, POSTed to /v1/hooks/calls/uis/demo-uis with the
channel's URL token, mapped by the demo channel's field_map (and the
adapter's defaults for the names it leaves out), through calls.raw and the
fold to calls.v1. Template variables as in UIS's notification set-up
(each fixture in tests/fixtures/calls/uis/ names its source)."""
import uuid

from common import (FIXED_DATES_ENV, CALLS, assert_nothing_on_raw, assert_reply, assert_unauthorized, call_types,
                    contact_key, demo_channel, events_for, hook_path, metric, post_json, raw_facts,
                    run_provider_tests, tasks_of, wait_call_event, wait_consumed, wait_task,
                    wait_until)

CHANNEL = "demo-uis"
TOKEN = demo_channel(CHANNEL)["credentials"]["url_token"]


def send(stack, body, token=TOKEN):
    return post_json(stack, hook_path("uis", CHANNEL, token=token), body)


def facts_of(stack, call_key):
    return raw_facts(stack, "uis", call_key)


def test_answered_inbound_call(stack):
    session = 990000000 + uuid.uuid4().int % 1000000  # UIS sends it unquoted
    base = {"virtual_phone_number": "74990000301", "contact_phone_number": "79161234567",
            "call_session_id": session, "external_id": None, "contact_id": None}
    notes = [
        dict(base, notification_name="Входящий звонок на виртуальный номер",
             notification_mnemonic=None, notification_time="2026-11-20 12:00:00.104",
             scenario_name="Клиника Юг", communication_number=1),
        dict(base, notification_name="Начало разговора", notification_mnemonic=None,
             notification_time="2026-11-20 12:00:08.020", employee_full_name="Регистратура 1",
             employee_id=323409, call_source="va", direction="in", leg_ids=[1, 2]),
        dict(base, notification_name="Завершение звонка", notification_mnemonic=None,
             notification_time="2026-11-20 12:01:00.234", employee_full_name="Регистратура 1",
             employee_id=323409, call_source="va", direction="in",
             start_time="2026-11-20 12:00:00", talk_time_duration=52, total_time_duration=60,
             wait_time_duration=8, tag_names=None, brand_new_variable={"x": [1]}),
        dict(base, notification_name="Запись разговора", notification_mnemonic=None,
             notification_time="2026-11-20 12:01:30", employee_id=323409,
             file_link="https://app.uiscom.ru/system/media/talk/%d/abc/" % session,
             file_duration=52),
    ]
    for note in notes:
        assert_reply(send(stack, note))

    key = str(session)
    wait_until(lambda: len(facts_of(stack, key)) == 4, 30, "4 facts on calls.raw")
    facts = facts_of(stack, key)
    call_uuid = facts[0]["subject"]
    assert {f["subject"] for f in facts} == {call_uuid}
    assert [f["data"]["provider_event_id"] for f in facts] == [
        key + ":started", key + ":answered", key + ":ended", key + ":recording"], facts
    assert facts[0]["clinicid"] == "demo-south", facts[0]

    wait_until(lambda: "clinicflow.call.updated" in call_types(stack, call_uuid), 30,
               "call.updated (the recording)")
    data = wait_call_event(stack, "clinicflow.call.ended", call_uuid)[0]["data"]
    assert data["status"] == "ended" and data["outcome"] == "answered", data
    assert data["direction"] == "inbound"
    assert data["caller"]["e164"] == "+79161234567", data["caller"]
    assert data["called"]["e164"] == "+74990000301", data["called"]
    assert data["contact_key"] == contact_key("+79161234567")
    # the account's wall-clock time (Moscow) in UTC
    assert data["started_at"] == "2026-11-20T09:00:00.000Z", data
    assert data["answered_at"] == "2026-11-20T09:00:08.000Z", data
    assert data["ended_at"] == "2026-11-20T09:01:00.000Z", data
    assert data["talk_seconds"] == 52 and data["ring_seconds"] == 8, data
    assert data["agent_id"] == "323409", data
    last = [e for e in events_for(stack.reader(CALLS).read(), call_uuid)][-1]["data"]
    assert last["recording_url"].startswith("https://app.uiscom.ru/"), last


def test_lost_call(stack):
    session = 980000000 + uuid.uuid4().int % 1000000
    assert_reply(send(stack, {
        "notification_name": "Потерянный звонок", "notification_mnemonic": None,
        "virtual_phone_number": "74990000302", "notification_time": "2026-11-20 13:00:25",
        "wait_time_duration": 25, "employee_ids": [323409],
        "contact_phone_number": "79161234567", "call_session_id": session}))
    wait_until(lambda: facts_of(stack, str(session)), 30, "the fact on calls.raw")
    data = wait_call_event(stack, "clinicflow.call.ended",
                           facts_of(stack, str(session))[0]["subject"])[0]["data"]
    assert data["outcome"] == "missed" and data["ring_seconds"] == 25, data


def test_wrong_or_missing_token_is_refused(stack):
    session = 970000000 + uuid.uuid4().int % 1000000
    note = {"notification_name": "Завершение звонка", "direction": "in",
            "call_session_id": session, "contact_phone_number": "79161234567",
            "virtual_phone_number": "74990000301", "notification_time": "2026-11-20 12:01:00",
            "talk_time_duration": 10}
    for token in ("not-the-token", "", None):
        assert_unauthorized(send(stack, note, token=token), token)
    st, _, body = send(stack, b"{not json")
    assert st == 400, (st, body)
    good = 960000000 + uuid.uuid4().int % 1000000
    assert_reply(send(stack, dict(note, call_session_id=good)))
    wait_until(lambda: facts_of(stack, str(good)), 30, "the good fact on calls.raw")
    assert facts_of(stack, str(session)) == []


def test_end_with_talk_and_no_answer_time(stack):
    """A call-end notification with the talk length but no answer time (the
    template of UIS's "Завершение звонка" carries talk_time_duration, not
    the answer moment): a 192 s call that talked 120 s was answered at the
    end minus the talk and rang 72 s, not 192."""
    session = 930000000 + uuid.uuid4().int % 1000000
    assert_reply(send(stack, {
        "notification_name": "Завершение звонка", "notification_mnemonic": None,
        "direction": "in", "call_session_id": session, "contact_phone_number": "79161234567",
        "virtual_phone_number": "74990000301", "start_time": "2026-11-20 12:00:00",
        "notification_time": "2026-11-20 12:03:12", "talk_time_duration": 120,
        "total_time_duration": 192}))
    wait_until(lambda: facts_of(stack, str(session)), 30, "the fact on calls.raw")
    data = wait_call_event(stack, "clinicflow.call.ended",
                           facts_of(stack, str(session))[0]["subject"])[0]["data"]
    assert data["outcome"] == "answered", data
    assert data["answered_at"] == "2026-11-20T09:01:12.000Z", data
    assert data["ring_seconds"] == 72 and data["talk_seconds"] == 120, data


def test_end_without_duration_is_not_missed(stack):
    """A "Завершение звонка" template without durations or answer time (the
    variables an integrator's published template sends: no talk length) says
    nothing of how the call went: the call ends with no outcome and opens no
    callback task. UIS's lost-call notification about the same call is the
    fact that says missed, and then the task opens."""
    session = 920000000 + uuid.uuid4().int % 1000000
    caller = "7916%07d" % (uuid.uuid4().int % 10 ** 7)
    base = {"call_session_id": session, "contact_phone_number": caller,
            "virtual_phone_number": "74990000301", "direction": "in",
            "notification_mnemonic": None}
    assert_reply(send(stack, dict(base, notification_name="Завершение звонка",
                                  start_time="2026-11-20 12:00:00",
                                  notification_time="2026-11-20 12:00:40",
                                  call_source="va", is_internal=False)))
    wait_until(lambda: facts_of(stack, str(session)), 30, "the fact on calls.raw")
    call = facts_of(stack, str(session))[0]["subject"]
    data = wait_call_event(stack, "clinicflow.call.ended", call)[0]["data"]
    assert "outcome" not in data and "ring_seconds" not in data, data
    assert data["targeted"] is False, data
    stack.wait_folded()
    wait_consumed(stack, "clinicflow-calls-tasks", CALLS)
    ckey = contact_key("+" + caller)
    assert tasks_of(stack, ckey) == [], tasks_of(stack, ckey)

    assert_reply(send(stack, dict(base, notification_name="Потерянный звонок",
                                  notification_time="2026-11-20 12:00:40",
                                  wait_time_duration=40)))
    opened = wait_task(stack, ckey, "clinicflow.task.opened", timeout=30)
    assert opened["data"]["source_call_id"] == call, opened


def test_unknown_wording_is_counted_not_silent(stack):
    """A notification whose name matches no rule (a template in another
    wording) is still answered 200, so UIS does not give up on the URL, but
    it is counted by provider and reason, not dropped unseen."""
    ignored = 'clinicflow_calls_hooks_ignored_total{provider="uis",reason="unknown_event"}'
    before = metric(stack.svc, ignored)
    session = 950000000 + uuid.uuid4().int % 1000000
    assert_reply(send(stack, {
        "notification_name": "Звонок окончен", "notification_mnemonic": None,
        "call_session_id": session, "contact_phone_number": "79161234567",
        "virtual_phone_number": "74990000301", "notification_time": "2026-11-20 12:01:00",
        "talk_time_duration": 10}))
    assert metric(stack.svc, ignored) == before + 1
    # a recorded one afterwards proves the topic readable; the ignored one is not on it
    good = 940000000 + uuid.uuid4().int % 1000000
    assert_reply(send(stack, {
        "notification_name": "Потерянный звонок", "call_session_id": good,
        "contact_phone_number": "79161234567", "virtual_phone_number": "74990000301",
        "notification_time": "2026-11-20 12:02:00", "wait_time_duration": 5}))
    wait_until(lambda: facts_of(stack, str(good)), 30, "the recorded fact on calls.raw")
    assert_nothing_on_raw(stack, str(session))
    assert metric(stack.svc, ignored) == before + 1


if __name__ == "__main__":
    run_provider_tests((
        test_answered_inbound_call, test_lost_call, test_wrong_or_missing_token_is_refused,
        test_unknown_wording_is_counted_not_silent, test_end_with_talk_and_no_answer_time,
        test_end_without_duration_is_not_missed,
    ), extra_env=FIXED_DATES_ENV)
