"""The agent group of answered calls, per provider: the network's "agents"
map (provider and the agent id the provider reports: Mango extension,
Zadarma internal number, Sipuni extension, UIS employee_id, Asterisk's
CF_AGENT, the generic route's agent_id, the client identity a Twilio
staff leg rang) and its "staff_numbers" map (a call forwarded to a staff
phone: Mango's to.number, Zadarma's destination, a Twilio staff leg's To)
give call.ended on clinicflow.calls.v1 its
agent_group; a group the provider reports itself (Asterisk, the generic
route) wins; an agent the maps do not know gets none.

The maps are the demo network's (deploy/local/demo-network.json). Payloads
are the shapes of test_provider_*.py, signed the same way: Mango's
sha256(key + json + salt), Zadarma's base64(hex HMAC-SHA1), Twilio's
base64(HMAC-SHA1) over the public URL and the sorted parameters, URL tokens
for Sipuni, UIS and Asterisk, an ingest key for the generic route.
"""
import base64
import datetime
import email.utils
import hashlib
import hmac
import json
import uuid
import zoneinfo

import cfstack
from common import (FIXED_DATES_ENV, assert_reply, call_body, call_uuid, demo_channel,
                    demo_network, hook_path, post_form, post_json, run_provider_tests,
                    wait_call_event)


def group_of(agent_provider, agent_id):
    """The demo map's group of a network-wide or clinic agent (a check on
    the demo file the test relies on, so a changed file fails here)."""
    groups = {a["group"] for a in demo_network()["agents"]
              if a["provider"] == agent_provider and a["id"] == agent_id}
    assert len(groups) == 1, (agent_provider, agent_id, groups)
    return groups.pop()


def ended_data(stack, subject):
    return wait_call_event(stack, "clinicflow.call.ended", subject)[-1]["data"]


# --- Mango: the answered leg's and the summary's to.extension ---

def mango_post(stack, sub, payload):
    cred = demo_channel("demo-mango")["credentials"]
    body_json = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    sign = hashlib.sha256((cred["vpbx_api_key"] + body_json + cred["vpbx_api_salt"])
                          .encode()).hexdigest()
    return post_form(stack, hook_path("mango", "demo-mango", sub),
                     {"vpbx_api_key": cred["vpbx_api_key"], "sign": sign, "json": body_json})


def test_mango(stack):
    for ext in ("101", "201"):
        entry = "MjA5NDE0NzQ4Mzo" + uuid.uuid4().hex[:10] + "=="
        t0 = 1795165200
        caller = {"number": "79161234567"}
        leg = {"entry_id": entry, "call_id": entry + "-2", "timestamp": t0 + 8, "seq": 1,
               "call_state": "Connected", "location": "abonent", "from": caller,
               "to": {"extension": ext, "number": "sip:user3@vpbx400210093.mangosip.ru",
                      "line_number": "74950000301"}}
        summary = {"entry_id": entry, "call_direction": 1, "from": caller,
                   "to": {"extension": ext, "number": "sip:user3@vpbx400210093.mangosip.ru"},
                   "line_number": "74950000301", "create_time": t0, "talk_time": t0 + 8,
                   "end_time": t0 + 60, "entry_result": 1}
        assert_reply(mango_post(stack, "/events/call", leg))
        assert_reply(mango_post(stack, "/events/summary", summary))
        data = ended_data(stack, call_uuid("mango", entry))
        assert data["outcome"] == "answered" and data["agent_id"] == ext, data
        assert data["agent_group"] == group_of("mango", ext), data
    assert group_of("mango", "101") == "call_center" and group_of("mango", "201") == "reception"


def staff_group(number, clinic_id):
    """The demo map's group of a staff number for a call of clinic_id."""
    entries = [e for e in demo_network()["staff_numbers"] if e["number"] == number]
    own = [e for e in entries if e.get("clinic_id") == clinic_id]
    shared = [e for e in entries if "clinic_id" not in e]
    assert own or shared, (number, clinic_id)
    return (own or shared)[0]["group"]


def test_mango_forwarded_to_a_phone(stack):
    # The leg forwarded to the Center reception's mobile names only
    # to.number (no extension): that number is the agent, a staff number.
    entry = "MjA5NDE0NzQ4Mzo" + uuid.uuid4().hex[:10] + "=="
    t0 = 1795165200
    caller = {"number": "79161234567"}
    leg = {"entry_id": entry, "call_id": entry + "-3", "timestamp": t0 + 8, "seq": 1,
           "call_state": "Connected", "location": "abonent", "from": caller,
           "to": {"number": "74990000901", "line_number": "74950000301"}}
    summary = {"entry_id": entry, "call_direction": 1, "from": caller,
               "to": {"number": "74990000901"}, "line_number": "74950000301",
               "create_time": t0, "talk_time": t0 + 8, "end_time": t0 + 60, "entry_result": 1}
    assert_reply(mango_post(stack, "/events/call", leg))
    assert_reply(mango_post(stack, "/events/summary", summary))
    data = ended_data(stack, call_uuid("mango", entry))
    assert data["clinic_id"] == "demo-center" and data["agent_id"] == "74990000901", data
    assert data["agent_group"] == staff_group("+74990000901", "demo-center") == "reception", data


# --- Zadarma: NOTIFY_ANSWER's and NOTIFY_END's internal ---

ZD_SIGNED = {"NOTIFY_START": ("caller_id", "called_did", "call_start"),
             "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
             "NOTIFY_END": ("caller_id", "called_did", "call_start")}


def zadarma_post(stack, fields):
    secret = demo_channel("demo-zadarma")["credentials"]["secret"]
    text = "".join(fields.get(k, "") for k in ZD_SIGNED[fields["event"]])
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).hexdigest()
    return post_form(stack, hook_path("zadarma", "demo-zadarma"), fields,
                     headers={"Signature": base64.b64encode(digest.encode()).decode()})


def zadarma_call(stack, internal, destination=None):
    """A call answered by extension internal, or (internal None) by the
    phone destination it was forwarded to."""
    pbx_call_id = "in_" + uuid.uuid4().hex[:16]
    answer_by = {"internal": internal} if internal is not None else {}
    end_by = dict(answer_by)
    tz = zoneinfo.ZoneInfo(demo_channel("demo-zadarma")["timezone"])
    call_start = (datetime.datetime.now(tz) - datetime.timedelta(seconds=5)).strftime(
        "%Y-%m-%d %H:%M:%S")
    base = {"call_start": call_start, "pbx_call_id": pbx_call_id, "caller_id": "79161234567",
            "called_did": "74950000304"}
    for fields in (dict(base, event="NOTIFY_START"),
                   dict({"event": "NOTIFY_ANSWER", "call_start": call_start,
                         "pbx_call_id": pbx_call_id, "caller_id": "79161234567",
                         "destination": destination or internal}, **answer_by),
                   dict(base, event="NOTIFY_END", duration="65", disposition="answered",
                        status_code="16", is_recorded="0", **end_by)):
        assert_reply(zadarma_post(stack, fields), what=fields["event"])
    return ended_data(stack, call_uuid("zadarma", pbx_call_id))


def test_zadarma(stack):
    data = zadarma_call(stack, "101")
    assert data["agent_id"] == "101" and data["agent_group"] == "call_center", data
    data = zadarma_call(stack, "102")
    assert data["agent_id"] == "102" and data["agent_group"] == "reception", data
    # An extension the map does not know: the agent, no group.
    data = zadarma_call(stack, "555")
    assert data["agent_id"] == "555" and "agent_group" not in data, data
    # Forwarded to the call centre's duty phone: no extension answered,
    # destination names the phone, the staff number in its national form.
    data = zadarma_call(stack, None, "84990000902")
    assert data["agent_id"] == "84990000902", data
    assert data["agent_group"] == staff_group("+74990000902", data["clinic_id"]), data
    assert data["agent_group"] == "call_center", data


# --- Sipuni: event 3's short_dst_num, event 2's last_called ---

def sipuni_call(stack, last_called):
    t0 = 1763629200
    call_key = "%d.%d" % (t0, uuid.uuid4().int % 1000000)
    token = demo_channel("demo-sipuni")["credentials"]["url_token"]
    common = {"call_id": call_key, "src_type": "1", "src_num": "79161234567",
              "short_src_num": "79161234567", "user_id": "012345"}
    leg = dict(common, dst_type="2", dst_num="012345201", short_dst_num="201",
               channel="SIP/012345201-0000a1b2")
    for params in (dict(leg, event="1", timestamp=str(t0)),
                   dict(leg, event="3", timestamp=str(t0 + 8)),
                   dict(common, event="2", dst_type="1", dst_num="74950000205_id265648",
                        short_dst_num="74950000205_id265648", pbxdstnum="74950000205",
                        status="ANSWER", call_start_timestamp=str(t0),
                        call_answer_timestamp=str(t0 + 8), timestamp=str(t0 + 60),
                        last_called=last_called)):
        assert_reply(post_form(stack, hook_path("sipuni", "demo-sipuni", token=token), params),
                     b'{"success":true}', "application/json")
    return ended_data(stack, call_uuid("sipuni", call_key))


def test_sipuni(stack):
    # Extension 201 of the South clinic's entry.
    data = sipuni_call(stack, "201")
    assert data["clinic_id"] == "demo-south" and data["agent_id"] == "201", data
    assert data["agent_group"] == "reception", data
    # Rang 201, then the call centre's duty phone took it: the group
    # follows the agent, by the staff number in its national form.
    data = sipuni_call(stack, "201&84990000902")
    assert data["agent_id"] == "84990000902", data
    assert data["agent_group"] == "call_center", data


# --- UIS: employee_id of the customer's template ---

def test_uis(stack):
    token = demo_channel("demo-uis")["credentials"]["url_token"]
    for employee, group in ((323409, "reception"), (323410, "call_center")):
        session = 970000000 + uuid.uuid4().int % 1000000
        base = {"virtual_phone_number": "74990000301", "contact_phone_number": "79161234567",
                "call_session_id": session, "notification_mnemonic": None}
        for note in (dict(base, notification_name="Начало разговора",
                          notification_time="2026-11-20 12:00:08.020", employee_id=employee,
                          direction="in"),
                     dict(base, notification_name="Завершение звонка",
                          notification_time="2026-11-20 12:01:00.234", employee_id=employee,
                          direction="in", start_time="2026-11-20 12:00:00",
                          talk_time_duration=52, total_time_duration=60,
                          wait_time_duration=8)):
            assert_reply(post_json(stack, hook_path("uis", "demo-uis", token=token), note))
        data = ended_data(stack, call_uuid("uis", str(session)))
        assert data["agent_id"] == str(employee) and data["agent_group"] == group, data


# --- Asterisk: CF_AGENT, and CF_AGENT_GROUP when the dialplan sets it ---

def asterisk_call(stack, **over):
    lid = "1795165200.%d" % (uuid.uuid4().int % 100000)
    params = {"event": "hangup", "direction": "inbound", "did": "74950000202",
              "uniqueid": lid, "linkedid": lid, "src": "89161234567", "dst": "reception",
              "disposition": "ANSWERED", "duration": "60", "billsec": "52",
              "start": "2026-11-20 12:00:00", "answer": "2026-11-20 12:00:08",
              "end": "2026-11-20 12:01:00", "agent": "101"}
    params.update(over)
    token = demo_channel("demo-asterisk")["credentials"]["url_token"]
    assert_reply(post_form(stack, hook_path("asterisk", "demo-asterisk", token=token), params),
                 b"OK", "text/plain")
    return ended_data(stack, call_uuid("asterisk", lid))


def test_asterisk(stack):
    # 101 of the North clinic's entry (the DID maps the call there).
    data = asterisk_call(stack)
    assert data["clinic_id"] == "demo-north" and data["agent_id"] == "101", data
    assert data["agent_group"] == "reception", data
    # The dialplan's own group wins over the map.
    data = asterisk_call(stack, agent_group="call_center")
    assert data["agent_group"] == "call_center", data
    # A staff phone the dialplan forwarded to, network-wide entry.
    data = asterisk_call(stack, agent="+7 499 000-09-02")
    assert data["agent_group"] == "call_center", data


# --- Twilio: the To of the staff leg a staff_leg channel's <Dial> rang ---

TWILIO_PUBLIC = "https://calls.clinicflow.test"


def twilio_post(stack, params):
    channel_id = "demo-twilio-reception"
    path = hook_path("twilio", channel_id)
    token = demo_channel(channel_id)["credentials"]["auth_token"]
    data = TWILIO_PUBLIC + path + "".join(k + v for k, v in sorted(params.items()))
    sig = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest())
    return post_form(stack, path, sorted(params.items()), headers={"X-Twilio-Signature":
                                                                   sig.decode()})


def twilio_call(stack, staff_to, called="+74950000201"):
    """A caller Twilio greets, then <Dial>s reception: the dialled leg's
    status callback (its own CallSid, ParentCallSid the caller's call), the
    <Dial action>, the caller's call's completed, as Twilio documents them."""
    sid, leg = "CA" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
    now = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc)
                                      .replace(microsecond=0))
    account = demo_channel("demo-twilio-reception")["credentials"]["account_sid"]
    caller = {"AccountSid": account, "ApiVersion": "2010-04-01", "From": "+79161234567",
              "Caller": "+79161234567", "To": called, "Called": called, "Direction": "inbound"}
    posts = (
        {"AccountSid": account, "ApiVersion": "2010-04-01", "CallSid": leg,
         "ParentCallSid": sid, "CallStatus": "completed", "CallbackSource": "call-progress-events",
         "Direction": "outbound-dial", "From": "+79161234567", "Caller": "+79161234567",
         "To": staff_to, "Called": staff_to, "SequenceNumber": "3", "Timestamp": now,
         "CallDuration": "35", "SipResponseCode": "200"},
        dict(caller, CallSid=sid, CallStatus="in-progress", DialCallSid=leg,
             DialCallStatus="completed", DialCallDuration="35", DialBridged="true"),
        dict(caller, CallSid=sid, CallStatus="completed", CallbackSource="call-progress-events",
             SequenceNumber="0", Timestamp=now, CallDuration="50"))
    for params in posts:
        assert_reply(twilio_post(stack, params),
                     b'<?xml version="1.0" encoding="UTF-8"?><Response/>', "text/xml")
    return ended_data(stack, call_uuid("twilio", sid))


def test_twilio(stack):
    # The Center reception's mobile, a staff number of the channel's clinic.
    data = twilio_call(stack, "+74990000901")
    assert data["clinic_id"] == "demo-center" and data["agent_id"] == "+74990000901", data
    assert data["outcome"] == "answered" and data["caller"]["e164"] == "+79161234567", data
    assert data["agent_group"] == staff_group("+74990000901", "demo-center") == "reception", data
    # A browser phone (<Client>): the identity, from the agents map.
    data = twilio_call(stack, "client:cc_operator_1")
    assert data["agent_id"] == "cc_operator_1", data
    assert data["agent_group"] == group_of("twilio", "cc_operator_1") == "call_center", data


def test_twilio_staff_leg_first_takes_no_clinic(stack):
    # The channel maps the number called to the North; its own clinic is
    # the Center. The staff leg reports first and names no party: the
    # call's clinic is still the one its number maps to.
    doc = cfstack.demo_network()
    for ch in doc["channels"]:
        if ch["id"] == "demo-twilio-reception":
            ch["numbers"] = {"+74950000299": "demo-north"}
    try:
        cfstack.apply_network_and_wait(stack.dsn, doc, [stack.svc])
        data = twilio_call(stack, "client:cc_operator_1", called="+74950000299")
        assert data["clinic_id"] == "demo-north" and data["agent_id"] == "cc_operator_1", data
    finally:
        cfstack.apply_network(stack.dsn, cfstack.demo_network())


# --- the generic route: agent_id, agent_group ---

def generic_call(stack, **over):
    st, _, reply = stack.post_generic(call_body(answered_at="2026-11-20T09:00:05Z",
                                                talk_seconds=30, **over))
    assert st == 202, reply
    return ended_data(stack, json.loads(reply)["call_id"])


def test_generic(stack):
    data = generic_call(stack, agent_id="op-12")
    assert data["agent_group"] == "call_center", data
    data = generic_call(stack, agent_id="op-12", agent_group="reception")
    assert data["agent_group"] == "reception", data
    # The Center's reception mobile: its entry is the Center's (call_body's
    # clinic); the same phone on another clinic's call is no one's.
    data = generic_call(stack, agent_id="8 499 000-09-01")
    assert data["clinic_id"] == "demo-center" and data["agent_group"] == "reception", data
    data = generic_call(stack, agent_id="8 499 000-09-01", clinic_id="demo-north")
    assert "agent_group" not in data, data


if __name__ == "__main__":
    # the payloads carry fixed dates: the route's time bound is widened
    run_provider_tests([test_mango, test_mango_forwarded_to_a_phone, test_zadarma, test_sipuni,
                        test_uis, test_asterisk, test_twilio,
                        test_twilio_staff_leg_first_takes_no_clinic, test_generic],
                       extra_env={**FIXED_DATES_ENV,
                                  "CLINICFLOW_CALLS_PUBLIC_BASE_URL": TWILIO_PUBLIC})
