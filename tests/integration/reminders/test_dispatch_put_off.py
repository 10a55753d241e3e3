"""Reminders put off by their gateway, through the public interfaces (the
stack, the dialer stand-in and the helpers of test_dispatch.py): a
gateway nothing listens at holds up only its clinic's reminders, which go
once it is there; a dialer answering 429 is asked again; a gateway away
longer than the lateness grace has its reminder skipped as late, and the
ladder goes on."""
import time

import cfstack
import common
from test_dispatch import SECRET, DispatchStack, job_of, patient, reminder_status, send_of
from test_planning import COMMANDS, CENTER, NORTH, book, in_s, utc


def center_gateway_down(s):
    """The stack's network with Center's windows open round the clock, one
    reminder two hours ahead, and a gateway of its own where nothing
    listens (its "it-center-dialer" channel)."""
    down = s.network_with_dialer()
    for c in down["clinics"]:
        if c["id"] == CENTER:
            c["calling_windows"] = ["00:00-24:00"]
            c["reminder_policy"] = {"offsets_hours": [2]}
    down["channels"].append({"id": "it-center-dialer", "kind": "gateway",
                             "provider": "webhook", "clinic_id": CENTER,
                             "credentials": {"url": "http://127.0.0.1:%d/dial"
                                             % cfstack.free_port(), "secret": SECRET}})
    return down


def test_a_gateway_down_holds_up_only_its_clinic(s):
    """Center's gateway cannot be reached (nothing listens at its address):
    its reminder's job is due again a little later, its command consumed,
    and North's reminder, due at the same moment, reaches North's dialer. A
    copy of Center's command read while the job waits changes nothing, and
    once Center's dialer is there the reminder goes."""
    down = center_gateway_down(s)
    s.apply(down)
    try:
        pn, _ = patient(s, "Zoya", {"calls": True})
        pc, _ = patient(s, "Oleg", {"calls": True})
        north, center = common.new_id("a-up"), common.new_id("a-down")
        at = utc(in_s(2 * 3600 + 2))
        book(s, center, 1, at, clinic=CENTER, patient=pc)
        book(s, north, 1, at, clinic=NORTH, patient=pn)
        cfstack.wait_until(lambda: send_of(s, north) is not None and
                           send_of(s, north)[1] == "sent", 60, "North's send")
        retried = 'clinicflow_reminders_jobs_total{result="gateway_unreachable"}'
        cfstack.wait_until(lambda: cfstack.metric(s.svc, retried) >= 1, 60,
                           "Center's job due again")
        # due again 30 s on: pending, and not due for a while yet
        status, reason, due = job_of(s, center)
        assert (status, reason) == ("pending", "") and due > time.time() + 10, job_of(s, center)
        assert send_of(s, center) is None  # nothing went out: no send recorded
        # and then it is taken again (its command, of the same id, applied):
        # the dialer still away, put off once more. Each take comes 30 s
        # after the last; the waits allow three times that: a loaded full
        # run once took more than 60 s for one (its logs were not kept; the
        # devbroker's coordinator holds a group that rebalances under load
        # for a session timeout, see bench/run's leads_fold)
        cfstack.wait_until(lambda: cfstack.metric(s.svc, retried) >= 2, 90,
                           "Center's job taken again")
        # a copy of its command read meanwhile (a relay's duplicate, a
        # partition read again from before a commit) changes nothing: the
        # job is taken a third time, and once Center's dialer is there the
        # scheduler's command goes to it
        cmd = s.wait_message(COMMANDS, lambda m: m["event"] and m["event"]["data"].get(
            "appointment_id") == common.appointment_uuid(center), "Center's command")
        cfstack.produce(s.broker.bootstrap, COMMANDS, cmd["key"], cmd["payload"].encode())
        cfstack.wait_until(lambda: cfstack.metric(s.svc, retried) >= 3, 90,
                           "Center's job taken a third time")
        assert send_of(s, center) is None
        for ch in down["channels"]:
            if ch["id"] == "it-center-dialer":
                ch["credentials"]["url"] = s.dialer.url
        s.apply(down)
        cfstack.wait_until(lambda: (send_of(s, center) or ("", ""))[1] == "sent", 60,
                           "Center's send once its dialer is there")
    finally:
        s.apply(s.network_with_dialer())


def test_a_gateway_busy_is_asked_again(s):
    """The dialer answers 429 (too many requests: nothing taken) to the
    reminder's first request: the send is not recorded as refused, the job
    is due again a little later, and then the reminder goes."""
    retried = 'clinicflow_reminders_jobs_total{result="gateway_unreachable"}'
    before = cfstack.metric(s.svc, retried)
    p, _ = patient(s, "Busy", {"calls": True})
    a = common.new_id("a-busy")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=p)
    cfstack.wait_until(lambda: cfstack.metric(s.svc, retried) > before, 60, "the job put off")
    assert send_of(s, a) is None, send_of(s, a)  # nothing recorded as gone
    status, reason, due = job_of(s, a)
    assert (status, reason) == ("pending", "") and due > time.time() + 10, job_of(s, a)
    cfstack.wait_until(lambda: send_of(s, a) is not None and send_of(s, a)[1] == "sent", 90,
                       "the send on the second request")
    send_id = send_of(s, a)[0]
    assert len(s.dialer.of(send_id)) == 2, s.dialer.of(send_id)
    assert send_of(s, a)[3] == "200", send_of(s, a)


def test_a_reminder_put_off_past_its_grace_is_skipped_late(s):
    """Center's gateway away for longer than the lateness grace (20 s
    here): each put-off makes the job due again 30 s on, but its command
    says when it was first due, so the dispatcher skips the send as late
    instead of calling whenever the gateway is back (beside the visit's
    next reminder, or minutes before the visit), and the ladder goes on:
    no SMS consent, so the visit is not confirmed and the front desk asks."""
    # (last: it runs a service of its own, and stops it)
    strict = s.service_with(CLINICFLOW_REMINDERS_LATE_GRACE_S="20")
    down = center_gateway_down(s)
    s.apply(down)
    p, _ = patient(s, "Late", {"calls": True})
    a = common.new_id("a-late")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic=CENTER, patient=p)
    retried = 'clinicflow_reminders_jobs_total{result="gateway_unreachable"}'
    cfstack.wait_until(lambda: cfstack.metric(strict, retried) >= 1, 60, "the job put off")
    cfstack.wait_until(lambda: send_of(s, a) is not None, 90, "the send skipped as late")
    assert send_of(s, a)[1:3] == ("skipped", "late"), send_of(s, a)
    assert cfstack.metric(strict, retried) == 1
    cfstack.wait_until(lambda: reminder_status(s, a) == "not_confirmed", 30,
                       "the reminder not confirmed")
    strict.stop()
    s.services.remove(strict)


if __name__ == "__main__":
    cfstack.run_on_stack(DispatchStack, [
        test_a_gateway_down_holds_up_only_its_clinic,
        test_a_gateway_busy_is_asked_again,
        test_a_reminder_put_off_past_its_grace_is_skipped_late,
    ])
