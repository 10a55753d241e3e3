"""Missed calls become callback tasks on clinicflow.tasks.v1: a missed call
opens one, another missed call from the contact updates it, an answered call
with the contact (here outbound: the clinic called back) closes it with the
time to callback; one left open past the lost-after period expires once;
a block-listed caller opens none. Times are event times: the calls are
dated relative to now, and the lost one is backdated instead of waited for."""
import json
import random
import re
import uuid
from datetime import datetime, timedelta, timezone

import cfstack
from cfstack import HeldSession
from common import (TASKS, Stack, call_body, call_on, contact_key, demo_network, events_for,
                    metric, tasks_of, wait_consumed, wait_task, wait_until)

CALLS = "clinicflow.calls.v1"
LOST_AFTER_S = 3600


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_number():
    return "+7916%07d" % random.randrange(10 ** 7)


def missed_call(stack, number, ended):
    body = call_body(event="ended", time=iso(ended), outcome="missed", ring_seconds=25,
                     **{"from": number})
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    return json.loads(reply)["call_id"]


def post(stack, body):
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    return json.loads(reply)["call_id"]


def missed_minutes_ago(stack, minutes):
    """A new contact's missed call that ended minutes ago, once its task is
    open: (number, contact key, end, the task.opened data)."""
    number = new_number()
    ckey = contact_key(number)
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes)
    missed_call(stack, number, end)
    opened = wait_task(stack, ckey, "clinicflow.task.opened")["data"]
    # The event goes out before the consumer commits the row: a test that
    # changes the row must wait for it, or its UPDATE finds nothing.
    wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.tasks"
                                    " WHERE task_id = '%s'" % opened["task_id"]) == [["1"]],
               30, "the task's row")
    return number, ckey, end, opened


def wait_tasks_consumed(stack, timeout=60):
    """Until the fold has folded every fact posted so far and the callbacks
    consumer has committed all the call events that made."""
    stack.wait_folded(timeout)
    wait_consumed(stack, "clinicflow-calls-tasks", CALLS, timeout)


def test_missed_call_task_updated_then_closed_by_callback(stack):
    number = new_number()
    ckey = contact_key(number)
    first_end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=20)
    source_call = missed_call(stack, number, first_end)

    opened_ev = wait_task(stack, ckey, "clinicflow.task.opened")
    assert opened_ev["source"] == "/clinicflow/calls/fold", opened_ev
    opened = opened_ev["data"]
    assert opened["kind"] == "callback" and opened["status"] == "open", opened
    assert opened["source_call_id"] == source_call and opened["missed_calls"] == 1, opened
    assert opened["opened_at"] == iso(first_end).replace("Z", ".000Z"), opened
    assert opened["due_at"] == iso(first_end + timedelta(seconds=900)).replace("Z", ".000Z")
    assert opened["contact"]["e164"] == number and opened["clinic_id"], opened

    missed_call(stack, number, first_end + timedelta(minutes=2))
    updated = wait_task(stack, ckey, "clinicflow.task.updated")["data"]
    assert updated["missed_calls"] == 2 and updated["task_id"] == opened["task_id"], updated

    # The clinic calls back 10 minutes after the first missed call ended.
    answered = first_end + timedelta(minutes=10)
    body = call_body(event="ended", time=iso(answered + timedelta(minutes=3)),
                     direction="outbound", answered_at=iso(answered), talk_seconds=180,
                     **{"from": "+7 495 000-10-01", "to": number})
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    callback_call = json.loads(reply)["call_id"]
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["status"] == "closed" and closed["on_time"] is True, closed
    assert closed["seconds_to_callback"] == 600, closed
    assert closed["closing_call_id"] == callback_call, closed
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls FROM calls.tasks"
                        " WHERE task_id = '%s'" % opened["task_id"])
    assert rows == [["closed", "2"]], rows

    # A new missed call after the callback opens a new task.
    missed_call(stack, number, answered + timedelta(minutes=5))
    wait_task(stack, ckey, "clinicflow.task.opened", count=2)


def test_a_miss_after_the_open_tasks_lost_time_gets_a_task_of_its_own(stack):
    """The contact's next missed call ends after the open task's lost time
    (here in the future: the sweeper, which goes by the clock, has not
    come to the task yet): the task is over by then, so it expires, dated
    at its lost time, and the new miss opens a task of its own. Before,
    the miss joined the lost task (missed_calls 2) and was lost with it."""
    number = new_number()
    ckey = contact_key(number)
    first_end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
    missed_call(stack, number, first_end)
    first = wait_task(stack, ckey, "clinicflow.task.opened")["data"]
    missed_call(stack, number, first_end + timedelta(seconds=LOST_AFTER_S + 60))
    expired = wait_task(stack, ckey, "clinicflow.task.expired")
    assert expired["data"]["task_id"] == first["task_id"], expired
    assert expired["data"]["missed_calls"] == 1, expired
    lost_at = first_end + timedelta(seconds=LOST_AFTER_S)
    assert expired["time"] == lost_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), expired
    wait_task(stack, ckey, "clinicflow.task.opened", count=2)
    (second,) = [e["data"] for e in tasks_of(stack, ckey) if e["type"] == "clinicflow.task.opened"
                 and e["data"]["task_id"] != first["task_id"]]  # tasks sit on their partitions
    assert second["missed_calls"] == 1, second
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls FROM calls.tasks"
                        " WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
    assert rows == [["expired", "1"], ["open", "1"]], rows


def test_late_callback_is_not_on_time(stack):
    number, ckey, end, _ = missed_minutes_ago(stack, 50)
    answered = end + timedelta(minutes=40)
    # The patient calls again and is answered: that closes it too, late.
    post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=1)),
                          answered_at=iso(answered), talk_seconds=60, **{"from": number}))
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["on_time"] is False and closed["seconds_to_callback"] == 2400, closed


def test_lost_task_expires_once(stack):
    number = new_number()
    ckey = contact_key(number)
    long_ago = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(
        seconds=LOST_AFTER_S + 600)
    missed_call(stack, number, long_ago)
    expired = wait_task(stack, ckey, "clinicflow.task.expired")["data"]
    assert expired["status"] == "expired" and "closed_at" not in expired, expired

    # Another lost task expiring proves the sweeper ran again since.
    other = new_number()
    missed_call(stack, other, long_ago)
    wait_task(stack, contact_key(other), "clinicflow.task.expired")
    assert len([e for e in tasks_of(stack, ckey) if e["type"] == "clinicflow.task.expired"]) == 1
    rows = cfstack.psql(stack.dsn, "SELECT status FROM calls.tasks WHERE contact_key = '%s'"
                        % ckey)
    assert rows == [["expired"]], rows


def contact_lock(stack, ckey):
    """Holds the contact's advisory lock, the one the callbacks consumer
    takes for each call event: a consumer that meets a call of that contact
    waits, and with it every later call event."""
    key = "%s/%s" % (demo_network()["id"], ckey)
    return HeldSession(stack.dsn, "SELECT pg_advisory_lock(hashtextextended('%s', 0));" % key)


def hold_up_callbacks(stack, end):
    """Holds the callbacks consumer up: a new contact's missed call (ended
    at end) waits for that contact's lock, held here, and every later call
    event waits behind it. (the other number, the held lock); release it."""
    other = new_number()
    lock = contact_lock(stack, contact_key(other))
    try:
        missed_call(stack, other, end)
        wait_until(lambda: lock.waiters() >= 1, 60,
                   "the callbacks consumer to wait for the other contact")
    except BaseException:
        lock.release()
        raise
    return other, lock


def test_overdue_task_closed_by_a_callback_not_yet_applied(stack):
    """The callbacks consumer is behind on calls.v1 (here: stuck on another
    contact) while the fold has stored the callback: the sweeper closes the
    overdue task with that callback instead of expiring it as lost, and the
    consumer, once it catches up, adds nothing."""
    number, ckey, end, opened = missed_minutes_ago(stack, 30)
    other, lock = hold_up_callbacks(stack, end)
    try:
        answered = end + timedelta(minutes=5)
        callback = post(stack, call_body(
            event="ended", time=iso(answered + timedelta(minutes=2)), direction="outbound",
            answered_at=iso(answered), talk_seconds=120,
            **{"from": "+7 495 000-10-01", "to": number}))
        wait_until(lambda: cfstack.psql(stack.dsn, "SELECT outcome FROM calls.calls"
                                        " WHERE call_id = '%s'" % callback) == [["answered"]],
                   60, "the fold to store the callback")
        # The task's lost-after period passes (backdated, not waited for).
        cfstack.psql(stack.dsn, "UPDATE calls.tasks SET opened_at = opened_at"
                     " - make_interval(secs => %d) WHERE task_id = '%s'"
                     % (LOST_AFTER_S, opened["task_id"]))
        ends = ("clinicflow.task.closed", "clinicflow.task.expired")
        wait_until(lambda: any(e["type"] in ends for e in tasks_of(stack, ckey)), 60,
                   "the sweeper to settle the overdue task")
        assert [e["type"] for e in tasks_of(stack, ckey)] == [
            "clinicflow.task.opened", "clinicflow.task.closed"]
        closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
        assert closed["closing_call_id"] == callback and closed["on_time"] is True, closed
        assert closed["seconds_to_callback"] == 300, closed
        assert metric(stack.svc, "clinicflow_calls_tasks_swept_closed_total") >= 1
    finally:
        lock.release()
    wait_task(stack, contact_key(other), "clinicflow.task.opened")
    wait_tasks_consumed(stack)
    assert [e["type"] for e in tasks_of(stack, ckey)] == [
        "clinicflow.task.opened", "clinicflow.task.closed"]
    rows = cfstack.psql(stack.dsn, "SELECT status FROM calls.tasks WHERE contact_key = '%s'"
                        % ckey)
    assert rows == [["closed"]], rows


REAL_LOST_AFTER_S = 30  # the tests below wait for it in real time


def real_time_stack(fold_runners):
    """A stack of its own whose tasks are lost REAL_LOST_AFTER_S after
    their miss, swept every 200 ms, folding with that many runners, each
    holding its share of calls.raw's 6 partitions (with two, 0-2 and 3-5)."""
    stack = Stack(extra_env={"CLINICFLOW_CALLS_TASK_LOST_AFTER_S": str(REAL_LOST_AFTER_S),
                             "CLINICFLOW_CALLS_SWEEP_INTERVAL_MS": "200",
                             "CLINICFLOW_CALLS_FOLD_RUNNERS": str(fold_runners)})
    share = "consumer clinicflow-calls-fold: assigned %d partitions" % (6 // fold_runners)
    try:
        wait_until(lambda: [r.get("msg") for r in stack.svc.log_records()].count(share)
                   >= fold_runners, 60, "each fold runner to hold its partitions")
    except BaseException:
        stack.close()
        raise
    return stack


def hold_first_fold_runner(stack, tag, at):
    """Holds the fold runner of calls.raw's partition 0 (with two, that of
    0-2; with one, the whole fold) in a batch: a missed call on partition
    0 from a new contact whose unique-decision lock the returned session
    holds. Release it to let the runner go on."""
    other = new_number()
    lock = HeldSession(stack.dsn, "SELECT pg_advisory_lock(hashtextextended('%s/%s', 1));"
                       % (demo_network()["id"], contact_key(other)))
    try:
        post(stack, call_body(call_on(0, tag), time=iso(at), outcome="missed", ring_seconds=25,
                              **{"from": other}))
        wait_until(lambda: lock.waiters() >= 1, 30, "a fold runner to wait")
    except BaseException:
        lock.release()
        raise
    return lock


def call_back(stack, number, answered, key=None):
    """The clinic's one-second callback to number, answered at answered,
    as call key (None: a new one); its call id."""
    return post(stack, call_body(key, time=iso(answered + timedelta(seconds=1)),
                                 direction="outbound", answered_at=iso(answered), talk_seconds=1,
                                 **{"from": "+7 495 000-10-01", "to": number}))


def wait_consumer_waits(stack, ckey, what):
    """Until the callbacks consumer logs that it waits for the fold about
    what, or (the code before it waited) a task of the contact expired;
    then no task of it has."""
    def waits_or_expired():
        waits = any(what + " is past its lost time" in r.get("msg", "")
                    for r in stack.svc.log_records())
        return waits or any(e["type"] == "clinicflow.task.expired" for e in tasks_of(stack, ckey))

    wait_until(waits_or_expired, 60, "the callbacks consumer to wait, or a task to expire")
    assert [e["type"] for e in tasks_of(stack, ckey)] == ["clinicflow.task.opened"]


def test_overdue_task_waits_for_the_fold(_stack):
    """The fold is behind (stuck on another contact, whose lock the test
    holds) while a callback it has not stored waits on calls.raw, acknowledged
    before the task's deadline: the task passes its deadline without
    expiring (clinicflow_calls_tasks_expiry_held), and closes with the
    callback once the fold has it. Real time here: the lost-after period is
    30 s, and its end is awaited through the gauge."""
    lost_after = REAL_LOST_AFTER_S
    # One fold runner: a runner stuck on a lock stops the whole fold, as an
    # instance folding alone would be (with two, the other runner's
    # partitions would take the callback).
    stack = real_time_stack(fold_runners=1)
    try:
        number = new_number()
        ckey = contact_key(number)
        end = datetime.now(timezone.utc).replace(microsecond=0)
        missed_call(stack, number, end)
        wait_task(stack, ckey, "clinicflow.task.opened")
        lock = hold_first_fold_runner(stack, "held-0", end)
        try:
            callback = call_back(stack, number, end + timedelta(seconds=1))
            # Otherwise the fold was stopped too late to prove anything.
            assert datetime.now(timezone.utc) < end + timedelta(seconds=lost_after - 2), \
                "the set-up took longer than the lost-after period"
            wait_until(lambda: metric(stack.svc, "clinicflow_calls_tasks_expiry_held") >= 1, 60,
                       "the deadline to pass with the task held")
            assert [e["type"] for e in tasks_of(stack, ckey)] == ["clinicflow.task.opened"]
        finally:
            lock.release()
        closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
        assert closed["closing_call_id"] == callback and closed["on_time"] is True, closed
        wait_tasks_consumed(stack)
        assert [e["type"] for e in tasks_of(stack, ckey)] == [
            "clinicflow.task.opened", "clinicflow.task.closed"]
        wait_until(lambda: metric(stack.svc, "clinicflow_calls_tasks_expiry_held") == 0, 30,
                   "no task held")
    finally:
        stack.close()


def test_a_miss_after_the_lost_time_waits_for_a_callback_the_fold_holds(_stack):
    """The clinic called back in the task's window, and the fold still
    holds that callback (one of its runners stuck on another contact,
    whose lock the test holds) when the contact's next miss, past the
    task's lost time and folded by the other runner, reaches the callbacks
    consumer: the task is not given up as lost while the fold is behind;
    once the fold has the callback, it closes the task on time, and the
    miss opens a task of its own. Before, the miss expired the task at
    once, and the callback, folded later, was dropped: a task called back
    on time counted as lost. Real time, as above: the lost-after period is
    30 s."""
    lost_after = REAL_LOST_AFTER_S
    stack = real_time_stack(fold_runners=2)
    try:
        number = new_number()
        ckey = contact_key(number)
        end = datetime.now(timezone.utc).replace(microsecond=0)
        # partitions 0-2 are one fold runner's, 3-5 the other's
        post(stack, call_body(call_on(5, "first"), time=iso(end), outcome="missed",
                              ring_seconds=25, **{"from": number}))
        first = wait_task(stack, ckey, "clinicflow.task.opened")["data"]
        lock = hold_first_fold_runner(stack, "held", end)
        try:
            callback = call_back(stack, number, end + timedelta(seconds=1), call_on(0, "callback"))
            assert datetime.now(timezone.utc) < end + timedelta(seconds=lost_after - 2), \
                "the set-up took longer than the lost-after period"
            wait_until(lambda: metric(stack.svc, "clinicflow_calls_tasks_expiry_held") >= 1, 60,
                       "the lost time to pass with the task held")
            # (a few seconds past the lost time: the times are whole seconds)
            post(stack, call_body(call_on(5, "after"),
                                  time=iso(end + timedelta(seconds=lost_after + 5)),
                                  outcome="missed", ring_seconds=25, **{"from": number}))

            wait_consumer_waits(stack, ckey, "the open task")
        finally:
            lock.release()
        closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
        assert closed["task_id"] == first["task_id"], closed
        assert closed["closing_call_id"] == callback and closed["on_time"] is True, closed
        wait_task(stack, ckey, "clinicflow.task.opened", count=2)
        wait_tasks_consumed(stack)
        assert "clinicflow.task.expired" not in [e["type"] for e in tasks_of(stack, ckey)]
        rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls FROM calls.tasks"
                            " WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
        assert rows == [["closed", "1"], ["open", "1"]], rows
    finally:
        stack.close()


def test_a_miss_told_late_waits_for_a_callback_the_fold_holds(_stack):
    """A miss told after a later one opened the contact's task, whose wait
    ended before that task opened: lost apart, unless a callback settled
    it. The callback that did is still in the fold (one of its runners
    stuck on another contact, whose lock the test holds): the miss is not
    taken for lost while the fold is behind; once the fold has the
    callback, the miss gets a task of its own closed with it, and the open
    task stays. Before, the miss was lost at once (task.opened, then
    task.expired), and the callback, folded later, closed nothing."""
    stack = real_time_stack(fold_runners=2)
    try:
        number = new_number()
        ckey = contact_key(number)
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=10)
        lock = hold_first_fold_runner(stack, "held-2", t0)
        try:
            callback = call_back(stack, number, t0 + timedelta(seconds=2),
                                 call_on(0, "callback-2"))
            # the later miss, after the first one's lost time, opens the task
            post(stack, call_body(
                call_on(5, "later-2"), time=iso(t0 + timedelta(seconds=REAL_LOST_AFTER_S + 5)),
                outcome="missed", ring_seconds=25, **{"from": number}))
            opened = wait_task(stack, ckey, "clinicflow.task.opened")["data"]
            # the first miss, told late
            first = post(stack, call_body(call_on(4, "first-2"), time=iso(t0), outcome="missed",
                                          ring_seconds=25, **{"from": number}))

            wait_consumer_waits(stack, ckey, "a miss told late")
        finally:
            lock.release()
        closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
        assert closed["closing_call_id"] == callback and closed["task_id"] != opened["task_id"], \
            closed
        assert closed["source_call_id"] == first, closed
        wait_tasks_consumed(stack)
        assert "clinicflow.task.expired" not in [e["type"] for e in tasks_of(stack, ckey)]
        rows = cfstack.psql(stack.dsn, "SELECT status FROM calls.tasks"
                            " WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
        assert rows == [["closed"], ["open"]], rows
    finally:
        stack.close()


def test_callback_to_voicemail_does_not_close(stack):
    """The clinic's callback reached the patient's voicemail: the line was
    answered, but not by the patient, so the task stays open until a call
    answered by a person."""
    number, ckey, end, _ = missed_minutes_ago(stack, 30)
    machine = end + timedelta(minutes=5)
    post(stack, call_body(event="ended", time=iso(machine + timedelta(seconds=40)),
                          direction="outbound", answered_at=iso(machine), outcome="voicemail",
                          **{"from": "+7 495 000-10-01", "to": number}))
    wait_tasks_consumed(stack)
    assert [e["type"] for e in tasks_of(stack, ckey)] == ["clinicflow.task.opened"]
    person = end + timedelta(minutes=8)
    person_call = post(stack, call_body(
        event="ended", time=iso(person + timedelta(minutes=2)), direction="outbound",
        answered_at=iso(person), talk_seconds=120, **{"from": "+7 495 000-10-01", "to": number}))
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["closing_call_id"] == person_call and closed["seconds_to_callback"] == 480


def test_missed_call_after_the_callback_seen_first(stack):
    """A missed call that came after the callback but was seen before it
    (another partition) is not settled by that callback: it leaves the closed
    task for a task of its own."""
    number, ckey, first_end, first = missed_minutes_ago(stack, 40)
    answered = first_end + timedelta(minutes=10)
    later_miss = missed_call(stack, number, answered + timedelta(minutes=5))
    assert wait_task(stack, ckey, "clinicflow.task.updated")["data"]["missed_calls"] == 2
    post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=2)),
                          direction="outbound", answered_at=iso(answered), talk_seconds=120,
                          **{"from": "+7 495 000-10-01", "to": number}))
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["task_id"] == first["task_id"] and closed["missed_calls"] == 1, closed
    assert closed["seconds_to_callback"] == 600 and closed["on_time"] is True, closed
    wait_task(stack, ckey, "clinicflow.task.opened", count=2)
    # Task events are keyed by task, so the two tasks' are on any partitions.
    second = [e["data"] for e in tasks_of(stack, ckey) if e["type"] == "clinicflow.task.opened"
              and e["data"]["task_id"] != first["task_id"]][0]
    assert second["source_call_id"] == later_miss and second["missed_calls"] == 1, second
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls FROM calls.tasks"
                        " WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
    assert rows == [["closed", "1"], ["open", "1"]], rows


def unanswered_with_task(stack, ended_after_min):
    """A new contact's call, started 10 minutes ago and reported only at its
    end, as missed: (number, contact key, start, the PBX's call id, the
    call id, the task.opened data)."""
    number = new_number()
    ckey = contact_key(number)
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    pbx_id = "pbx-" + uuid.uuid4().hex[:12]
    call_id = post(stack, call_body(call_id=pbx_id, event="ended", time=iso(start + timedelta(
        minutes=ended_after_min)), started_at=iso(start), outcome="missed", **{"from": number}))
    opened = wait_task(stack, ckey, "clinicflow.task.opened")["data"]
    return number, ckey, start, pbx_id, call_id, opened


def answer_late(stack, pbx_id, start, number):
    """The call's answer, 6 s in, reported after its end: the PBX's end
    report again (another event id), now saying answered."""
    answered = iso(start + timedelta(seconds=6))
    post(stack, call_body(call_id=pbx_id, event="ended", event_id=pbx_id + "-ended-again",
                          time=answered, started_at=iso(start), answered_at=answered,
                          outcome="answered", **{"from": number}))


def test_missed_call_answered_after_all(stack):
    """The answer of a call arrives after its end was taken for a miss (a
    webhook retried after a 503): the call is withdrawn from the task it
    opened, which closes with it instead of expiring as lost."""
    number, ckey, start, pbx_id, call_id, opened = unanswered_with_task(stack, 3)
    assert opened["source_call_id"] == call_id, opened
    answer_late(stack, pbx_id, start, number)
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["task_id"] == opened["task_id"], closed
    assert closed["closing_call_id"] == call_id == closed["source_call_id"], closed


def tag_result(stack, call_id):
    """Tags the call with a result, once its call.updated is on calls.v1."""
    st, _, reply = cfstack.http(
        "POST", stack.svc.url("/v1/calls/%s/result" % call_id), {"result": "info"},
        {"Authorization": "Bearer " + stack.keys["ingest"]})
    assert st == 202, reply
    wait_until(lambda: any(e["type"] == "clinicflow.call.updated" and "result" in e["data"]
                           for e in events_for(stack.reader(CALLS).read(), call_id)),
               60, "the result's call.updated")


def test_answered_after_all_with_another_miss_waiting(stack):
    """The task's first call turns out answered while a later miss waits in
    it: the later miss becomes the task's source, and the first call's
    further events (a result tagged on it) change nothing more."""
    number, ckey, start, pbx_id, first, opened = unanswered_with_task(stack, 1)
    later_end = start + timedelta(minutes=4)
    later = missed_call(stack, number, later_end)
    wait_task(stack, ckey, "clinicflow.task.updated")
    answer_late(stack, pbx_id, start, number)
    moved = wait_task(stack, ckey, "clinicflow.task.updated", count=2)["data"]
    assert moved["task_id"] == opened["task_id"] and moved["missed_calls"] == 1, moved
    assert moved["source_call_id"] == later, moved
    assert moved["opened_at"] == iso(later_end).replace("Z", ".000Z"), moved
    assert moved["due_at"] == iso(later_end + timedelta(seconds=900)).replace("Z", ".000Z")
    tag_result(stack, first)
    wait_tasks_consumed(stack)
    assert [e["type"] for e in tasks_of(stack, ckey)].count("clinicflow.task.updated") == 2
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls, opened_at = '%s'"
                        " FROM calls.tasks WHERE contact_key = '%s'" % (iso(later_end), ckey))
    assert rows == [["open", "1", "t"]], rows


def test_a_call_of_an_expired_task_seen_again_leaves_the_open_one(stack):
    """A missed call whose task expired long ago, tagged with a result while
    the contact's newer miss has a task open: it is still a miss, but it
    counts once, in the task it opened; the open task keeps its source, its
    opening and its due time."""
    number = new_number()
    ckey = contact_key(number)
    long_ago = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(
        seconds=LOST_AFTER_S + 600)
    first = missed_call(stack, number, long_ago)
    wait_task(stack, ckey, "clinicflow.task.expired")
    later_end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
    later = missed_call(stack, number, later_end)
    found = []
    wait_until(lambda: found.extend(e["data"] for e in tasks_of(stack, ckey)
                                    if e["type"] == "clinicflow.task.opened"
                                    and e["data"]["source_call_id"] == later) or found,
               60, "the later miss's task")
    opened = found[0]
    tag_result(stack, first)
    wait_tasks_consumed(stack)
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls, opened_at = '%s',"
                        " doc->>'source_call_id' FROM calls.tasks WHERE task_id = '%s'"
                        % (iso(later_end), opened["task_id"]))
    assert rows == [["open", "1", "t", later]], rows
    assert not [e for e in tasks_of(stack, ckey) if e["type"] == "clinicflow.task.updated"
                and e["data"]["task_id"] == opened["task_id"]]


def test_blocked_caller_opens_no_task(stack):
    blocked = cfstack.demo_network()["blocklist"][0]
    end = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    call_id = missed_call(stack, blocked, end)
    wait_until(lambda: any(e["type"] == "clinicflow.call.ended" for e in
                           events_for(stack.reader(CALLS).read(), call_id)), 60, "the call")
    ended = [e for e in events_for(stack.reader(CALLS).read(), call_id)
             if e["type"] == "clinicflow.call.ended"][0]
    assert ended["data"]["blocked"] is True, ended["data"]
    wait_tasks_consumed(stack)
    assert tasks_of(stack, contact_key(blocked)) == []


def test_expiry_decided_while_kafka_is_down_follows_once_it_is_back(stack):
    """The brokers are down when a task passes its lost-after period: the
    sweeper still decides, and its decision is committed with the event it
    owes (in calls.outbox), which goes out once the brokers are back. A
    callback that comes after that does not reopen or close the task: the
    store and the topic agree that it expired."""
    number, ckey, end, opened = missed_minutes_ago(stack, 30)
    stack.broker.down()
    try:
        cfstack.psql(stack.dsn, "UPDATE calls.tasks SET opened_at = opened_at"
                     " - make_interval(secs => %d) WHERE task_id = '%s'"
                     % (LOST_AFTER_S, opened["task_id"]))
        status = lambda: cfstack.psql(  # noqa: E731
            stack.dsn, "SELECT status FROM calls.tasks WHERE task_id = '%s'" % opened["task_id"])
        wait_until(lambda: status() == [["expired"]], 60,
                   "the sweeper to expire the task with the brokers down")
        staged = cfstack.psql(stack.dsn, "SELECT topic, key FROM calls.outbox")
        assert ["clinicflow.tasks.v1", opened["task_id"]] in staged, staged
        wait_until(lambda: metric(stack.svc, "clinicflow_calls_outbox_pending") >= 1, 30,
                   "the staged event to show on /metrics")
    finally:
        stack.broker.up()
        wait_until(lambda: cfstack.http("GET", stack.svc.url("/readyz"))[0] == 200, 60,
                   "the service ready again")
    expired = wait_task(stack, ckey, "clinicflow.task.expired", timeout=90)["data"]
    assert expired["task_id"] == opened["task_id"] and expired["status"] == "expired", expired
    wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.outbox") == [["0"]],
               60, "the outbox to empty")

    answered = end + timedelta(minutes=10)
    callback = post(stack, call_body(
        event="ended", time=iso(answered + timedelta(minutes=1)), direction="outbound",
        answered_at=iso(answered), talk_seconds=60, **{"from": "+7 495 000-10-01", "to": number}))
    wait_tasks_consumed(stack)
    assert events_for(stack.reader(CALLS).read(), callback)
    assert [e["type"] for e in tasks_of(stack, ckey)] == [
        "clinicflow.task.opened", "clinicflow.task.expired"]
    assert status() == [["expired"]]


def test_callbacks_wait_for_the_sweepers_staged_events(stack):
    """The sweeper has expired a task, but its task.expired is still staged
    (here the test holds the relay's lock; in life Kafka is slow or down).
    A new missed call from the contact waits for it: the callbacks consumer
    does not open the next task before the topic has the old one's end."""
    number, ckey, end, opened = missed_minutes_ago(stack, 30)
    retries = 'clinicflow_consumer_retries_total{group="clinicflow-calls-tasks"}'
    relay = HeldSession(stack.dsn, "SELECT pg_advisory_lock(hashtext('clinicflow.outbox'),"
                        " hashtext('\"calls\".outbox'));")
    try:
        # opened a lost-after period earlier, column and document: lost
        # when the new miss ends, so that miss is not the task's
        cfstack.psql(stack.dsn, "UPDATE calls.tasks SET opened_at = opened_at"
                     " - make_interval(secs => %d), doc = jsonb_set(doc, '{opened_at}',"
                     " to_jsonb(to_char((opened_at - make_interval(secs => %d)) AT TIME ZONE"
                     " 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))) WHERE task_id = '%s'"
                     % (LOST_AFTER_S, LOST_AFTER_S, opened["task_id"]))
        wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.outbox o"
                                        " JOIN calls.tasks t ON t.task_id = o.key::uuid"
                                        " WHERE t.task_id = '%s' AND t.status = 'expired'"
                                        % opened["task_id"]) == [["1"]],
                   60, "the expiry staged, not produced")
        before = metric(stack.svc, retries)
        missed_call(stack, number, end + timedelta(minutes=20))
        wait_until(lambda: metric(stack.svc, retries) >= before + 2, 60,
                   "the callbacks consumer to wait for the staged expiry")
        assert [e["type"] for e in tasks_of(stack, ckey)] == ["clinicflow.task.opened"]
        rows = cfstack.psql(stack.dsn, "SELECT status FROM calls.tasks WHERE contact_key = '%s'"
                            % ckey)
        assert rows == [["expired"]], rows
    finally:
        relay.release()
    wait_task(stack, ckey, "clinicflow.task.opened", count=2)
    types = [e["type"] for e in tasks_of(stack, ckey)]
    assert types.count("clinicflow.task.expired") == 1, types
    rows = cfstack.psql(stack.dsn, "SELECT status FROM calls.tasks WHERE contact_key = '%s'"
                        " ORDER BY opened_at" % ckey)
    assert rows == [["expired"], ["open"]], rows


def test_task_whose_document_does_not_read_still_expires(stack):
    """A task row whose document someone broke (here: replaced by a string)
    expires from its columns, with a valid event, instead of staying open
    at the head of every sweep."""
    number, ckey, end, opened = missed_minutes_ago(stack, 30)
    cfstack.psql(stack.dsn, "UPDATE calls.tasks SET doc = '\"broken\"'::jsonb,"
                 " opened_at = opened_at - make_interval(secs => %d) WHERE task_id = '%s'"
                 % (LOST_AFTER_S, opened["task_id"]))
    expired = wait_task(stack, ckey, "clinicflow.task.expired")["data"]
    assert expired["task_id"] == opened["task_id"] and expired["status"] == "expired", expired
    assert expired["missed_calls"] == 1 and expired["clinic_id"] == opened["clinic_id"], expired


def test_callback_after_the_deadline_does_not_close(_stack):
    """A callback answered after the task's lost-after period, while the task
    is still open (its sweeper has not run yet: here it runs once an hour),
    does not close it as called back: the call was lost. A sweeper then
    expires the task, and does not take that callback either."""
    s = Stack(extra_env={"CLINICFLOW_CALLS_TASK_LOST_AFTER_S": str(LOST_AFTER_S),
                         "CLINICFLOW_CALLS_SWEEP_INTERVAL_MS": "3600000"})
    try:
        number, ckey, end, opened = missed_minutes_ago(s, 2 * LOST_AFTER_S // 60)
        answered = end + timedelta(seconds=LOST_AFTER_S + 600)
        post(s, call_body(event="ended", time=iso(answered + timedelta(minutes=2)),
                          direction="outbound", answered_at=iso(answered), talk_seconds=120,
                          **{"from": "+7 495 000-10-01", "to": number}))
        wait_tasks_consumed(s)
        assert [e["type"] for e in tasks_of(s, ckey)] == ["clinicflow.task.opened"]
        rows = cfstack.psql(s.dsn, "SELECT status FROM calls.tasks WHERE task_id = '%s'"
                            % opened["task_id"])
        assert rows == [["open"]], rows
        # The same database with a sweeper that runs: the task expires.
        s.svc.stop()
        s.extra_env["CLINICFLOW_CALLS_SWEEP_INTERVAL_MS"] = "200"
        s.services = [s.start_service()]
        s.svc = s.services[0]
        expired = wait_task(s, ckey, "clinicflow.task.expired")["data"]
        assert expired["task_id"] == opened["task_id"], expired
        assert [e["type"] for e in tasks_of(s, ckey)] == [
            "clinicflow.task.opened", "clinicflow.task.expired"]
    finally:
        s.close()


def test_earlier_miss_seen_later_moves_the_opening(stack):
    """A missed call that ended before the open task opened, seen after it
    (another partition, a retried webhook): the task opens at its end, due
    an SLA after it, with it as the source."""
    number, ckey, later_end, opened = missed_minutes_ago(stack, 20)
    earlier_end = later_end - timedelta(minutes=10)
    earlier = missed_call(stack, number, earlier_end)
    updated = wait_task(stack, ckey, "clinicflow.task.updated")["data"]
    assert updated["task_id"] == opened["task_id"] and updated["missed_calls"] == 2, updated
    assert updated["opened_at"] == iso(earlier_end).replace("Z", ".000Z"), updated
    assert updated["due_at"] == iso(earlier_end + timedelta(seconds=900)).replace(
        "Z", ".000Z"), updated
    assert updated["source_call_id"] == earlier, updated
    rows = cfstack.psql(stack.dsn, "SELECT opened_at = '%s', due_at = '%s', missed_calls"
                        " FROM calls.tasks WHERE task_id = '%s'"
                        % (iso(earlier_end), iso(earlier_end + timedelta(seconds=900)),
                           opened["task_id"]))
    assert rows == [["t", "t", "2"]], rows


def test_earlier_miss_seen_later_is_settled_by_the_callback_between(stack):
    """The clinic called back between an earlier miss and a later one, and
    the earlier miss is seen last: the callback settled it, so it gets a
    task of its own, closed with that callback (on time), and the later
    miss's task stays as it was."""
    number, ckey, later_end, first = missed_minutes_ago(stack, 20)
    earlier_end = later_end - timedelta(minutes=10)
    answered = earlier_end + timedelta(minutes=5)
    callback = post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=1)),
                                     direction="outbound", answered_at=iso(answered),
                                     talk_seconds=60,
                                     **{"from": "+7 495 000-10-01", "to": number}))
    # Applied before the earlier miss comes: too early for the task then.
    wait_tasks_consumed(stack)
    assert [e["type"] for e in tasks_of(stack, ckey)] == ["clinicflow.task.opened"]
    earlier = missed_call(stack, number, earlier_end)
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["task_id"] != first["task_id"] and closed["closing_call_id"] == callback, closed
    assert closed["source_call_id"] == earlier and closed["missed_calls"] == 1, closed
    assert closed["opened_at"] == iso(earlier_end).replace("Z", ".000Z"), closed
    assert closed["seconds_to_callback"] == 300 and closed["on_time"] is True, closed
    wait_tasks_consumed(stack)
    # Keyed by task: the two tasks' events are on any partitions.
    assert sorted((e["data"]["task_id"], e["type"]) for e in tasks_of(stack, ckey)) == sorted([
        (first["task_id"], "clinicflow.task.opened"),
        (closed["task_id"], "clinicflow.task.opened"),
        (closed["task_id"], "clinicflow.task.closed")])
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls, doc->>'source_call_id'"
                        " FROM calls.tasks WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
    assert rows == [["closed", "1", earlier], ["open", "1", first["source_call_id"]]], rows


def test_an_earlier_miss_whose_wait_ended_before_the_task_is_lost_apart(stack):
    """A missed call seen long after it ended (a CDR uploaded late), whose
    whole wait had passed, unanswered, before the open task opened: in
    order its task would have expired before that one opened, so it gets a
    task of its own, expired at once, and the open task keeps its opening:
    a callback now still closes it."""
    number, ckey, later_end, opened = missed_minutes_ago(stack, 20)
    earlier_end = later_end - timedelta(seconds=3 * LOST_AFTER_S)
    earlier = missed_call(stack, number, earlier_end)
    expired = wait_task(stack, ckey, "clinicflow.task.expired")["data"]
    assert expired["task_id"] != opened["task_id"], expired
    assert expired["source_call_id"] == earlier and expired["missed_calls"] == 1, expired
    assert expired["opened_at"] == iso(earlier_end).replace("Z", ".000Z"), expired
    answered = datetime.now(timezone.utc).replace(microsecond=0)
    callback = post(stack, call_body(event="ended", time=iso(answered + timedelta(seconds=30)),
                                     direction="outbound", answered_at=iso(answered),
                                     talk_seconds=30,
                                     **{"from": "+7 495 000-10-01", "to": number}))
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["task_id"] == opened["task_id"] and closed["closing_call_id"] == callback, closed
    assert closed["opened_at"] == opened["opened_at"] and closed["missed_calls"] == 1, closed
    rows = cfstack.psql(stack.dsn, "SELECT status, doc->>'source_call_id' FROM calls.tasks"
                        " WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
    assert rows == [["expired", earlier], ["closed", opened["source_call_id"]]], rows


def callback_at(stack, number, answered):
    return post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=1)),
                                 direction="outbound", answered_at=iso(answered), talk_seconds=60,
                                 **{"from": "+7 495 000-10-01", "to": number}))


def test_misses_told_after_the_callback_join_its_closed_task(stack):
    """Two more misses of a contact are told after the callback that
    closed its task (another partition, a CDR uploaded late): one inside
    the task's wait, one before the task opened with no callback between.
    In order both would have been in that task, so both join it (task.updated:
    still closed by the same callback, the earlier one now its source, the
    time to callback and whether it was on time counted from it) instead of
    tasks of their own that the same callback would close again: one
    callback, one task called back."""
    number, ckey, end, first = missed_minutes_ago(stack, 40)
    callback = callback_at(stack, number, end + timedelta(minutes=10))
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["seconds_to_callback"] == 600 and closed["on_time"] is True, closed
    inside = missed_call(stack, number, end + timedelta(minutes=5))
    updated = wait_task(stack, ckey, "clinicflow.task.updated")["data"]
    assert updated["task_id"] == first["task_id"] and updated["missed_calls"] == 2, updated
    assert updated["status"] == "closed" and updated["closing_call_id"] == callback, updated
    assert updated["source_call_id"] == first["source_call_id"], updated
    assert updated["seconds_to_callback"] == 600 and updated["on_time"] is True, updated
    earlier_end = end - timedelta(minutes=10)
    earlier = missed_call(stack, number, earlier_end)
    updated = wait_task(stack, ckey, "clinicflow.task.updated", count=2)["data"]
    assert updated["task_id"] == first["task_id"] and updated["missed_calls"] == 3, updated
    assert updated["source_call_id"] == earlier, updated
    assert updated["opened_at"] == iso(earlier_end).replace("Z", ".000Z"), updated
    assert updated["closing_call_id"] == callback, updated
    assert updated["seconds_to_callback"] == 1200 and updated["on_time"] is False, updated
    wait_tasks_consumed(stack)
    assert [e["type"] for e in tasks_of(stack, ckey)] == [
        "clinicflow.task.opened", "clinicflow.task.closed", "clinicflow.task.updated",
        "clinicflow.task.updated"], tasks_of(stack, ckey)
    rows = cfstack.psql(stack.dsn, "SELECT t.status, t.missed_calls, count(c.call_id)"
                        " FROM calls.tasks t JOIN calls.task_calls c USING (task_id)"
                        " WHERE t.contact_key = '%s' GROUP BY t.task_id" % ckey)
    assert rows == [["closed", "3", "3"]], rows
    assert inside != earlier


def test_a_miss_told_after_its_task_expired_is_lost_with_it(stack):
    """A miss inside an expired task's wait, told after the sweeper expired
    it: it joins that task, expired as before, rather than opening a task of
    its own that would be lost a second time."""
    number, ckey, end, first = missed_minutes_ago(stack, 3 * LOST_AFTER_S // 60)
    wait_task(stack, ckey, "clinicflow.task.expired")
    missed_call(stack, number, end + timedelta(minutes=10))
    updated = wait_task(stack, ckey, "clinicflow.task.updated")["data"]
    assert updated["task_id"] == first["task_id"] and updated["missed_calls"] == 2, updated
    assert updated["status"] == "expired", updated
    wait_tasks_consumed(stack)
    assert [e["type"] for e in tasks_of(stack, ckey)] == [
        "clinicflow.task.opened", "clinicflow.task.expired", "clinicflow.task.updated"], \
        tasks_of(stack, ckey)
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls FROM calls.tasks"
                        " WHERE contact_key = '%s'" % ckey)
    assert rows == [["expired", "2"]], rows


def test_a_late_miss_joins_the_expired_task_not_the_open_one(stack):
    """The contact's first task expired (lost after an hour) and a second
    one opened ten minutes later; a miss from the first task's wait is
    told now. It joins the expired task it belonged to; the open task keeps
    its opening and due time (it would otherwise move back 50 minutes and
    be lost at once)."""
    number, ckey, first_end, first = missed_minutes_ago(stack, 100)
    wait_task(stack, ckey, "clinicflow.task.expired")
    second_end = first_end + timedelta(minutes=70)
    missed_call(stack, number, second_end)
    wait_task(stack, ckey, "clinicflow.task.opened", count=2)
    # keyed by task: the two tasks' events are on any partitions
    assert len([e for e in tasks_of(stack, ckey) if e["type"] == "clinicflow.task.opened"
                and e["data"]["task_id"] != first["task_id"]]) == 1
    missed_call(stack, number, first_end + timedelta(minutes=20))
    updated = wait_task(stack, ckey, "clinicflow.task.updated")["data"]
    assert updated["task_id"] == first["task_id"] and updated["status"] == "expired", updated
    assert updated["missed_calls"] == 2, updated
    wait_tasks_consumed(stack)
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls, opened_at = '%s'"
                        " FROM calls.tasks WHERE contact_key = '%s' ORDER BY opened_at"
                        % (iso(second_end), ckey))
    assert rows == [["expired", "2", "f"], ["open", "1", "t"]], rows


def test_an_earlier_miss_lost_before_the_callback_is_lost_apart(stack):
    """A miss told late that ended 50 minutes before a task opened (its wait
    of an hour reaches into the task's) while the task's callback came 45
    minutes after that: in order the miss's task would have been lost
    before the callback, so it is a task of its own, expired at once, and
    the closed task keeps its callback, on time."""
    number, ckey, end, first = missed_minutes_ago(stack, 50)
    callback = callback_at(stack, number, end + timedelta(minutes=45))
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["closing_call_id"] == callback, closed
    earlier = missed_call(stack, number, end - timedelta(minutes=50))
    expired = wait_task(stack, ckey, "clinicflow.task.expired")["data"]
    assert expired["task_id"] != first["task_id"] and expired["source_call_id"] == earlier, expired
    wait_tasks_consumed(stack)
    assert not [e for e in tasks_of(stack, ckey) if e["type"] == "clinicflow.task.updated"]
    rows = cfstack.psql(stack.dsn, "SELECT status, missed_calls, doc->>'seconds_to_callback'"
                        " FROM calls.tasks WHERE contact_key = '%s' ORDER BY opened_at" % ckey)
    assert rows == [["expired", "1", ""], ["closed", "1", "2700"]], rows


def test_the_earliest_callback_closes_the_task_whichever_is_applied_first(stack):
    """Two answered calls with the contact after a miss, on different
    partitions, both stored by the fold while the callbacks consumer is held
    up on another contact: whichever it applies first, the task closes with
    the earlier one (the time to callback is the clinic's), and the later
    one changes nothing."""
    number, ckey, end, opened = missed_minutes_ago(stack, 40)
    _, lock = hold_up_callbacks(stack, end)
    try:
        calls = []
        for minutes in (30, 10):  # the later one posted first
            answered = end + timedelta(minutes=minutes)
            calls.append(post(stack, call_body(
                event="ended", time=iso(answered + timedelta(minutes=1)), direction="outbound",
                answered_at=iso(answered), talk_seconds=60,
                **{"from": "+7 495 000-10-01", "to": number})))
        wait_until(lambda: cfstack.psql(
            stack.dsn, "SELECT count(*) FROM calls.calls WHERE call_id IN ('%s', '%s')"
            " AND outcome = 'answered'" % tuple(calls)) == [["2"]], 60,
            "the fold to store both calls")
    finally:
        lock.release()
    wait_tasks_consumed(stack)
    closed = wait_task(stack, ckey, "clinicflow.task.closed")["data"]
    assert closed["closing_call_id"] == calls[1], closed
    assert closed["seconds_to_callback"] == 600 and closed["on_time"] is True, closed
    assert [e["type"] for e in tasks_of(stack, ckey)] == [
        "clinicflow.task.opened", "clinicflow.task.closed"]


def test_a_burst_in_batches_ends_as_one_by_one(_):
    """Calls queued while no instance folds reach the callbacks consumer in
    large batches, which take the batch apply (tasks_batch.c): every kind
    of contact in one burst ends as the rules say message by message. A
    stack of its own: an intake-only instance queues, another one folds."""
    stack = Stack(instances=0, extra_env={"CLINICFLOW_CALLS_TASK_LOST_AFTER_S": str(LOST_AFTER_S)})
    try:
        burst(stack)
    finally:
        stack.close()


def burst(stack):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    kinds = {"one_miss": [], "miss_then_callback": [], "callback_then_miss": [],
             "two_misses": [], "answered_only": []}
    for kind in kinds:
        for _ in range(12):
            kinds[kind].append(new_number())

    # An intake-only instance queues the calls on calls.raw.
    intake = cfstack.Service("calls", {**stack.service_env(), "CLINICFLOW_CALLS_CONSUMERS": "0"})
    intake.start()
    stack.svc = intake
    try:
        for i, number in enumerate(kinds["one_miss"]):
            missed_call(stack, number, now - timedelta(minutes=20, seconds=i))
        for number in kinds["miss_then_callback"]:
            missed_call(stack, number, now - timedelta(minutes=20))
            answered = now - timedelta(minutes=15)
            post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=1)),
                                  direction="outbound", answered_at=iso(answered),
                                  talk_seconds=60, **{"from": "+7 495 000-10-01", "to": number}))
        for number in kinds["callback_then_miss"]:
            answered = now - timedelta(minutes=10)
            post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=1)),
                                  direction="outbound", answered_at=iso(answered),
                                  talk_seconds=60, **{"from": "+7 495 000-10-01", "to": number}))
            missed_call(stack, number, now - timedelta(minutes=14))
        for number in kinds["two_misses"]:
            missed_call(stack, number, now - timedelta(minutes=20))
            missed_call(stack, number, now - timedelta(minutes=18))
        for number in kinds["answered_only"]:
            answered = now - timedelta(minutes=5)
            post(stack, call_body(event="ended", time=iso(answered + timedelta(minutes=1)),
                                  answered_at=iso(answered), talk_seconds=60, **{"from": number}))
    finally:
        intake.stop()

    # One instance folds them and applies the call events in batches.
    svc = cfstack.Service("calls", {**stack.service_env(), "CLINICFLOW_LOG_LEVEL": "debug"})
    svc.start()
    stack.services = [svc]
    stack.svc = svc
    wait_tasks_consumed(stack, 120)

    sizes = [int(m.group(1)) for m in re.finditer(r"tasks: batch of (\d+), \d+ contacts",
                                                   svc.logs())]
    assert sizes and max(sizes) > 1, sizes

    want = {"one_miss": (["clinicflow.task.opened"], [["open", "1"]]),
            "miss_then_callback": (["clinicflow.task.opened", "clinicflow.task.closed"],
                                   [["closed", "1"]]),
            "callback_then_miss": (["clinicflow.task.opened", "clinicflow.task.closed"],
                                   [["closed", "1"]]),
            "two_misses": (["clinicflow.task.opened", "clinicflow.task.updated"],
                           [["open", "2"]]),
            "answered_only": ([], [])}
    by_contact = {}
    for m in stack.reader(TASKS).read():
        ev = json.loads(m["payload"])
        by_contact.setdefault(ev["data"].get("contact_key"), []).append(ev)
    for kind, numbers in kinds.items():
        types, rows = want[kind]
        for number in numbers:
            ckey = contact_key(number)
            evs = by_contact.get(ckey, [])
            assert [e["type"] for e in evs] == types, (kind, number, evs)
            got = cfstack.psql(stack.dsn, "SELECT status, missed_calls FROM calls.tasks"
                               " WHERE contact_key = '%s'" % ckey)
            assert got == rows, (kind, number, got)
            if types[-1:] == ["clinicflow.task.closed"]:
                closed = evs[-1]["data"]
                assert closed["on_time"] is True, (kind, closed)
                assert closed["seconds_to_callback"] == (300 if kind == "miss_then_callback"
                                                         else 240), (kind, closed)


if __name__ == "__main__":
    # (calls posted up to an hour ahead stand for time gone by: the generic
    # route takes a call at most CLINICFLOW_CALLS_HOOK_MAX_AHEAD_S ahead)
    s = Stack(extra_env={"CLINICFLOW_CALLS_TASK_LOST_AFTER_S": str(LOST_AFTER_S),
                         "CLINICFLOW_CALLS_SWEEP_INTERVAL_MS": "200",
                         "CLINICFLOW_CALLS_HOOK_MAX_AHEAD_S": "7200"})
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_missed_call_task_updated_then_closed_by_callback,
            test_late_callback_is_not_on_time,
            test_a_miss_after_the_open_tasks_lost_time_gets_a_task_of_its_own,
            test_lost_task_expires_once,
            test_overdue_task_closed_by_a_callback_not_yet_applied,
            test_overdue_task_waits_for_the_fold,
            test_a_miss_after_the_lost_time_waits_for_a_callback_the_fold_holds,
            test_a_miss_told_late_waits_for_a_callback_the_fold_holds,
            test_blocked_caller_opens_no_task,
            test_callback_to_voicemail_does_not_close,
            test_missed_call_after_the_callback_seen_first,
            test_missed_call_answered_after_all,
            test_answered_after_all_with_another_miss_waiting,
            test_a_call_of_an_expired_task_seen_again_leaves_the_open_one,
            test_expiry_decided_while_kafka_is_down_follows_once_it_is_back,
            test_callbacks_wait_for_the_sweepers_staged_events,
            test_task_whose_document_does_not_read_still_expires,
            test_callback_after_the_deadline_does_not_close,
            test_earlier_miss_seen_later_moves_the_opening,
            test_earlier_miss_seen_later_is_settled_by_the_callback_between,
            test_an_earlier_miss_whose_wait_ended_before_the_task_is_lost_apart,
            test_misses_told_after_the_callback_join_its_closed_task,
            test_a_miss_told_after_its_task_expired_is_lost_with_it,
            test_a_late_miss_joins_the_expired_task_not_the_open_one,
            test_an_earlier_miss_lost_before_the_callback_is_lost_apart,
            test_the_earliest_callback_closes_the_task_whichever_is_applied_first,
            test_a_burst_in_batches_ends_as_one_by_one,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
