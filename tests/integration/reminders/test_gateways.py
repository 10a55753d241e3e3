"""Twilio and SMS.ru as reminder gateways, through the public interfaces:
appointments PUT as the MIS sends them; a local stand-in for each
provider's API that implements the documented requests and answers
(Twilio's Calls and Messages resources and their list pages, with basic
auth; SMS.ru's sms/send with its JSON answer) and counts the requests per
send; the callbacks posted to /v1/hooks/reminders/{twilio,smsru}/{channel}
the way the providers post them (form bodies, Twilio's X-Twilio-Signature
over the public callback URL, SMS.ru's data[] lines with the URL's token);
and what follows in reminders.sends, reminder_jobs, appointments,
opt_outs and on clinicflow.reminders.outcomes.v1.

demo-south (round the clock, one reminder two hours ahead, no call
retries) sends through Twilio; demo-center (round the clock, one reminder
two hours ahead) through SMS.ru, which sends no robot calls."""
import base64
import contextlib
import hashlib
import hmac
import http.server
import json
import os
import signal
import threading
import time
import urllib.parse
from email.utils import formatdate

import cfstack
import common
from common import ok
from test_dispatch import patient, window
from test_planning import CENTER, in_s, planning_network, utc

SOUTH = "demo-south"
PUBLIC = "https://reminders.clinic.test"
ACCOUNT, TOKEN, FROM = "AC" + "0" * 31 + "1", "it-twilio-auth-token-0001", "+74950000999"
API_ID, CALLBACK_TOKEN = "it-smsru-api-id-0001", "it-smsru-callback-token-0001"
OUTCOMES = "clinicflow.reminders.outcomes.v1"


class Gateways:
    """Twilio's and SMS.ru's APIs as the service calls them. requests holds
    (kind, send_id or None, fields) of each send; a text containing
    "Hold", or one to a number in hold_to, is answered only after
    release_held is set; one containing "Lose" is held
    too, then dropped unanswered and left out of Twilio's record (a request
    that never reached Twilio's API)."""

    def __init__(self):
        self.requests = []
        self.resources = []  # Twilio's record: what a list page shows
        self.lock = threading.Lock()
        self.release_held = threading.Event()
        self.hold_to = set()
        self.list_fails = False  # Twilio's record unreadable (its list API answers 500)
        self.seq = 0
        gw = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, status, doc):
                raw = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def twilio_auth(self):
                want = "Basic " + base64.b64encode(("%s:%s" % (ACCOUNT, TOKEN)).encode()).decode()
                return self.headers.get("Authorization") == want

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if not self.twilio_auth():
                    return self.answer(401, {"code": 20003, "message": "Authenticate"})
                if gw.list_fails:
                    return self.answer(500, {"code": 20500, "message": "Internal Server Error"})
                kind = "sms" if url.path.endswith("/Messages.json") else "call"
                with gw.lock:
                    items = [r for r in reversed(gw.resources)
                             if r["kind"] == kind and r["to"] == q.get("To")]
                self.answer(200, {"messages" if kind == "sms" else "calls":
                                  [r["doc"] for r in items], "page_size": 50})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fields = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/sms/send":
                    return self.smsru(fields)
                if not self.twilio_auth() or not path.startswith("/2010-04-01/Accounts/%s/"
                                                                  % ACCOUNT):
                    return self.answer(401, {"code": 20003, "message": "Authenticate"})
                kind = "sms" if path.endswith("/Messages.json") else "call"
                callback = fields.get("StatusCallback", "")
                send_id = dict(urllib.parse.parse_qsl(
                    urllib.parse.urlsplit(callback).query)).get("send_id")
                text = fields.get("Body", fields.get("Twiml", ""))
                with gw.lock:
                    gw.seq += 1
                    sid = ("SM" if kind == "sms" else "CA") + "%032x" % gw.seq
                    doc = {"sid": sid, "to": fields.get("To"), "from": FROM,
                           "direction": "outbound-api", "status": "queued",
                           "date_created": formatdate(time.time(), usegmt=True)}
                    if kind == "sms":
                        doc["body"] = fields.get("Body")
                    gw.requests.append((kind, send_id, fields))
                    if "Lose" not in text:
                        gw.resources.append({"kind": kind, "to": fields.get("To"), "doc": doc})
                if "Hold" in text or "Lose" in text or fields.get("To") in gw.hold_to:
                    gw.release_held.wait(60)
                if "Lose" in text:
                    self.close_connection = True
                    return
                self.answer(201, doc)

            def smsru(self, fields):
                with gw.lock:
                    gw.seq += 1
                    sms_id = "000000-%08d" % gw.seq
                    gw.requests.append(("smsru", sms_id, fields))
                if fields.get("api_id") != API_ID:
                    return self.answer(200, {"status": "ERROR", "status_code": 200,
                                             "status_text": "Неправильный api_id"})
                self.answer(200, {"status": "OK", "status_code": 100, "balance": 42.5, "sms": {
                    fields["to"]: {"status": "OK", "status_code": 100, "sms_id": sms_id}}})

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def of(self, kind, to):
        with self.lock:
            return [r for r in self.requests if r[0] == kind and r[2].get("to", r[2].get("To"))
                    in (to, to.lstrip("+"))]

    def close(self):
        self.release_held.set()
        self.server.shutdown()


def gateways_network(url):
    doc = planning_network()
    for c in doc["clinics"]:
        if c["id"] in (SOUTH, CENTER):
            c["calling_windows"] = ["00:00-24:00"]
            c["reminder_policy"] = {"offsets_hours": [2], "call_retries": 0,
                                    "sms_price_per_segment": 3.35}
    doc["channels"] += [
        {"id": "it-south-twilio", "kind": "gateway", "provider": "twilio", "clinic_id": SOUTH,
         "credentials": {"account_sid": ACCOUNT, "auth_token": TOKEN, "from": FROM,
                         "voice": "Polly.Tatyana", "machine_detection": "1", "api_url": url}},
        {"id": "it-center-smsru", "kind": "gateway", "provider": "smsru", "clinic_id": CENTER,
         "credentials": {"api_id": API_ID, "callback_token": CALLBACK_TOKEN, "api_url": url}},
    ]
    return doc


class GatewayStack(common.Stack):
    def __init__(self):
        self.gw = Gateways()
        super().__init__(extra_env={"CLINICFLOW_REMINDERS_PUBLIC_BASE_URL": PUBLIC})

    def start_service(self):
        if not getattr(self, "_network", False):
            cfstack.apply_network(self.dsn, gateways_network(self.gw.url))
            self._network = True
        return super().start_service()

    def twilio(self, url, fields, token=TOKEN):
        """POSTs fields to the callback url (as the service gave it to Twilio)
        the way Twilio does: form body, X-Twilio-Signature over the URL and
        the sorted fields."""
        data = url + "".join(k + fields[k] for k in sorted(fields))
        sig = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest())
        path = url[len(PUBLIC):]
        return self.request("POST", path, urllib.parse.urlencode(fields).encode(), key=None,
                            content_type="application/x-www-form-urlencoded",
                            headers={"X-Twilio-Signature": sig.decode()})

    def close(self):
        try:
            super().close()
        finally:
            self.gw.close()


def visit(s, name, clinic, consents=None):
    p, e164 = patient(s, name, consents or {"calls": True, "sms": True})
    a = common.new_id("a-gw")
    ok(s.put_appointment(a, {"version": 1, "clinic_id": clinic, "patient_id": p,
                             "starts_at": utc(in_s(2 * 3600 + 2)), "status": "booked",
                             "doctor_name": "Ирина Петровна"}))
    return p, e164, a


def wait_sent(s, kind, e164, n=1):
    cfstack.wait_until(lambda: len(s.gw.of(kind, e164)) >= n, 30,
                       "%d %s request(s) to %s" % (n, kind, e164))
    return s.gw.of(kind, e164)[n - 1]


def reminder_status(s, a):
    return ok(s.get_appointment(a)).get("reminder_status")


def gather_url(twiml):
    """The action URL of a robot call's <Gather>, as Twilio would call it."""
    return twiml.split('action="')[1].split('"')[0].replace("&amp;", "&")


def send_row(s, send_id):
    return s.sql("SELECT status, coalesce(reason, '-'), coalesce(outcome, '-'),"
                 " coalesce(provider_ref, '-') FROM reminders.sends"
                 " WHERE send_id = '%s'" % send_id)[0]


def sms_costs(s, send_id, last):
    """[(outcome, sms)] of the send's outcome events that tell the SMS's
    cost, once its outcome last is on the topic (events of one send are
    relayed in order)."""
    s.wait_message(OUTCOMES, lambda m: m["event"]["data"].get("send_id") == send_id
                   and m["event"]["data"]["outcome"] == last, last)
    return [(m["event"]["data"]["outcome"], m["event"]["data"]["sms"])
            for m in s.messages(OUTCOMES)
            if m["event"]["data"].get("send_id") == send_id and "sms" in m["event"]["data"]]


def test_a_robot_call_gathers_the_patients_answer(s):
    _, e164, a = visit(s, "Анна", SOUTH)
    _, send_id, fields = wait_sent(s, "call", e164)
    assert fields["From"] == FROM and fields["To"] == e164, fields
    assert fields.get("MachineDetection") == "Enable", fields  # the channel asks for it
    twiml = fields["Twiml"]
    assert '<Gather numDigits="1"' in twiml and 'language="ru-RU"' in twiml, twiml
    assert 'voice="Polly.Tatyana"' in twiml and "Анна" in twiml, twiml
    assert "Ирина Петровна" in twiml and "Нажмите 1" in twiml, twiml
    status_url = fields["StatusCallback"]
    assert status_url.startswith(PUBLIC + "/v1/hooks/reminders/twilio/it-south-twilio?send_id="
                                 + send_id), status_url
    gather = gather_url(twiml)
    assert "kind=gather" in gather and send_id in gather, gather
    cfstack.wait_until(lambda: send_row(s, send_id)[0] == "sent", 30, "the send marked sent")
    assert send_row(s, send_id)[3].startswith("CA"), send_row(s, send_id)

    # a forged callback changes nothing
    forged = s.twilio(gather, {"CallSid": "CAx", "Digits": "2"}, token="not-the-token")
    assert forged.status == 401, forged
    assert reminder_status(s, a) is None
    # the patient pressed 1: thanked, confirmed
    got = s.twilio(gather, {"AccountSid": ACCOUNT, "CallSid": send_row(s, send_id)[3],
                            "CallStatus": "in-progress", "Digits": "1", "To": e164})
    assert got.status == 200 and got.headers.get("content-type", "").startswith("text/xml"), got
    assert "<Say" in got.raw.decode(), got.raw
    assert reminder_status(s, a) == "confirmed"
    # the thanks speak the call's language, which its gather URL carries
    assert "lang=ru" in gather and "Спасибо" in got.raw.decode(), (gather, got.raw)
    en = s.twilio(gather.replace("lang=ru", "lang=en"), {
        "AccountSid": ACCOUNT, "CallSid": send_row(s, send_id)[3], "CallStatus": "in-progress",
        "Digits": "1", "To": e164})
    assert en.status == 200 and "Thank you" in en.raw.decode(), en.raw
    assert reminder_status(s, a) == "confirmed"
    # the call's end, answered by a person: nothing more to say
    done = s.twilio(status_url, {"AccountSid": ACCOUNT, "CallSid": "CA1", "CallStatus":
                                 "completed", "CallDuration": "23", "To": e164})
    assert done.status == 200 and "<Response" in done.raw.decode(), done
    assert reminder_status(s, a) == "confirmed"
    # it moves nothing, and still tells how long the call was
    assert s.sql("SELECT outcome, duration_s FROM reminders.sends WHERE send_id = '%s'"
                 % send_id) == [["confirmed", "23"]]
    ev = s.wait_message(OUTCOMES, lambda m: m["event"]["data"].get("send_id") == send_id,
                        "the confirmed outcome")["event"]["data"]
    assert (ev["gateway"], ev["outcome"]) == ("twilio", "confirmed"), ev


def test_no_answer_sms_delivery_and_stop(s):
    _, e164, a = visit(s, "Boris", SOUTH)
    _, call_id, fields = wait_sent(s, "call", e164)
    cfstack.wait_until(lambda: send_row(s, call_id)[0] == "sent", 30, "the call sent")
    ok_ = s.twilio(fields["StatusCallback"], {"AccountSid": ACCOUNT, "CallSid": "CA2",
                                              "CallStatus": "no-answer", "To": e164})
    assert ok_.status == 200, ok_
    assert reminder_status(s, a) == "not_confirmed"
    # no retries at demo-south: the SMS, through the Messages API
    _, sms_id, sms = wait_sent(s, "sms", e164)
    assert sms["From"] == FROM and "Boris" not in sms["Body"] and "СТОП" in sms["Body"], sms
    cfstack.wait_until(lambda: send_row(s, sms_id)[0] == "sent", 30, "the SMS sent")
    sent = s.wait_message(OUTCOMES, lambda m: m["event"]["data"].get("send_id") == sms_id
                          and m["event"]["data"]["outcome"] == "sms_sent", "sms_sent")
    cost = sent["event"]["data"]["sms"]
    assert cost["segments"] >= 1 and cost["cost_minor"] == round(cost["segments"] * 335), cost
    # Twilio tells it was delivered
    ok_ = s.twilio(sms["StatusCallback"], {"AccountSid": ACCOUNT, "MessageSid": "SM2",
                                           "MessageStatus": "delivered", "To": e164})
    assert ok_.status == 200
    delivered = s.wait_message(OUTCOMES, lambda m: m["event"]["data"].get("send_id") == sms_id
                               and m["event"]["data"]["outcome"] == "sms_delivered",
                               "sms_delivered")
    # the cost is told once, by the sms_sent
    assert "sms" not in delivered["event"]["data"], delivered
    # the patient answers СТОП: the number is out of SMS
    inbound = PUBLIC + "/v1/hooks/reminders/twilio/it-south-twilio"
    ok_ = s.twilio(inbound, {"AccountSid": ACCOUNT, "MessageSid": "SM3", "From": e164,
                             "To": FROM, "Body": " стоп "})
    assert ok_.status == 200, ok_
    assert s.sql("SELECT channel FROM reminders.opt_outs WHERE phone = '%s'" % e164) == [["sms"]]


def test_smsru_sends_the_sms_and_reads_its_statuses(s):
    _, e164, a = visit(s, "Vera", CENTER)
    _, sms_id, fields = wait_sent(s, "smsru", e164)
    assert fields["to"] == e164.lstrip("+") and fields["json"] == "1", fields
    assert "demo" in fields["msg"].lower() or "ждём" in fields["msg"].lower(), fields
    # SMS.ru brings no reply back: the built-in text asks for a call, not
    # for a "1" or a СТОП nobody would read
    assert "Ответьте" not in fields["msg"] and "СТОП" not in fields["msg"], fields
    assert "позвоните нам" in fields["msg"], fields
    # SMS.ru sends no robot call: that rung was skipped
    reasons = s.sql("SELECT s.channel, s.status, coalesce(s.reason, '-') FROM reminders.sends s"
                    " JOIN reminders.reminder_jobs j USING (job_id) WHERE j.appointment_id ="
                    " '%s' ORDER BY s.attempt" % common.appointment_uuid(a))
    cfstack.wait_until(lambda: len(s.sql(
        "SELECT 1 FROM reminders.sends WHERE provider_ref = '%s' AND status = 'sent'"
        % sms_id)) == 1, 30, "the SMS sent")
    assert reasons[0] == ["call", "skipped", "gateway_cannot_call"], reasons
    hook = "/v1/hooks/reminders/smsru/it-center-smsru?token="
    # one batch of 150 statuses (SMS.ru bounds none), ours the last: every
    # one is read, since a batch answered 100 is never sent again
    now = int(time.time())
    entries = {"data[%d]" % i: "sms_status\n0000-%04d\n103\n%d" % (i, now) for i in range(149)}
    entries["data[149]"] = "sms_status\n%s\n103\n%d" % (sms_id, now)
    body = urllib.parse.urlencode(entries)
    bad = s.request("POST", hook + "wrong", body.encode(), key=None,
                    content_type="application/x-www-form-urlencoded")
    assert bad.status == 401, bad
    got = s.request("POST", hook + CALLBACK_TOKEN, body.encode(), key=None,
                    content_type="application/x-www-form-urlencoded")
    assert got.status == 200 and got.raw == b"100", got
    assert s.sql("SELECT outcome FROM reminders.sends WHERE provider_ref = '%s'"
                 % sms_id) == [["sms_delivered"]]


def crash_mid_send(s, name, clinic, meanwhile=None):
    """A robot call of a new visit held on its way to Twilio (the patient's
    name says how: "Hold" or "Lose"), the stack's service killed then,
    meanwhile() run, and a new instance started whose gateway exchange is
    1 s (so the send's mark is a crash's after 2 s), replacing it; one is
    started first when the test before stopped them all. Returns the
    visit's phone, appointment and the call's send id."""
    if not s.services:
        s.services.append(s.start_service())
        s.svc = s.services[0]
    s.gw.release_held.clear()
    _, e164, a = visit(s, name, clinic)
    _, send_id, _ = wait_sent(s, "call", e164)
    os.kill(s.svc.proc.pid, signal.SIGKILL)
    s.svc.wait(10)
    s.services.remove(s.svc)
    if meanwhile:
        meanwhile()
    s.gw.release_held.set()
    s.svc = cfstack.Service("reminders", s.env_for(
        CLINICFLOW_REMINDERS_PUBLIC_BASE_URL=PUBLIC, CLINICFLOW_REMINDERS_GATEWAY_TIMEOUT_MS="1000"))
    s.svc.start()
    s.services.append(s.svc)
    return e164, a, send_id


def test_a_send_resumed_after_a_crash_keeps_to_the_windows(s):
    # (last: it replaces the stack's service, and starts one when the test
    # before stopped them all) the call is held on its way to Twilio, the
    # instance killed, and the clinic's calling windows closed meanwhile.
    # Twilio has no record of the call, so it may be made, but not now: it
    # is skipped as outside the window, as a command taken while the
    # windows are closed is, and never dialled again.
    closed = gateways_network(s.gw.url)
    for c in closed["clinics"]:
        if c["id"] == SOUTH:
            c["calling_windows"] = [window(in_s(3 * 3600), 20)[0]]
    e164, a, _ = crash_mid_send(s, "Lose", SOUTH,
                                lambda: cfstack.apply_network(s.dsn, closed))

    def call():
        return s.sql("SELECT s.status, coalesce(s.reason, '-') FROM reminders.sends s"
                     " JOIN reminders.reminder_jobs j USING (job_id) WHERE s.channel = 'call'"
                     " AND j.appointment_id = '%s'" % common.appointment_uuid(a))

    cfstack.wait_until(lambda: call() and call()[0][0] != "sending", 60, "the call decided")
    assert call() == [["skipped", "outside_window"]], call()
    assert len(s.gw.of("call", e164)) == 1, s.gw.of("call", e164)
    s.svc.stop()
    s.services.remove(s.svc)


def test_an_unreadable_record_holds_up_only_its_own_send(s):
    # (it replaces the stack's service, and starts one when the test before
    # stopped them all; it stops its own) a call held on its way to Twilio, the instance
    # killed; the new instance finds Twilio's record unreadable. The send's
    # job is put off (the batch, and another clinic's reminder, go on),
    # and once the record answers the call is found there, not made again.
    def unreadable():
        s.gw.list_fails = True
    e164, _, send_id = crash_mid_send(s, "Hold", SOUTH, unreadable)
    try:
        put_off = 'clinicflow_reminders_jobs_total{result="gateway_unreachable"}'
        cfstack.wait_until(lambda: cfstack.metric(s.svc, put_off) >= 1, 60,
                           "the send with the unreadable record put off")
        assert send_row(s, send_id)[0] == "sending", send_row(s, send_id)
        _, other, _ = visit(s, "Other", CENTER)
        cfstack.wait_until(lambda: s.gw.of("smsru", other), 60, "the other clinic's SMS")
        s.gw.list_fails = False
        cfstack.wait_until(lambda: send_row(s, send_id)[0] != "sending", 90,
                           "the send decided once the record answers")
        row = send_row(s, send_id)
        assert row[0] == "sent" and row[1] == "found_after_crash", row
        assert len(s.gw.of("call", e164)) == 1, s.gw.of("call", e164)
    finally:
        s.gw.list_fails = False
        # a service a test starts ends with it
        s.svc.stop()
        s.services.remove(s.svc)


@contextlib.contextmanager
def short_exchange(s):
    """The stack's services replaced by one instance whose gateway exchange
    gives up after 1 s, Twilio's answers held until the test releases them
    (or ends); the instance stops with the test."""
    for svc in list(s.services):
        svc.stop()
        s.services.remove(svc)
    s.svc = cfstack.Service("reminders", s.env_for(
        CLINICFLOW_REMINDERS_PUBLIC_BASE_URL=PUBLIC, CLINICFLOW_REMINDERS_GATEWAY_TIMEOUT_MS="1000"))
    s.svc.start()
    s.services.append(s.svc)
    try:
        s.gw.release_held.clear()
        yield
    finally:
        s.gw.release_held.set()
        s.svc.stop()
        s.services.remove(s.svc)


def test_the_patients_key_before_twilios_answer_stands(s):
    # (it replaces the stack's services and stops its own) Twilio answers
    # the call's request late, past the instance's 1 s gateway exchange,
    # and the patient's key comes meanwhile: the send is sent, with the
    # patient's answer, and the dispatcher's "unknown" (it heard nothing)
    # neither overrides it nor sends the visit to the front desk.
    with short_exchange(s):
        _, e164, a = visit(s, "Hold", SOUTH)
        _, send_id, fields = wait_sent(s, "call", e164)
        got = s.twilio(gather_url(fields["Twiml"]), {
            "AccountSid": ACCOUNT, "CallSid": "CA" + "7" * 32, "CallStatus": "in-progress",
            "Digits": "1", "To": e164})
        assert got.status == 200, got
        cfstack.wait_until(lambda: send_row(s, send_id)[0] != "sending", 30,
                           "the dispatcher's exchange over")
        row = send_row(s, send_id)
        assert row[0] == "sent" and row[2] == "confirmed", row
        assert reminder_status(s, a) == "confirmed"
        assert s.sql("SELECT count(*) FROM reminders.sends WHERE send_id = '%s'"
                     " AND status = 'unknown'" % send_id) == [["0"]]


def test_an_sms_answered_after_its_unknown_send_was_delivered(s):
    # (it replaces the stack's services and stops its own) Twilio answers
    # the SMS request late, past the instance's 1 s gateway exchange: the
    # send is "unknown", the ladder ends there and the front desk is asked.
    # Then Twilio tells the SMS was delivered, and the patient answers it:
    # the answer is the visit's, as it would have been without the wait.
    with short_exchange(s):
        p, e164 = patient(s, "Unheard", {"calls": False, "sms": True})
        s.gw.hold_to.add(e164)
        a = common.new_id("a-gw-unknown")
        ok(s.put_appointment(a, {"version": 1, "clinic_id": SOUTH, "patient_id": p,
                                 "starts_at": utc(in_s(2 * 3600 + 2)), "status": "booked"}))
        _, sms_id, sms = wait_sent(s, "sms", e164)
        cfstack.wait_until(lambda: send_row(s, sms_id)[0] == "unknown", 30,
                           "the SMS's exchange timed out")
        cfstack.wait_until(lambda: reminder_status(s, a) == "not_confirmed", 30,
                           "the visit not confirmed")
        s.gw.release_held.set()
        got = s.twilio(sms["StatusCallback"], {"AccountSid": ACCOUNT, "MessageSid": "SM7" * 8,
                                               "MessageStatus": "delivered", "To": e164})
        assert got.status == 200, got
        cfstack.wait_until(lambda: send_row(s, sms_id)[2] == "sms_delivered", 30,
                           "the delivery recorded")
        # the SMS went after all: its delivery tells what it cost, once
        told = sms_costs(s, sms_id, "sms_delivered")
        assert [o for o, _ in told] == ["sms_delivered"], told
        assert told[0][1]["cost_minor"] == told[0][1]["segments"] * 335 > 0, told
        got = s.twilio(PUBLIC + "/v1/hooks/reminders/twilio/it-south-twilio", {
            "AccountSid": ACCOUNT, "MessageSid": "SM8" * 8, "From": e164, "To": FROM,
            "Body": "1"})
        assert got.status == 200, got
        assert reminder_status(s, a) == "confirmed", (reminder_status(s, a), send_row(s, sms_id))
        # the send keeps Twilio's id of the SMS, not of the reply
        assert send_row(s, sms_id)[3] == "SM7" * 8, send_row(s, sms_id)


def test_an_sms_delivered_before_twilio_answers_tells_its_cost(s):
    """Twilio's delivery report comes while our request still waits for
    its answer (a slow API, a fast carrier): the dispatcher's own sms_sent
    is older news then and moves nothing, so the delivery, the first word
    that the SMS went, tells what it cost."""
    s.gw.release_held.clear()
    try:
        p, e164 = patient(s, "Quick", {"calls": False, "sms": True})
        s.gw.hold_to.add(e164)
        a = common.new_id("a-gw-quick")
        ok(s.put_appointment(a, {"version": 1, "clinic_id": SOUTH, "patient_id": p,
                                 "starts_at": utc(in_s(2 * 3600 + 2)), "status": "booked"}))
        _, sms_id, sms = wait_sent(s, "sms", e164)
        assert send_row(s, sms_id)[0] == "sending", send_row(s, sms_id)
        got = s.twilio(sms["StatusCallback"], {"AccountSid": ACCOUNT, "MessageSid": "SM9" * 8,
                                               "MessageStatus": "delivered", "To": e164})
        assert got.status == 200, got
        s.gw.release_held.set()
        cfstack.wait_until(lambda: send_row(s, sms_id)[0] == "sent", 30, "Twilio's answer taken")
        told = sms_costs(s, sms_id, "sms_delivered")
        assert [o for o, _ in told] == ["sms_delivered"], told
        assert told[0][1]["cost_minor"] == told[0][1]["segments"] * 335 > 0, told
        assert told[0][1]["currency"] == "RUB", told
        assert send_row(s, sms_id)[2] == "sms_delivered", send_row(s, sms_id)
    finally:
        s.gw.release_held.set()


def test_a_crash_of_every_instance_mid_send_sends_nothing_twice(s):
    # (it kills the stack's services and stops its own) three instances
    # share the commands; the calls are held at Twilio unanswered (an instance sends
    # its commands one by one, so the first of each waits there and the
    # rest wait behind it), and once one has reached Twilio every instance
    # is killed. The new ones find each call that reached Twilio in its
    # record, by its number and time, and never make it again; the calls
    # that had not left go now, once.
    while len(s.services) < 3:
        s.services.append(s.start_service())
    s.svc = s.services[0]
    s.gw.release_held.clear()
    visits = [visit(s, "Hold%d" % i, SOUTH) for i in range(6)]
    cfstack.wait_until(lambda: any(s.gw.of("call", e164) for _, e164, _ in visits), 30,
                       "a held call at Twilio")
    reached = {e164 for _, e164, _ in visits if s.gw.of("call", e164)}
    for svc in s.services:
        os.kill(svc.proc.pid, signal.SIGKILL)
    for svc in s.services:
        svc.wait(10)
    s.services.clear()
    s.gw.release_held.set()
    for _ in range(3):
        s.services.append(s.start_service())
    s.svc = s.services[0]

    seen = []

    def settled():
        seen[:] = s.sql("SELECT s.status, coalesce(s.reason, '-') FROM reminders.sends s"
                        " JOIN reminders.reminder_jobs j USING (job_id) WHERE s.channel = 'call'"
                        " AND j.appointment_id IN (%s)"
                        % ",".join("'%s'" % common.appointment_uuid(a) for _, _, a in visits))
        return len(seen) == 6 and all(r[0] == "sent" for r in seen)

    try:
        cfstack.wait_until(settled, 120, "every held call settled")
    except AssertionError:
        raise AssertionError("not settled: %s; logs: %s" % (seen, [
            open(svc.stderr_path).read()[-3000:] for svc in s.services]))
    for _, e164, a in visits:
        calls = s.gw.of("call", e164)
        assert len(calls) == 1, (e164, calls)
        row = send_row(s, calls[0][1])
        assert row[0] == "sent" and row[3].startswith("CA"), row
        if e164 in reached:
            assert row[1] == "found_after_crash", row
    # and the instances go on: a new visit's call goes once
    _, e164, _ = visit(s, "After", SOUTH)
    _, send_id, _ = wait_sent(s, "call", e164)
    cfstack.wait_until(lambda: send_row(s, send_id)[0] == "sent", 30, "a later call sent")
    assert len(s.gw.of("call", e164)) == 1
    # stopped together: one by one, each would wait out the others' rebalance
    errors = []

    def stop(svc):
        try:
            svc.stop(timeout=30)
        except AssertionError as e:
            errors.append(e)

    stoppers = [threading.Thread(target=stop, args=(svc,)) for svc in s.services]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()
    s.services.clear()
    assert not errors, errors


if __name__ == "__main__":
    cfstack.run_on_stack(GatewayStack, [
        test_a_robot_call_gathers_the_patients_answer,
        test_no_answer_sms_delivery_and_stop,
        test_smsru_sends_the_sms_and_reads_its_statuses,
        test_an_sms_delivered_before_twilio_answers_tells_its_cost,
        test_the_patients_key_before_twilios_answer_stands,
        test_an_sms_answered_after_its_unknown_send_was_delivered,
        test_a_crash_of_every_instance_mid_send_sends_nothing_twice,
        test_an_unreadable_record_holds_up_only_its_own_send,
        test_a_send_resumed_after_a_crash_keeps_to_the_windows,
    ])
