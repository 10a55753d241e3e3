"""Dispatch lag: how long after its due time a reminder reaches the
clinic's dialer, with jobs falling due at CF_BENCH_RATE a second (1,000)
and CF_BENCH_INSTANCES instances (3) of clinicflow-reminders sharing the
work (their schedulers take due jobs with SKIP LOCKED, their dispatchers
share the commands topic's partitions).

The jobs are made through the public interface: CF_BENCH_JOBS patients and
as many appointments (30,000) are imported through POST /v1/mis/batch,
each appointment two hours after the last by 1/RATE s, in a clinic with
round-the-clock calling windows and one reminder two hours ahead, so the
reminders fall due RATE a second for JOBS/RATE seconds, starting once the
import is over and every instance has started. The dialer is the webhook
gateway's (bench/dialer, C): it answers each POST at once and records its
arrival on its own clock; lag = arrival - the command's due_at. No
threshold: it prints the percentiles, the rate the dialer saw, and every
job accounted for (none missing, none twice).

Run through bench/reminders_dispatch/run (a stack of its own, release
binaries). Service settings as shipped unless CF_BENCH_SERVICE_ENV names
some (NAME=VALUE,...)."""
import copy
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import cfstack
import common
import test_batch

JOBS = int(os.environ.get("CF_BENCH_JOBS", "30000"))
RATE = float(os.environ.get("CF_BENCH_RATE", "1000"))
INSTANCES = int(os.environ.get("CF_BENCH_INSTANCES", "3"))
CLINIC = "demo-north"
SECRET = "bench-dialer-secret-0001"


def service_env():
    out = {}
    for item in filter(None, os.environ.get("CF_BENCH_SERVICE_ENV", "").split(",")):
        name, _, value = item.partition("=")
        out[name] = value
    return out


def network(dialer_url):
    doc = copy.deepcopy(common.demo_network())
    for c in doc["clinics"]:
        if c["id"] == CLINIC:
            c["calling_windows"] = ["00:00-24:00"]
            c["reminder_policy"] = {"offsets_hours": [2]}
    doc["channels"].append({"id": "bench-dialer", "kind": "gateway", "provider": "webhook",
                            "clinic_id": CLINIC,
                            "credentials": {"url": dialer_url, "secret": SECRET}})
    return doc


class Dialer:
    def __init__(self):
        self.port = cfstack.free_port()
        self.out = tempfile.NamedTemporaryFile(prefix="cf-bench-dialer-", delete=False)
        self.proc = subprocess.Popen(
            [os.path.join(os.environ["CLINICFLOW_BIN_DIR"], "clinicflow-bench-dialer"),
             str(self.port)], stdout=self.out, stderr=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d/dial" % self.port
        cfstack.wait_until(lambda: b"listening" in open(self.out.name, "rb").read(), 10,
                           "the dialer to listen")

    def stop(self):
        """Stops the dialer; its lines: [(arrival_ms, send_id, job_id, due_at)]."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        rows = []
        with open(self.out.name) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4 and parts[0].isdigit():
                    rows.append((int(parts[0]), parts[1], parts[2], parts[3]))
        os.unlink(self.out.name)
        return rows


class DispatchBench(test_batch.BatchStack):
    def __init__(self, dialer):
        self.dialer = dialer
        super().__init__()

    def start_service(self):
        if not getattr(self, "_network", False):
            cfstack.apply_network(self.dsn, network(self.dialer.url))
            self._network = True
        env = dict(self.extra_env)
        env.update(service_env())
        if self.services:  # one batch listener is enough: the others' on ports of their own
            env["CLINICFLOW_REMINDERS_BATCH_PORT_FILE"] = env[
                "CLINICFLOW_REMINDERS_BATCH_PORT_FILE"] + ".%d" % len(self.services)
        svc = cfstack.Service("reminders", self.env_for(**env))
        svc.start()
        return svc


def lines(first_due):
    """The import: a patient and an appointment per job, the appointment two
    hours after its reminder's due time."""
    for i in range(JOBS):
        p = "bench-p%d" % i
        yield test_batch.line("patient", p, {
            "version": 1, "clinic_id": CLINIC, "first_name": "Имя%d" % i, "last_name": "Ф",
            "phones": ["+7916%07d" % i], "language": "ru",
            "consents": {"calls": True, "sms": True}})
        due = first_due + datetime.timedelta(seconds=i / RATE)
        starts = due + datetime.timedelta(hours=2)
        yield test_batch.line("appointment", "bench-a%d" % i, {
            "version": 1, "clinic_id": CLINIC, "patient_id": p,
            "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (
                starts.microsecond // 1000),
            "status": "booked", "doctor_id": "doc-1", "service_category": "therapy",
            "booking_source": "call"})


def produced_at(s):
    """job id -> when its command reached the topic (the message's
    timestamp, the producer's clock: this machine's)."""
    p = subprocess.run(["kcat", "-b", s.broker.bootstrap, "-C", "-t",
                        "clinicflow.reminders.commands.v1", "-o", "beginning", "-e", "-J", "-q"],
                       capture_output=True, timeout=120, check=True)
    out = {}
    for line in p.stdout.decode().splitlines():
        rec = json.loads(line)
        out[json.loads(rec["payload"])["subject"]] = rec["ts"]
    return out


def pct(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main():
    dialer = Dialer()
    s = None
    skipped = []
    marks = {}
    emitted = {}
    produced = {}
    try:
        s = DispatchBench(dialer)
        # the due times start once the import (~12,000 lines a second) and
        # the other instances' start are surely over
        lead_s = 20 + 2 * JOBS / 10000
        first_due = datetime.datetime.now(datetime.timezone.utc) + \
            datetime.timedelta(seconds=lead_s)
        t0 = time.monotonic()
        rep = test_batch.ok(s.batch(lines(first_due), timeout=600))
        assert rep["appointments"]["created"] == JOBS and rep["invalid"] == 0, rep
        planned = int(s.sql("SELECT count(*) FROM reminders.reminder_jobs"
                            " WHERE status = 'pending'")[0][0])
        print("import: %d appointments in %.1f s, %d reminder jobs pending"
              % (JOBS, time.monotonic() - t0, planned), flush=True)
        while len(s.services) < INSTANCES:
            s.services.append(s.start_service())
        wait_s = (first_due - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        print("%d instances; the first job is due in %.1f s, the last %.0f s later"
              % (len(s.services), wait_s, JOBS / RATE), flush=True)
        assert wait_s > 0, "the import took longer than the lead; raise it"
        deadline = time.monotonic() + wait_s + JOBS / RATE + 120

        def count():
            return open(dialer.out.name, "rb").read().count(b"\n") - 1

        while time.monotonic() < deadline and count() < planned:
            time.sleep(1)
        time.sleep(2)  # anything sent twice arrives too
    finally:
        rows = dialer.stop()
        if s:
            skipped = s.sql("SELECT 'job ' || status || ' ' || coalesce(reason, ''), count(*)"
                            " FROM reminders.reminder_jobs"
                            " WHERE status IN ('cancelled', 'skipped') GROUP BY 1"
                            " UNION ALL SELECT 'send ' || status || ' ' || coalesce(reason, ''),"
                            " count(*) FROM reminders.sends WHERE status <> 'sent' GROUP BY 1")
            # where the time goes: due -> the send's row (scheduler, relay,
            # topic, dispatcher's queue) and the row -> the dialer (the send)
            marks = dict(s.sql("SELECT j.job_id, (extract(epoch FROM s.created_at) * 1000)::bigint"
                               " FROM reminders.sends s JOIN reminders.reminder_jobs j"
                               " USING (job_id)")) if rows else {}
            emitted = dict(s.sql("SELECT job_id, (extract(epoch FROM updated_at) * 1000)::bigint"
                                 " FROM reminders.reminder_jobs")) if rows else {}
            produced = produced_at(s) if rows else {}
            s.close()
    by_job = {}
    for arrival, _send, job, due in rows:
        by_job.setdefault(job, []).append((arrival, due))
    twice = sum(1 for v in by_job.values() if len(v) > 1)
    lags = sorted(first[0] - int(common.instant(first[1]).timestamp() * 1000)
                  for first in (min(v) for v in by_job.values()))
    print("dialer: %d requests, %d jobs (of %d planned), %d jobs twice, %d missing"
          % (len(rows), len(by_job), planned, twice, planned - len(by_job)))
    if skipped:
        print("jobs not sent: %s" % ", ".join("%s %s" % (r[0], r[1]) for r in skipped))
    if not lags:
        return 1
    arrivals = sorted(min(v)[0] for v in by_job.values())
    span = (arrivals[-1] - arrivals[0]) / 1000
    print("rate at the dialer: %.0f jobs/s over %.1f s (due at %.0f/s)"
          % (len(arrivals) / span if span else 0, span, RATE))
    print("lag after the due time, ms: p50 %d, p90 %d, p99 %d, max %d, min %d"
          % (pct(lags, 0.5), pct(lags, 0.9), pct(lags, 0.99), lags[-1], lags[0]))
    to_mark = sorted(int(marks[j]) - int(common.instant(min(v)[1]).timestamp() * 1000)
                     for j, v in by_job.items() if j in marks)
    to_dialer = sorted(min(v)[0] - int(marks[j]) for j, v in by_job.items() if j in marks)
    to_emit = sorted(int(emitted[j]) - int(common.instant(min(v)[1]).timestamp() * 1000)
                     for j, v in by_job.items() if j in emitted)
    if to_emit:
        print("  due -> the job's last change (the scheduler's mark), ms: p50 %d, p99 %d"
              % (pct(to_emit, 0.5), pct(to_emit, 0.99)))
    to_topic = sorted(produced[j] - int(emitted[j]) for j in by_job
                      if j in produced and j in emitted)
    from_topic = sorted(int(marks[j]) - produced[j] for j in by_job
                        if j in produced and j in marks)
    if to_topic:
        print("  the mark -> the topic (the outbox relay), ms: p50 %d, p99 %d"
              % (pct(to_topic, 0.5), pct(to_topic, 0.99)))
        print("  the topic -> the send's row (the dispatcher's fetch and queue), ms: p50 %d, p99 %d"
              % (pct(from_topic, 0.5), pct(from_topic, 0.99)))
    if to_mark:
        print("  due -> the send's row (scheduler, relay, topic, queue), ms: p50 %d, p99 %d"
              % (pct(to_mark, 0.5), pct(to_mark, 0.99)))
        print("  the send's row -> the dialer (the send), ms: p50 %d, p99 %d"
              % (pct(to_dialer, 0.5), pct(to_dialer, 0.99)))
    print("p99 %s the goal of 1,000 ms" % ("meets" if pct(lags, 0.99) < 1000 else "misses"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
