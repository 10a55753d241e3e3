"""The dispatcher, through the public interfaces: an appointment PUT as
the MIS sends it, the command its reminder becomes, and a clinic's dialer
(a webhook gateway) played by a local stand-in that records each request
it gets, checks its signature, and can hold one unanswered; the sends as an
operator reads them in reminders.sends.

demo-north has round-the-clock windows and one reminder two hours ahead
(test_planning's network), and a webhook gateway channel pointing at the
stand-in."""
import datetime
import hashlib
import hmac
import http.server
import json
import os
import signal
import threading
import time
from zoneinfo import ZoneInfo

import cfstack
import common
from common import ok
from test_planning import CENTER, NORTH, book, in_s, planning_network, utc

SOUTH = "demo-south"

SECRET = "it-dialer-secret-0001"
SENDS = "reminders.sends"


class Dialer:
    """A dialer taking the gateway's POSTs: requests holds (send_id, body,
    signature ok) of each; a request for a patient named "Hold" is held
    unanswered until release(); the first for a patient named "Busy" is
    answered 429 (too many requests)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.release_held = threading.Event()
        dialer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                doc = json.loads(body)
                with dialer.lock:
                    dialer.requests.append((doc["send_id"], doc,
                                            self.headers.get("X-Clinicflow-Signature") == want))
                dialer.arrived.set()
                if doc["contact"].get("first_name") == "Hold":
                    dialer.release_held.wait(60)
                if doc["contact"].get("first_name") == "Busy" and len(
                        dialer.of(doc["send_id"])) == 1:
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/dial" % self.server.server_address[1]

    def of(self, send_id):
        with self.lock:
            return [r for r in self.requests if r[0] == send_id]

    def close(self):
        self.release_held.set()
        self.server.shutdown()


class DispatchStack(common.Stack):
    """The stack with test_planning's network (or the network() a subclass
    gives) and a webhook gateway for demo-north pointing at the Dialer."""

    # a robot call nobody reports on is unknown this soon (the Dialer
    # never reports)
    extra_env = {"CLINICFLOW_REMINDERS_CALL_REPORT_WAIT_S": "6"}

    def __init__(self):
        self.dialer = Dialer()
        super().__init__(extra_env=self.extra_env)

    def network(self):
        return planning_network()

    def network_with_dialer(self):
        doc = self.network()
        doc["channels"].append({"id": "it-north-dialer", "kind": "gateway",
                                "provider": "webhook", "clinic_id": NORTH,
                                "credentials": {"url": self.dialer.url, "secret": SECRET}})
        return doc

    def start_service(self):
        if not getattr(self, "_network", False):
            cfstack.apply_network(self.dsn, self.network_with_dialer())
            self._network = True
        return super().start_service()

    def service_with(self, **env):
        """The stack's service stopped and another started with env (over
        the stack's), now the stack's; the test stops it at its end."""
        if self.svc in self.services:
            self.svc.stop()
            self.services.remove(self.svc)
        svc = cfstack.Service("reminders", self.env_for(**dict(self.extra_env, **env)))
        svc.start()
        self.services.append(svc)
        self.svc = svc
        return svc

    def apply(self, doc):
        """Applies doc and waits until the service runs with it."""
        cfstack.apply_network_and_wait(self.dsn, doc, [self.svc])

    def close(self):
        try:
            super().close()
        finally:
            self.dialer.close()


def send_of(s, appointment):
    """(send_id, status, reason, http_status) of the appointment's send."""
    rows = s.sql("SELECT s.send_id, s.status, coalesce(s.reason, ''), coalesce(s.http_status, 0)"
                 " FROM reminders.sends s JOIN reminders.reminder_jobs j USING (job_id)"
                 " WHERE j.appointment_id = '%s'" % common.appointment_uuid(appointment))
    return tuple(rows[0]) if rows else None


def reminder_status(s, appointment):
    return s.sql("SELECT coalesce(reminder_status, '-') FROM reminders.appointments"
                 " WHERE appointment_id = '%s'" % common.appointment_uuid(appointment))[0][0]


def patient(s, name, consents):
    p = common.new_id("p-dial")
    national, e164 = common.new_phone()
    ok(s.put_patient(p, {"version": 1, "first_name": name, "phones": [national],
                         "language": "ru", "consents": consents}))
    return p, e164


def test_a_reminder_reaches_the_dialer_once(s):
    p, e164 = patient(s, "Anna", {"calls": True})
    a = common.new_id("a-dial")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=p)
    cfstack.wait_until(lambda: (send_of(s, a) or ("", ""))[1] == "sent", 30, "the send")
    send_id, _, _, code = send_of(s, a)
    assert code == "200", send_of(s, a)
    got = s.dialer.of(send_id)
    assert len(got) == 1, got
    _, doc, signed = got[0]
    assert signed, "the signature does not match the body"
    assert doc["contact"] == {"phone": e164, "first_name": "Anna", "language": "ru"}, doc
    assert doc["clinic"]["id"] == NORTH and doc["clinic"]["name"], doc
    assert doc["command"]["appointment_id"] == common.appointment_uuid(a), doc
    assert doc["command"]["patient_id"] == common.patient_uuid(p), doc
    assert cfstack.metric(s.svc, 'clinicflow_reminders_sends_total{gateway="webhook",'
                                 'status="sent"}') >= 1


def test_no_consent_no_call(s):
    p, _ = patient(s, "Boris", {"calls": False, "sms": True})
    a = common.new_id("a-noconsent")
    book(s, a, 1, utc(in_s(2 * 3600 + 1)), clinic=NORTH, patient=p)
    cfstack.wait_until(lambda: send_of(s, a) is not None, 30, "the send")
    send_id, status, reason, _ = send_of(s, a)
    assert (status, reason) == ("skipped", "no_consent"), send_of(s, a)
    assert s.dialer.of(send_id) == []


def job_of(s, appointment, offset=2):
    """(status, reason, due_at as epoch seconds) of the appointment's job
    offset hours ahead."""
    rows = s.sql("SELECT status, coalesce(reason, ''), extract(epoch FROM due_at)"
                 " FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
                 " AND offset_hours = %d" % (common.appointment_uuid(appointment), offset))
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1], float(rows[0][2])


def jobs(s, appointment):
    """[(offset_hours, status)] of the appointment's jobs."""
    return [(int(o), st) for o, st in s.sql(
        "SELECT offset_hours, status FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
        " ORDER BY offset_hours" % common.appointment_uuid(appointment))]


def window(start, minutes):
    """A calling window in Moscow time (the demo clinics') opening at the
    first whole minute at or after start (an aware datetime), or at the
    midnight after it when it would run past midnight: ("HH:MM-HH:MM", the
    moment it opens)."""
    local = start.astimezone(ZoneInfo("Europe/Moscow"))
    opens = local.replace(second=0, microsecond=0)
    if opens < local:
        opens += datetime.timedelta(minutes=1)
    if opens.hour * 60 + opens.minute + minutes >= 24 * 60:
        opens = (opens + datetime.timedelta(days=1)).replace(hour=0, minute=0)
    closes = opens + datetime.timedelta(minutes=minutes)
    return "%02d:%02d-%02d:%02d" % (opens.hour, opens.minute, closes.hour, closes.minute), opens


def test_a_reminder_due_while_the_windows_are_closed_goes_in_the_next(s):
    """The clinics' calling windows change after their reminders were placed
    (round the clock then). Taken while they are closed, a reminder is held
    until the next window opens (North); one whose visit comes before that
    is not sent: its send is skipped (outside_window) and its ladder goes
    on (Center); one that another of its visit's reminders would meet by
    then is skipped as the planner skips it (South); of two of a visit's
    reminders due at once (the scheduler behind: set so by hand here), the
    one nearer the visit is held and the other skipped, never both (South
    again). Nothing goes out."""
    first = s.network_with_dialer()
    for c in first["clinics"]:
        c["calling_windows"] = ["00:00-24:00"]
        c["reminder_policy"] = {"offsets_hours": [2, 1] if c["id"] == SOUTH else [2]}
    s.apply(first)
    try:
        pn, _ = patient(s, "Vera", {"calls": True})
        pc, _ = patient(s, "Gleb", {"calls": True})
        ps, _ = patient(s, "Inna", {"calls": True})
        pb, _ = patient(s, "Olga", {"calls": True})
        north, center = common.new_id("a-held"), common.new_id("a-outside")
        south, both = common.new_id("a-sametime"), common.new_id("a-both")
        # each clinic's reminder two hours ahead: due in 30 s (South's
        # second, an hour ahead, in an hour and 30 s)
        for mis, clinic, p in ((north, NORTH, pn), (center, CENTER, pc), (south, SOUTH, ps),
                               (both, SOUTH, pb)):
            book(s, mis, 1, utc(in_s(2 * 3600 + 30)), clinic=clinic, patient=p)
        assert jobs(s, south) == [(1, "pending"), (2, "pending")], jobs(s, south)
        s.sql("UPDATE reminders.reminder_jobs SET due_at = (SELECT due_at FROM"
              " reminders.reminder_jobs WHERE appointment_id = '%s' AND offset_hours = 2)"
              " WHERE appointment_id = '%s' AND offset_hours = 1"
              % ((common.appointment_uuid(both),) * 2))
        # the next window: North's and South's in an hour, before their
        # visits (South's after its second reminder is due); Center's in
        # three hours, after its visit
        north_window, opens = window(in_s(3600 + 60), 20)
        later = s.network_with_dialer()
        for c in later["clinics"]:
            c["calling_windows"] = [window(in_s(3 * 3600), 20)[0] if c["id"] == CENTER
                                    else north_window]
            if c["id"] == SOUTH:
                c["reminder_policy"] = {"offsets_hours": [2, 1]}
        s.apply(later)
        cfstack.wait_until(lambda: send_of(s, center) is not None, 60, "Center's send")
        assert send_of(s, center)[1:3] == ("skipped", "outside_window"), send_of(s, center)
        cfstack.wait_until(lambda: jobs(s, south)[1][1] != "pending", 60, "South's job taken")
        assert jobs(s, south) == [(1, "pending"), (2, "skipped")], jobs(s, south)
        assert job_of(s, south, 2)[:2] == ("skipped", "same_time"), job_of(s, south, 2)
        cfstack.wait_until(lambda: jobs(s, both)[1][1] != "pending", 60, "the two taken")
        assert jobs(s, both) == [(1, "pending"), (2, "skipped")], jobs(s, both)
        assert job_of(s, both, 2)[:2] == ("skipped", "same_time"), job_of(s, both, 2)
        assert job_of(s, both, 1)[2] == opens.timestamp(), (job_of(s, both, 1), opens)
        status, reason, due = job_of(s, north)
        assert (status, reason) == ("pending", ""), job_of(s, north)
        assert due == opens.timestamp(), (due, opens)  # the moment its window opens
        assert send_of(s, north) is None and send_of(s, south) is None
        assert send_of(s, both) is None
        assert not [r for r in s.dialer.requests if r[1]["contact"]["first_name"] == "Vera"]
        assert cfstack.metric(s.svc, 'clinicflow_reminders_jobs_total{result="held"}') >= 1
        assert cfstack.metric(s.svc,
                              'clinicflow_reminders_jobs_total{result="skipped_same_time"}') >= 1
    finally:
        s.apply(s.network_with_dialer())


def test_a_call_nobody_reports_on_ends_unknown(s):
    """The dialer takes the call and never reports on it: once
    CLINICFLOW_REMINDERS_CALL_REPORT_WAIT_S has passed, the send's outcome
    is unknown (no_report), the reminder not confirmed and the front desk
    asked to call; the patient is not called again. The dialer's report
    after all still tells."""
    p, _ = patient(s, "Mute", {"calls": True})
    a = common.new_id("a-mute")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=p)
    cfstack.wait_until(lambda: (send_of(s, a) or ("", ""))[1] == "sent", 30, "the send")
    send_id = send_of(s, a)[0]
    outcome = "SELECT coalesce(outcome, '-'), extract(epoch FROM outcome_at - created_at)" \
              " FROM reminders.sends WHERE send_id = '%s'" % send_id
    cfstack.wait_until(lambda: s.sql(outcome)[0][0] != "-", 30, "the call's outcome")
    got, waited = s.sql(outcome)[0]
    assert got == "unknown", got
    assert float(waited) >= 6, "unknown %s s after the call went" % waited
    ev = s.wait_message("clinicflow.reminders.outcomes.v1",
                        lambda m: m["event"]["data"].get("send_id") == send_id,
                        "the outcome event")["event"]["data"]
    assert (ev["outcome"], ev["reason"]) == ("unknown", "no_report"), ev
    assert reminder_status(s, a) == "not_confirmed"
    task = "SELECT t.status FROM reminders.tasks t JOIN reminders.reminder_jobs j USING (job_id)" \
           " WHERE j.appointment_id = '%s' AND t.reason = 'not_confirmed'" \
           % common.appointment_uuid(a)
    assert s.sql(task) == [["open"]]
    assert cfstack.metric(s.svc, "clinicflow_reminders_calls_unreported_total") >= 1
    # the dialer reports after all: the patient pressed 1
    raw = json.dumps({"send_id": send_id, "outcome": "confirmed"}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    ok(s.request("POST", "/v1/hooks/reminders/generic/it-north-dialer", raw, key=None,
                 headers={"X-Clinicflow-Signature": sig}))
    cfstack.wait_until(lambda: reminder_status(s, a) == "confirmed", 30, "the visit confirmed")
    assert len(s.dialer.of(send_id)) == 1, s.dialer.of(send_id)
    assert [r for r in s.dialer.requests
            if r[1]["command"].get("appointment_id") == common.appointment_uuid(a)
            and r[0] != send_id] == []


def test_a_crash_mid_send_is_unknown_never_resent(s):
    # (last: it replaces the stack's service)
    p, _ = patient(s, "Hold", {"calls": True})
    a = common.new_id("a-crash")
    s.dialer.arrived.clear()
    book(s, a, 1, utc(in_s(2 * 3600 + 1)), clinic=NORTH, patient=p)
    # the request is at the dialer, unanswered: the process dies
    cfstack.wait_until(lambda: send_of(s, a) is not None and s.dialer.of(send_of(s, a)[0]),
                       30, "the request at the dialer")
    send_id = send_of(s, a)[0]
    assert send_of(s, a)[1] == "sending", send_of(s, a)
    os.kill(s.svc.proc.pid, signal.SIGKILL)
    s.svc.wait(10)
    s.services.remove(s.svc)
    s.dialer.release_held.set()
    again = cfstack.Service("reminders", s.env_for())
    again.start()
    s.services.append(again)
    s.svc = again
    cfstack.wait_until(lambda: send_of(s, a)[1] == "unknown", 60, "the send marked unknown")
    assert send_of(s, a)[2] == "crashed_mid_send", send_of(s, a)
    # not before the mark was older than twice a gateway's whole exchange
    # (10 s as shipped): until then it may be another dispatcher's send in
    # flight, and the command waits
    aged = float(s.sql("SELECT extract(epoch FROM updated_at - created_at) FROM reminders.sends"
                       " WHERE send_id = '%s'" % send_id)[0][0])
    assert aged >= 20, "decided %.1f s after the mark" % aged
    # never sent again blindly: the front desk is asked to call instead
    cfstack.wait_until(lambda: reminder_status(s, a) == "not_confirmed", 30,
                       "the reminder not confirmed")
    task = "SELECT t.status FROM reminders.tasks t JOIN reminders.reminder_jobs j USING (job_id)" \
           " WHERE j.appointment_id = '%s' AND t.reason = 'not_confirmed'" \
           % common.appointment_uuid(a)
    assert s.sql(task) == [["open"]]
    # the command was read again (its offset never committed) and not sent
    # again: a later reminder's send is through first
    p2, _ = patient(s, "Vera", {"calls": True})
    a2 = common.new_id("a-after")
    book(s, a2, 1, utc(in_s(2 * 3600 + 1)), clinic=NORTH, patient=p2)
    cfstack.wait_until(lambda: (send_of(s, a2) or ("", ""))[1] == "sent", 30, "a later send")
    assert len(s.dialer.of(send_id)) == 1, s.dialer.of(send_id)
    assert cfstack.metric(again, 'clinicflow_reminders_sends_total{gateway="webhook",'
                                 'status="unknown"}') == 1
    # the dialer reports after all that the call went and the patient
    # pressed 1: the visit is confirmed, the front desk's task closes
    raw = json.dumps({"send_id": send_id, "outcome": "confirmed"}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    got = ok(s.request("POST", "/v1/hooks/reminders/generic/it-north-dialer", raw, key=None,
                       headers={"X-Clinicflow-Signature": sig}))
    assert got["status"] == "applied", got
    assert reminder_status(s, a) == "confirmed" and s.sql(task) == [["closed"]]
    again.stop()
    s.services.remove(again)


def test_a_reminder_due_while_the_service_was_down_goes_on_its_ladder(s):
    """The service is down when a reminder comes due, and back only past the
    lateness grace (20 s here): the call is not made late, and the ladder
    goes on as for any late send (no SMS consent: the visit is not
    confirmed and the front desk asks). Skipped by the scheduler itself,
    the job ended there with no send, no status and no task."""
    first = s.service_with(CLINICFLOW_REMINDERS_LATE_GRACE_S="20")
    p, _ = patient(s, "Down", {"calls": True})
    a = common.new_id("a-down-late")
    book(s, a, 1, utc(in_s(2 * 3600 + 15)), clinic=NORTH, patient=p)
    first.stop()
    s.services.remove(first)
    status, _, due = job_of(s, a)
    assert status == "pending", job_of(s, a)
    # the clock, not an event: the service is away until the grace is past
    time.sleep(max(0.0, due + 20 + 3 - time.time()))
    back = s.service_with(CLINICFLOW_REMINDERS_LATE_GRACE_S="20")
    cfstack.wait_until(lambda: send_of(s, a) is not None, 60, "the late reminder's send")
    send_id, status, reason, _ = send_of(s, a)
    assert (status, reason) == ("skipped", "late"), send_of(s, a)
    assert s.dialer.of(send_id) == []
    cfstack.wait_until(lambda: reminder_status(s, a) == "not_confirmed", 30,
                       "the reminder not confirmed")
    back.stop()
    s.services.remove(back)


if __name__ == "__main__":
    cfstack.run_on_stack(DispatchStack, [
        test_a_reminder_reaches_the_dialer_once,
        test_no_consent_no_call,
        test_a_reminder_due_while_the_windows_are_closed_goes_in_the_next,
        test_a_call_nobody_reports_on_ends_unknown,
        test_a_crash_mid_send_is_unknown_never_resent,
        test_a_reminder_due_while_the_service_was_down_goes_on_its_ladder,
    ])
