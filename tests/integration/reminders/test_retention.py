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
import uuid

import cfstack
import common
import retention_cases
from common import NET, wait_until

DAYS = {"applied_events": 10, "sms_replies": 20, "nps_surveys": 30, "campaign_pace": 40}
ENV = {"CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS": str(DAYS["applied_events"]),
       "CLINICFLOW_REMINDERS_RETENTION_SMS_REPLIES_DAYS": str(DAYS["sms_replies"]),
       "CLINICFLOW_REMINDERS_RETENTION_NPS_SURVEYS_DAYS": str(DAYS["nps_surveys"]),
       "CLINICFLOW_REMINDERS_RETENTION_CAMPAIGN_PACE_DAYS": str(DAYS["campaign_pace"]),
       "CLINICFLOW_REMINDERS_RETENTION_INTERVAL_S": "1",
       "CLINICFLOW_REMINDERS_RETENTION_CHUNK": "2"}
ROUNDS = "clinicflow_reminders_retention_rounds_total"


def removed(stack, table):
    return cfstack.metric(stack.svc, 'clinicflow_reminders_retention_removed_total{table="%s"}'
                          % table)


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
    rows = retention_cases.lease(stack.dsn, "reminders")
    assert len(rows) == 1 and rows[0][1] == "t", rows
    assert retention_cases.holder_pid(stack.dsn, "reminders") == str(stack.svc.proc.pid), rows


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
    start = cfstack.metric(stack.svc, ROUNDS)
    wait_until(lambda: cfstack.metric(stack.svc, ROUNDS) >= start + 2, 30, "two more rounds")
    assert counts(stack, tag, "answered") == [0, 0, 1, 0]
    assert counts(stack, tag, "open") == [0, 0, 1, 1]
    assert counts(stack, tag, "unanswered") == [0, 0, 0, 0]
    score = stack.sql("SELECT score FROM reminders.nps_surveys WHERE clinic_id = 'test-%s-answered'"
                      % tag)
    assert score == [["9"]], score


def test_lease_held_elsewhere(stack):
    retention_cases.lease_held_elsewhere(stack.dsn, stack.svc, "reminders",
                                         lambda tag: seed(stack, tag, "old", 1),
                                         lambda tag: counts(stack, tag, "old"))


def test_second_instance_waits(stack):
    retention_cases.second_instance_waits(stack.dsn, stack.svc, "reminders", stack.start_service,
                                          DAYS)


def test_a_memory_of_applied_ids_shorter_than_the_topic_refused(stack):
    """reminders.commands.v1 keeps its events 7 days: a dispatcher must
    remember an applied id at least that long (or for ever, 0)."""
    name = "CLINICFLOW_REMINDERS_RETENTION_APPLIED_EVENTS_DAYS"
    retention_cases.refused("reminders", stack.env_for(**ENV), name, "6")
    for value in ("7", "0"):  # taken: the service starts (and is stopped)
        svc = cfstack.Service("reminders", stack.env_for(**dict(ENV, **{name: value})))
        svc.start()
        svc.stop()

if __name__ == "__main__":
    common.run_tests([
        test_old_rows_go_young_rows_stay,
        test_answered_and_open_surveys_stay,
        test_lease_held_elsewhere,
        test_second_instance_waits,
        test_a_memory_of_applied_ids_shorter_than_the_topic_refused,
    ], extra_env=ENV)
