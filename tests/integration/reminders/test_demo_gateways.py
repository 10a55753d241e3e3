"""The local demo's reminder gateways: clinicflow-gateway-sim (tools/) with
the demo network's own gateway channels (deploy/local/demo-network.json:
demo-north's webhook dialer, demo-south's Twilio, demo-center's SMS.ru),
only their address moved to a free port, and clinicflow-reminders whose
public URL is where the stand-in posts back. Appointments go in through the
MIS API; what comes out is read as an operator reads it: reminders.sends
and the appointments' reminder status.

The stand-in's patients answer from the send id (tools/gateway-sim/
patient_rules.c), so each outcome is checked exactly against the same draw
made here; an SMS.ru delivery is drawn from SMS.ru's own message id, which
only the stand-in knows, so there only the kind of answer is checked.
Every clinic rings round the clock, one reminder two hours ahead, no call
retries: an unanswered call goes on to the SMS at once; a completed visit's
survey goes at once too, and the stand-in's patients answer it on its page."""
import hashlib
import json
import os
import subprocess
import tempfile

import cfstack
import common
from common import ok
from test_dispatch import patient
from test_planning import in_s, utc

NORTH, SOUTH, CENTER = "demo-north", "demo-south", "demo-center"
DEMO_GATEWAYS = "http://127.0.0.1:8099"


def draw(key, salt):
    """patient_rules.c's draw: 0..999 from SHA-256 of salt, 0x1F, key."""
    d = hashlib.sha256(("%s\x1f%s" % (salt, key)).encode()).digest()
    return int.from_bytes(d[:4], "big") % 1000


def call_answer(send_id):
    n = draw(send_id, "call")
    return ("no_answer" if n < 200 else "busy" if n < 250 else "confirmed" if n < 925
            else "reschedule" if n < 990 else "declined")


def sms_fate(key):
    return "sms_delivered" if draw(key, "sms") < 970 else "sms_failed"


def nps_score(key):
    """patient_rules.c's survey answer: a score, or None for no answer."""
    if draw(key, "nps") >= 350:
        return None
    n = draw(key, "nps-score")
    return 9 + n % 2 if n < 620 else 7 + n % 2 if n < 829 else n % 7


STATUS_AFTER = {"confirmed": "confirmed", "declined": "declined",
                "reschedule": "reschedule_requested"}


def gateways_network(sim_url):
    """The demo network, its gateways at sim_url, every clinic reminding two
    hours ahead round the clock with no call retries."""
    doc = cfstack.demo_network()
    for ch in doc["channels"]:
        if ch["kind"] == "gateway":
            creds = ch["credentials"]
            for k in ("url", "api_url"):
                if k in creds:
                    assert creds[k].startswith(DEMO_GATEWAYS), creds[k]
                    creds[k] = sim_url + creds[k][len(DEMO_GATEWAYS):]
    for c in doc["clinics"]:
        c["calling_windows"] = ["00:00-24:00"]
        c["reminder_policy"] = {"offsets_hours": [2], "call_retries": 0,
                                "nps_delay_minutes": 0}
    return doc


class DemoGatewayStack(common.Stack):
    def __init__(self):
        self.port = cfstack.free_port()
        self.sim = None
        self.sim_dir = tempfile.mkdtemp(prefix="cf-gateway-sim-")
        super().__init__()

    def start_sim(self):
        sim_port = cfstack.free_port()
        self.sim_url = "http://127.0.0.1:%d" % sim_port
        doc = gateways_network(self.sim_url)
        cfstack.apply_network(self.dsn, doc)
        path = os.path.join(self.sim_dir, "network.json")
        with open(path, "w") as f:
            json.dump(doc, f, ensure_ascii=False)
        self.sim_err = open(os.path.join(self.sim_dir, "stderr.log"), "w+")
        self.sim = subprocess.Popen(
            [cfstack.bin_path("clinicflow-gateway-sim"), "--network", path, "--port",
             str(sim_port), "--reminders", "http://127.0.0.1:%d" % self.port, "--delay-ms", "300"],
            stdout=subprocess.PIPE, stderr=self.sim_err, text=True, start_new_session=True)
        line = self.sim.stdout.readline()
        assert line.startswith("listening on"), (line, self.sim_logs())

    def sim_logs(self):
        self.sim_err.flush()
        self.sim_err.seek(0)
        return self.sim_err.read()

    def start_service(self):
        if self.sim is None:
            self.start_sim()
        svc = cfstack.Service("reminders", self.env_for(
            CLINICFLOW_REMINDERS_PUBLIC_BASE_URL="http://127.0.0.1:%d" % self.port,
            **self.extra_env), port=self.port)
        svc.start()
        return svc

    def close(self):
        try:
            super().close()
        finally:
            if self.sim:
                self.sim.terminate()
                rc = self.sim.wait(15)
                logs = self.sim_logs()
                cfstack._check_sanitizers("clinicflow-gateway-sim", logs)
                assert rc == 0, (rc, logs)


def sends_of(s, appointment):
    """(channel, status, reason, outcome, send_id) of the appointment's
    sends, in attempt order."""
    return [tuple(r) for r in s.sql(
        "SELECT s.channel, s.status, coalesce(s.reason, '-'), coalesce(s.outcome, '-'),"
        " s.send_id FROM reminders.sends s JOIN reminders.reminder_jobs j USING (job_id)"
        " WHERE j.appointment_id = '%s' ORDER BY s.attempt" % common.appointment_uuid(appointment))]


def settled(s, appointment):
    """The appointment's ladder has its last answer: a call's that needs no
    SMS, or the SMS's delivery."""
    rows = sends_of(s, appointment)
    if not rows:
        return False
    channel, status, _, outcome, _ = rows[-1]
    if channel == "call":
        return status == "sent" and outcome in STATUS_AFTER
    return outcome in ("sms_delivered", "sms_failed")


def reminder_status(s, appointment):
    return s.sql("SELECT coalesce(reminder_status, '-') FROM reminders.appointments"
                 " WHERE appointment_id = '%s'" % common.appointment_uuid(appointment))[0][0]


def book_many(s, clinic, n):
    out = []
    for i in range(n):
        p, _ = patient(s, "Гость%d" % i, {"calls": True, "sms": True})
        a = common.new_id("a-demo-gw")
        ok(s.put_appointment(a, {"version": 1, "clinic_id": clinic, "patient_id": p,
                                 "starts_at": utc(in_s(2 * 3600 + 3)), "status": "booked"}))
        out.append(a)
    return out


def test_each_clinic_is_reminded_through_its_demo_gateway(s):
    booked = {clinic: book_many(s, clinic, 8) for clinic in (NORTH, SOUTH, CENTER)}
    every = [a for group in booked.values() for a in group]
    cfstack.wait_until(lambda: all(settled(s, a) for a in every), 90,
                       "every reminder answered through the stand-in")

    # the dialer and Twilio: the call's answer is the patient's draw, the
    # reminder status follows it; no answer or busy goes on to the SMS
    for clinic, gateway in ((NORTH, "webhook"), (SOUTH, "twilio")):
        for a in booked[clinic]:
            rows = sends_of(s, a)
            channel, status, _, outcome, call_id = rows[0]
            assert (channel, status) == ("call", "sent"), rows
            want = call_answer(call_id)
            if want in STATUS_AFTER:
                assert outcome == want and len(rows) == 1, (clinic, rows, want)
                assert reminder_status(s, a) == STATUS_AFTER[want], (clinic, a)
            else:
                assert outcome == want, (clinic, rows, want)
                assert len(rows) == 2 and rows[1][:2] == ("sms", "sent"), rows
                assert rows[1][3] == sms_fate(rows[1][4]), (clinic, rows)
                assert reminder_status(s, a) == "not_confirmed", (clinic, a)
        assert s.sql("SELECT DISTINCT gateway FROM reminders.sends WHERE clinic_id = '%s'"
                     " AND status = 'sent'" % clinic) == [[gateway]]

    # SMS.ru sends no robot calls: the SMS, and its delivery report
    for a in booked[CENTER]:
        rows = sends_of(s, a)
        assert rows[0][:3] == ("call", "skipped", "gateway_cannot_call"), rows
        assert rows[1][:2] == ("sms", "sent") and rows[1][3] in (
            "sms_delivered", "sms_failed"), rows
        assert reminder_status(s, a) == "not_confirmed", a

    # the demo prices an SMS segment (its reminder policy, 3.35 RUB): every
    # SMS sent carries its segments' cost, so the reminders page has one
    price = cfstack.demo_network()["reminder_policies"]["sms_price_per_segment"]
    total, priced = s.sql(
        "SELECT count(*), count(*) FILTER (WHERE segments > 0 AND cost_minor = segments * %d)"
        " FROM reminders.sends WHERE channel = 'sms' AND status = 'sent'"
        % round(price * 100))[0]
    assert int(total) > 0 and priced == total, (total, priced)


def test_surveys_are_answered_on_their_pages(s):
    """A completed visit's survey SMS reaches the stand-in, and its patient
    answers on the page the link opens, with the score drawn from the send
    (about a third answer): the score is the survey's, stored once."""
    visits = {}
    for clinic in (NORTH, SOUTH):
        for i in range(12):
            p, _ = patient(s, "Оценка%d" % i, {"calls": True, "sms": True})
            a = common.new_id("a-demo-nps")
            body = {"clinic_id": clinic, "patient_id": p, "starts_at": utc(in_s(-2400)),
                    "ends_at": utc(in_s(-600)), "doctor_id": "dr-%d" % (i % 2)}
            ok(s.put_appointment(a, dict(body, version=1, status="booked")))
            ok(s.put_appointment(a, dict(body, version=2, status="completed")))
            visits[a] = clinic

    def survey_sends():
        return {r[0]: (r[1], r[2]) for r in s.sql(
            "SELECT j.appointment_id, s.send_id, coalesce(s.outcome, '-')"
            " FROM reminders.sends s JOIN reminders.reminder_jobs j USING (job_id)"
            " WHERE j.kind = 'nps' AND s.channel = 'sms' AND s.status = 'sent'")}
    uuids = {common.appointment_uuid(a): a for a in visits}
    cfstack.wait_until(lambda: all(
        survey_sends().get(u, ("", "-"))[1] in ("sms_delivered", "sms_failed") for u in uuids),
        90, "every survey SMS sent and its delivery reported")
    sends = survey_sends()
    want = {}
    for u in uuids:
        send_id, outcome = sends[u]
        assert outcome == sms_fate(send_id), (u, send_id, outcome)
        want[u] = nps_score(send_id) if outcome == "sms_delivered" else None
    answering = [u for u in uuids if want[u] is not None]
    assert answering and len(answering) < len(uuids), want  # some answer, not all

    def scores():
        return {r[0]: r[1] for r in s.sql(
            "SELECT appointment_id, coalesce(score::text, '-') FROM reminders.nps_surveys")}
    cfstack.wait_until(lambda: all(scores().get(u) not in (None, "-") for u in answering), 60,
                       "the answering patients' scores")
    got = scores()
    for u in uuids:
        assert got[u] == (str(want[u]) if want[u] is not None else "-"), (u, got[u], want[u])


def test_the_stand_in_refuses_what_its_providers_would(s):
    """Requests not signed or authorised as the demo network's channels
    say are refused the way each provider refuses them, and queue no
    callback; its health answers."""
    st, _, _ = cfstack.http("GET", s.sim_url + "/healthz")
    assert st == 200, st
    body = json.dumps({"send_id": common.cf_uuid5("no", "send"),
                       "command": {"channel": "call"}}).encode()
    st, _, _ = cfstack.http("POST", s.sim_url + "/dialer/demo-north-dialer", body,
                            {"X-Clinicflow-Signature": "sha256=" + "0" * 64})
    assert st == 401, st
    st, _, _ = cfstack.http("POST", s.sim_url + "/dialer/no-such-dialer", body,
                            {"X-Clinicflow-Signature": "sha256=" + "0" * 64})
    assert st == 401, st
    account = next(c for c in cfstack.demo_network()["channels"]
                   if c["provider"] == "twilio" and c["kind"] == "gateway")
    path = "/2010-04-01/Accounts/%s/Calls.json" % account["credentials"]["account_sid"]
    st, _, reply = cfstack.http("POST", s.sim_url + path, b"To=%2B79990000000",
                                {"Authorization": "Basic bm90OnRoaXM=",
                                 "Content-Type": "application/x-www-form-urlencoded"})
    assert st == 401 and json.loads(reply)["code"] == 20003, (st, reply)
    st, _, reply = cfstack.http("POST", s.sim_url + "/sms/send",
                                b"api_id=wrong&to=79990000000&msg=x&json=1",
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and json.loads(reply)["status_code"] == 200, (st, reply)


if __name__ == "__main__":
    cfstack.run_on_stack(DemoGatewayStack, [
        test_the_stand_in_refuses_what_its_providers_would,
        test_each_clinic_is_reminded_through_its_demo_gateway,
        test_surveys_are_answered_on_their_pages,
    ])
