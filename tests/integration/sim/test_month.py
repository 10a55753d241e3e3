"""clinicflow-sim end to end: a small month of the demo network sent through
the calls, leads, reminders and analytics services' public interfaces
(provider webhooks with their signatures, the form endpoint, the front
desk's lead events, the MIS record API, the spend API). Every request must
be acknowledged, and analytics' reports must then count what the simulator
says it sent: calls inbound, outbound and missed, leads per channel, the
front desk's replies and the leads' outcomes, bookings and their outcomes,
treatment plans, the reminders of the visits past and the recall campaign
(imported as the robot's history before clinicflow) and ad spend. The services run with the settings a past
month needs (tools/sim/README.md, "Settings a month needs")."""
import json
import subprocess
import time
from datetime import datetime, timedelta, timezone

import cfstack
from simstack import SimStack, run_main

# tools/sim/README.md: what a past month needs beyond the defaults
MONTH_ENV = {
    "calls": {"CLINICFLOW_CALLS_HOOK_MAX_AGE_S": "2764800"},
    "leads": {"CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE": "0",
              "CLINICFLOW_LEADS_FORM_TIME_MAX_AGE_S": "2764800",
              "CLINICFLOW_LEADS_HOOK_MAX_AGE_S": "2764800"},
    "reminders": {},
    "analytics": {},
}
MOSCOW = timezone(timedelta(hours=3))


def run_sim(stack, *args):
    cmd, env = stack.sim_command(*args)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    cfstack._check_sanitizers("clinicflow-sim", p.stderr)
    assert p.returncode == 0, "clinicflow-sim exited %s:\n%s" % (p.returncode, p.stderr[-3000:])
    return json.loads(p.stdout)


def test_small_month_is_counted(stack):
    started = time.monotonic()
    sent = run_sim(stack, "--month", "--scale", "small", "--json", "--seed", "7",
                   "--concurrency", "16")
    print("sim sent in %.1fs: %s" % (time.monotonic() - started, json.dumps(sent["requests"])))
    # the month ended at the start of the hour the simulator began in: at
    # the latest, this one's
    month_end = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    req = sent["requests"]
    assert sent["complete"] is True, req
    assert req["acknowledged"] == req["sent"] and req["refused"] == 0 and req["failed"] == 0, req
    calls, leads, appts = sent["calls"], sent["leads"], sent["appointments"]
    assert calls["inbound"] > 100 and calls["missed"] > 0 and leads["total"] > 10, sent

    now = datetime.now(MOSCOW)
    rng = {"from": (now - timedelta(days=32)).strftime("%Y-%m-%d"),
           "to": (now + timedelta(days=1)).strftime("%Y-%m-%d")}

    def calls_counted():
        t = stack.report("calls", **rng)["totals"]
        return (t["inbound"], t["outbound"], t["missed"]) == (
            calls["inbound"], calls["outbound"], calls["missed"]) or t
    got = {}

    def wait(what, fn, timeout=60):
        def ok():
            got[what] = fn()
            return got[what] is True
        try:
            cfstack.wait_until(ok, timeout, what, interval=0.5)
        except AssertionError:
            raise AssertionError("%s: analytics has %s" % (what, got.get(what)))

    wait("calls inbound/outbound/missed", calls_counted)

    # the tracking numbers in use on each call's day carry its source
    # (Google's number of the first half-year has a successor)
    rows = stack.report("calls", group_by="source", **rng)["rows"]
    by_source = {r["source"]: r["inbound"] for r in rows}
    for source in ("yandex_direct", "google_ads", "2gis"):
        assert by_source.get(source, 0) > 0, by_source
    # the brand campaign's calls under its own number and campaign, not
    # another campaign's of the same source
    rows = stack.report("calls", group_by="source,campaign", **rng)["rows"]
    brand = [r["inbound"] for r in rows if r["campaign"] == "brand"]
    assert calls["brand_line"] > 0 and brand == [calls["brand_line"]], (calls, rows)
    # the call centre calls out from the line of the clinic it calls for
    with open(cfstack.demo_network_path()) as f:
        clinic_ids = [c["id"] for c in json.load(f)["clinics"]]
    rows = stack.report("calls", group_by="clinic", **rng)["rows"]
    outbound = {r["clinic"]: r["outbound"] for r in rows}
    want = dict(zip(clinic_ids, calls["outbound_by_clinic"]))
    assert all(n > 0 for n in want.values()) and outbound == want, (outbound, want)

    def leads_counted():
        rows = stack.report("leads", group_by="channel", **rng)["rows"]
        by = {r["channel"]: r["leads"] for r in rows}
        want = {k: v for k, v in leads["by_channel"].items() if v}
        return by == want or by
    wait("leads per channel", leads_counted)
    # form leads dated by their submitted_at, not all on the day they were sent
    rows = stack.report("leads", group_by="channel,day", **rng)["rows"]
    form_days = {r["day"] for r in rows if r["channel"] == "generic" and r["leads"]}
    assert len(form_days) >= 5, rows
    # VK's community messages by their own date (before the month's end,
    # where their arrival would date them after it), each with the phone
    # its text gives: every one of them a person with a phone
    vk = leads["by_channel"].get("vk", 0)
    assert vk >= 1, leads["by_channel"]
    after_end = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.leads WHERE provider = 'vk'"
                             " AND received_at >= '%s'" % month_end.isoformat())
    assert after_end == [["0"]], (after_end, month_end, rows)
    with_phone = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.leads WHERE provider = 'vk'"
                              " AND doc->'contact'->>'phone_from_text' = 'true'"
                              " AND doc->'contact'->'phone'->>'kind' = 'e164'")
    assert int(with_phone[0][0]) == vk, (with_phone, vk)

    # the front desk's word on each lead (POST /v1/leads/{id}/events, the
    # lead's id computed as the service does): every outcome counted, and
    # every reply; an answered call with the person may have come first
    reports = leads["reports"]

    def reports_counted():
        t = stack.report("leads", **rng)["totals"]
        have = (t["booked"], t["lost"], t["spam"])
        want = (reports["booked"], reports["lost"], reports["spam"])
        return (have == want and reports["responded"] <= t["responded"]
                <= reports["responded"] + reports["unanswered"] + reports["spam"]) or t
    wait("the front desk's replies and outcomes", reports_counted)
    assert reports["responded"] > 0 and reports["booked"] > 0, reports
    # seed 003, as the leads report measures it: the measured front desk
    # answers in minutes, the unmeasured one in hours (working time)
    assert leads["replies"]["strong"]["replies"] > 0 and leads["replies"]["weak"]["replies"] > 0
    by_clinic = {r["clinic"]: r for r in stack.report("leads", group_by="clinic", **rng)["rows"]}
    strong, weak = by_clinic["demo-center"], by_clinic["demo-north"]
    assert strong["first_response_median_working_s"] <= 10 * 60, strong
    assert weak["first_response_median_working_s"] >= 60 * 60, weak

    def funnel_counted():
        t = stack.report("funnel", **rng)["totals"]
        want = (appts["booked"], appts["completed"], appts["no_show"], appts["cancelled"],
                sent["plans"]["proposed"], sent["plans"]["accepted"])
        have = (t["bookings"], t["arrivals"], t["no_shows"], t["cancellations"],
                t["plans_proposed"], t["plans_accepted"])
        return have == want or {"have": have, "want": want}
    wait("bookings, arrivals, no-shows, cancellations, plans", funnel_counted)

    # each booking on its own day (the MIS's booked_at), not all on the
    # day the month was sent
    rows = stack.report("funnel", group_by="day", **rng)["rows"]
    days = [r["day"] for r in rows if r["bookings"]]
    assert len(days) >= 20, rows
    assert sum(r["bookings"] for r in rows) == appts["booked"], rows

    # the robot's reminders before clinicflow, imported with each past
    # visit's history: every send, answer and SMS counted on its day, and
    # the show rates of the visits that confirmed and the others
    rem = sent["reminders"]
    assert rem["sent"] is True and rem["calls"] > 0 and rem["sms"] > 0, rem

    def reminders_counted():
        t = stack.report("reminders", **rng)["totals"]
        have = (t["calls"], t["sms"], t["sent"], t["not_reached"], t["confirmed"],
                t["reschedule_requested"], t["not_confirmed"], t["sms_segments"],
                round(t["sms_cost"] * 100), t["confirmed_visits"], t["unconfirmed_visits"])
        want = (rem["calls"], rem["sms"], rem["calls"] + rem["sms"], rem["sms"],
                rem["confirmed"], rem["reschedule"], rem["sms"], rem["sms"],
                rem["sms_cost_minor"], rem["confirmed_came"] + rem["confirmed_no_show"],
                rem["unconfirmed_came"] + rem["unconfirmed_no_show"])
        return have == want or {"have": have, "want": want}
    wait("reminder sends, answers and SMS", reminders_counted)
    t = stack.report("reminders", **rng)["totals"]
    want_rate = rem["confirmed_came"] / (rem["confirmed_came"] + rem["confirmed_no_show"])
    assert abs(t["show_rate_confirmed"] - want_rate) < 0.001, (t, rem)
    rows = stack.report("reminders", group_by="day", **rng)["rows"]
    assert len([r for r in rows if r["calls"]]) >= 15, rows

    # the robot's recall before clinicflow, imported before each lapsed
    # patient's record: the members, their groups, who was asked and said
    # yes, and who booked after, as the recall report measures uplift
    rec = sent["recall"]
    assert rec["sent"] is True and rec["members"] > rec["holdout"] > 0, rec

    def recall_counted():
        # (the missed visits' re-invites are members of a campaign of
        # their own)
        rows = stack.report("recall", group_by="campaign", **rng)["rows"]
        t = ([r for r in rows if r["campaign"] == "recall"] or [{}])[0]
        if not t:
            return rows
        have = (t["members"], t["holdout"], t["target"], t["contacted"], t["agreed"],
                t["booked_target"], t["booked_holdout"])
        want = (rec["members"], rec["holdout"], rec["members"] - rec["holdout"],
                rec["members"] - rec["holdout"], rec["agreed"], rec["booked_target"],
                rec["booked_holdout"])
        return have == want or {"have": have, "want": want}
    wait("the recall's members, answers and bookings", recall_counted)
    # the service's own recall asked none of them again
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM reminders.reminder_jobs WHERE kind ="
                        " 'recall' AND reason IS DISTINCT FROM 'imported'") == [["0"]]

    def spend_counted():
        t = stack.report("sources", **rng)["totals"]
        return abs((t["spend"] or 0) - sent["spend"]["amount"]) < 0.01 * sent["spend"]["rows"] \
            or t["spend"]
    wait("spend", spend_counted)
    # Google's spend and its calls under one campaign: the campaign of the
    # number in use on the spend's days (its successor's, the second half-
    # year), not the first number's
    rows = stack.report("sources", group_by="source,campaign", **rng)["rows"]
    google = {r["campaign"]: (r["spend"] or 0, r["contacts"]) for r in rows
              if r["source"] == "google_ads"}
    assert google and all(spend > 0 and contacts > 0 for spend, contacts in google.values()), \
        google

    print("total %.1fs" % (time.monotonic() - started))


if __name__ == "__main__":
    run_main(SimStack(MONTH_ENV), test_small_month_is_counted)
