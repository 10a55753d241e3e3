"""Retention: the sweeper deletes the dispatchers' applied command ids,
the SMS replies taken, the NPS surveys nobody answered once expired, and
the campaign pace of past hours beyond their
CLINICFLOW_REMINDERS_RETENTION_<TABLE>_DAYS, in chunks, and keeps the
younger ones; an answered survey and one still open stay whatever their
age. The rows are written by SQL with old times, as an operator's data
would be, and looked at as an operator would. It runs only under the
lease row (reminders.leases), so an instance finding the lease held skips
the round until it expires, and a second instance does not sweep while
the first holds it."""
import os
import subprocess
import uuid

import cfstack
import common
from common import NET, wait_until

DAYS = {"applied_events": 10, "sms_replies": 20, "nps_surveys": 30, "campaign_pace": 40}
ENV = {"CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS": str(DAYS["applied_events"]),
       "CLINICFLOW_REMINDERS_RETENTION_SMS_REPLIES_DAYS": str(DAYS["sms_replies"]),
       "CLINICFLOW_REMINDERS_RETENTION_NPS_SURVEYS_DAYS": str(DAYS["nps_surveys"]),
       "CLINICFLOW_REMINDERS_RETENTION_CAMPAIGN_PACE_DAYS": str(DAYS["campaign_pace"]),
       "CLINICFLOW_REMINDERS_RETENTION_INTERVAL_S": "1",
       "CLINICFLOW_REMINDERS_RETENTION_CHUNK": "2"}
ROUNDS = "clinicflow_reminders_retention_rounds_total"
BUSY = "clinicflow_reminders_retention_lease_busy_total"


def metric(stack, name, svc=None):
    return cfstack.metric(svc or stack.svc, name)


def removed(stack, table, svc=None):
    return metric(stack, 'clinicflow_reminders_retention_removed_total{table="%s"}' % table, svc)


def insert_applied(tag, kind, days):
    return ("INSERT INTO reminders.applied_events (group_id, event_id, applied_at) VALUES"
            " ('test-{tag}-{kind}', '{e}', now() - interval '{d} days');").format(
                tag=tag, kind=kind, e=uuid.uuid4(), d=days)


def insert_reply(tag, kind, days):
    """An SMS reply taken days ago, on a channel of the test's own."""
    return ("INSERT INTO reminders.sms_replies (reply_id, network_id, channel_id, message_id,"
            " received_at, answer) VALUES ('{r}', '{n}', 'test-{tag}-{kind}', 'SM{m}',"
            " now() - interval '{d} days', 'thank you');").format(
                r=uuid.uuid4(), n=NET, tag=tag, kind=kind, m=uuid.uuid4().hex, d=days)


def insert_survey(tag, kind, expired_days, answered=False):
    """A survey sent 7 days before it expired expired_days ago (a negative
    number: it expires that many days from now), of a clinic of the
    test's own; answered: a day after it was sent."""
    answer = ("now() - interval '{a} days', 9".format(a=expired_days + 6) if answered
              else "NULL, NULL")
    return ("INSERT INTO reminders.nps_surveys (token, job_id, network_id, clinic_id,"
            " patient_id, appointment_id, language, created_at, expires_at, answered_at, score)"
            " VALUES ('{tok}', '{j}', '{n}', 'test-{tag}-{kind}', '{p}', '{a}', 'en',"
            " now() - interval '{c} days', now() - interval '{d} days', {answer});").format(
                tok=uuid.uuid4().hex, j=uuid.uuid4(), n=NET, tag=tag, kind=kind, p=uuid.uuid4(),
                a=uuid.uuid4(), c=expired_days + 7, d=expired_days, answer=answer)


def insert_pace(tag, kind, days, i):
    """A clinic's count of the clock hour days (and i hours) ago."""
    return ("INSERT INTO reminders.campaign_pace (network_id, clinic_id, hour, released) VALUES"
            " ('{n}', 'test-{tag}-{kind}',"
            " date_trunc('hour', now() - interval '{d} days') - interval '{i} hours', 2);").format(
                n=NET, tag=tag, kind=kind, d=days, i=i)


def seed(stack, tag, age, count):
    """count rows of each table aged days + 1 ("old") or days - 1 ("new")
    past their table's mark: applied ids, replies, unanswered surveys
    expired, past hours' counts."""
    a = {t: d + 1 if age == "old" else d - 1 for t, d in DAYS.items()}
    sql = ""
    for i in range(count):
        sql += insert_applied(tag, age, a["applied_events"])
        sql += insert_reply(tag, age, a["sms_replies"])
        sql += insert_survey(tag, age, a["nps_surveys"])
        sql += insert_pace(tag, age, a["campaign_pace"], i)
    stack.sql(sql)


def counts(stack, tag, kind):
    """[applied ids, replies, surveys, hours' counts] of the test's rows of
    kind."""
    return [int(v) for v in stack.sql((
        "SELECT (SELECT count(*) FROM reminders.applied_events WHERE group_id = 'test-{t}-{k}'),"
        " (SELECT count(*) FROM reminders.sms_replies WHERE channel_id = 'test-{t}-{k}'),"
        " (SELECT count(*) FROM reminders.nps_surveys WHERE clinic_id = 'test-{t}-{k}'),"
        " (SELECT count(*) FROM reminders.campaign_pace WHERE clinic_id = 'test-{t}-{k}')"
    ).format(t=tag, k=kind))[0]]


def lease(stack):
    return stack.sql("SELECT holder, expires_at > now() FROM reminders.leases"
                     " WHERE name = 'retention'")


def holder_pid(stack):
    rows = lease(stack)
    return rows[0][0].split(":")[1] if rows else None


def test_old_rows_go_young_rows_stay(stack):
    tag = uuid.uuid4().hex[:8]
    before = {t: removed(stack, t) for t in DAYS}
    seed(stack, tag, "old", 5)
    seed(stack, tag, "new", 2)
    wait_until(lambda: counts(stack, tag, "old") == [0, 0, 0, 0], 60,
               "the rows past their retention to go")
    assert counts(stack, tag, "new") == [2, 2, 2, 2]
    # In chunks of 2, all counted.
    for t in DAYS:
        assert removed(stack, t) - before[t] == 5, (t, removed(stack, t), before[t])
    rows = lease(stack)
    assert len(rows) == 1 and rows[0][1] == "t", rows
    assert holder_pid(stack) == str(stack.svc.proc.pid), rows


def test_answered_and_open_surveys_stay(stack):
    """A survey answered long ago and one whose link still works, sent long
    ago, stay; so does the current hour's pace. An unanswered one expired
    as long ago goes."""
    tag = uuid.uuid4().hex[:8]
    very_old = 3 * max(DAYS.values())
    stack.sql(insert_survey(tag, "answered", very_old, answered=True)
              + insert_survey(tag, "open", -1)
              + "UPDATE reminders.nps_surveys SET created_at = now() - interval '%d days'"
                " WHERE clinic_id = 'test-%s-open';" % (very_old, tag)
              + insert_pace(tag, "open", 0, 0)
              + insert_survey(tag, "unanswered", very_old))
    # Two whole rounds after the rows were there.
    start = metric(stack, ROUNDS)
    wait_until(lambda: metric(stack, ROUNDS) >= start + 2, 30, "two more rounds")
    assert counts(stack, tag, "answered") == [0, 0, 1, 0]
    assert counts(stack, tag, "open") == [0, 0, 1, 1]
    assert counts(stack, tag, "unanswered") == [0, 0, 0, 0]
    score = stack.sql("SELECT score FROM reminders.nps_surveys WHERE clinic_id = 'test-%s-answered'"
                      % tag)
    assert score == [["9"]], score


def test_lease_held_elsewhere(stack):
    """A lease another instance holds stops the sweep until it expires; the
    instance then takes it over."""
    stack.sql("UPDATE reminders.leases SET holder = 'elsewhere:1:1',"
              " expires_at = now() + interval '1 hour' WHERE name = 'retention'")
    start = metric(stack, BUSY)
    # Seeded once a round found the lease held (not during a round that
    # took it before the change).
    wait_until(lambda: metric(stack, BUSY) >= start + 1, 30, "a round skipped")
    tag = uuid.uuid4().hex[:8]
    seed(stack, tag, "old", 1)
    wait_until(lambda: metric(stack, BUSY) >= start + 3, 30, "two more rounds skipped")
    assert counts(stack, tag, "old") == [1, 1, 1, 1]
    stack.sql("UPDATE reminders.leases SET expires_at = now() - interval '1 second'"
              " WHERE name = 'retention'")
    wait_until(lambda: counts(stack, tag, "old") == [0, 0, 0, 0], 30, "the sweep after expiry")
    assert holder_pid(stack) == str(stack.svc.proc.pid)


def test_second_instance_waits(stack):
    """Two instances: the one holding the lease keeps it (renewed each
    round), the other only finds it busy and deletes nothing."""
    wait_until(lambda: holder_pid(stack) == str(stack.svc.proc.pid), 30,
               "the first instance to hold the lease")
    other = stack.start_service()
    try:
        wait_until(lambda: metric(stack, BUSY, other) >= 3, 30,
                   "the second instance to find it busy")
        assert metric(stack, ROUNDS, other) == 0
        assert all(removed(stack, t, other) == 0 for t in DAYS)
        assert holder_pid(stack) == str(stack.svc.proc.pid)
    finally:
        other.stop()


def test_a_memory_of_applied_ids_shorter_than_the_topic_refused(stack):
    """reminders.commands.v1 keeps its events 7 days: a dispatcher must
    remember an applied id at least that long (or for ever, 0)."""
    for value, status in (("6", 2), ("7", None), ("0", None)):
        env = dict(os.environ, **stack.env_for(**dict(
            ENV, CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS=value)))
        env.update({"CLINICFLOW_HTTP_HOST": "127.0.0.1",
                    "CLINICFLOW_HTTP_PORT": str(cfstack.free_port())})
        if status is None:  # taken: the service starts (and is stopped)
            svc = cfstack.Service("reminders", stack.env_for(**dict(
                ENV, CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS=value)))
            svc.start()
            svc.stop()
            continue
        p = subprocess.run([cfstack.bin_path("clinicflow-reminders")], env=env,
                           capture_output=True, timeout=60)
        assert p.returncode == status, (value, p.returncode, p.stderr[-800:])
        assert b"CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS" in p.stderr, p.stderr[-800:]


if __name__ == "__main__":
    common.run_tests([
        test_old_rows_go_young_rows_stay,
        test_answered_and_open_surveys_stay,
        test_lease_held_elsewhere,
        test_second_instance_waits,
        test_a_memory_of_applied_ids_shorter_than_the_topic_refused,
    ], extra_env=ENV)
