"""clinicflow.metrics.v1 (proto/README.md, "Metrics for BI"): every batch
that changes a clinic's day emits the day's calls snapshot and each changed
hour's load, keyed network/clinic/day[/hour]; the latest message of a key
equals what the report says of that day or hour, also when two runners
apply calls of one day at once."""
import json
from datetime import datetime, timedelta, timezone

import cfstack
from common import CALLS, NET, Stack, call_event, produce_many, simple_call

METRICS = "clinicflow.metrics.v1"
DAY = datetime(2026, 11, 19, 6, 0, tzinfo=timezone.utc)  # 09:00 in Moscow


def latest(stack):
    """{key: data} of the latest message of each key (validated against
    the contract as it is read)."""
    out = {}
    for m in stack.reader(METRICS).read():
        out[m["key"]] = json.loads(m["payload"])["data"]
    return out


def test_snapshots_follow_the_rollup(stack):
    stack.start_analytics(CLINICFLOW_ANALYTICS_RUNNERS=2, CLINICFLOW_ANALYTICS_BATCH_MAX=7)
    evs = []
    # two clinics, 60 calls over three local hours; a few missed: calls of
    # one day land on all six partitions, so both runners change the day
    for i in range(60):
        clinic = "demo-center" if i % 3 else "demo-north"
        outcome = "missed" if i % 7 == 0 else "answered"
        evs.append(call_event("ended", simple_call(
            NET, clinic, "m-%d" % i, DAY + timedelta(minutes=3 * i), outcome=outcome,
            talk=40 if outcome == "answered" else None, phone="+7926%07d" % i)))
    produce_many(stack.broker.bootstrap, CALLS, evs)
    stack.wait_consumed()

    def agrees():
        snaps = latest(stack)
        for clinic in ("demo-center", "demo-north"):
            rep = stack.report({"from": "2026-11-19", "to": "2026-11-19", "clinic": clinic})
            day = snaps.get("%s/%s/2026-11-19" % (NET, clinic))
            assert day is not None, sorted(snaps)
            for f in ("inbound", "answered", "missed", "unique", "targeted", "talk_seconds"):
                assert day[f] == rep["totals"][f], (clinic, f, day, rep["totals"])
            by_hour = stack.report({"from": "2026-11-19", "to": "2026-11-19", "clinic": clinic,
                                    "group_by": "hour"})
            for row in by_hour["rows"]:
                h = snaps.get("%s/%s/2026-11-19/%02d" % (NET, clinic, row["hour"]))
                assert h is not None and h["inbound"] == row["inbound"] \
                    and h["missed"] == row["missed"], (clinic, row, h)
        return True

    cfstack.wait_until(agrees, 10, "the latest snapshots to agree with the report")
    snaps = latest(stack)
    # 60 calls: every third to demo-north (i = 0, 3, ..., 57: 20), missed
    # when i is a multiple of 7 (0, 7, ..., 56: 9; of them 0, 21, 42 are
    # demo-north's)
    assert snaps["%s/demo-north/2026-11-19" % NET]["inbound"] == 20
    assert snaps["%s/demo-north/2026-11-19" % NET]["missed"] == 3
    assert snaps["%s/demo-center/2026-11-19" % NET]["inbound"] == 40
    assert snaps["%s/demo-center/2026-11-19" % NET]["missed"] == 6


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_snapshots_follow_the_rollup])
