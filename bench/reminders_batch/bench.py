"""The batch import's throughput (POST /v1/mis/batch): 100,000
appointments and their 50,000 patients as one NDJSON body streamed with
chunked transfer encoding to clinicflow-reminders, against the baseline of
the same rows by COPY into scratch tables shaped like reminders.patients
and reminders.appointments (their indexes included), measured in the same
run on the same database. No threshold: it prints lines/s, appointments a
minute and the ratio to COPY.

With CF_BENCH_PLANNING=1 it measures the planning: every appointment is
booked in the weeks ahead, so the import plans its reminders (two a visit
with the default offsets) in the same transaction, and the baseline COPY
takes the jobs' rows into a table shaped like reminders.reminder_jobs as
well (bench/run reminders-planning: 1,000,000 appointments).

Run through bench/reminders_batch/run (a stack of its own, release
binaries); CF_BENCH_APPOINTMENTS changes the size."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import cfstack
import test_batch

N = int(os.environ.get("CF_BENCH_APPOINTMENTS", "100000"))
# planning: every appointment booked ahead (its reminders planned in the
# import's transaction), and the jobs' rows in the COPY baseline too
PLANNING = os.environ.get("CF_BENCH_PLANNING") == "1"
CENTER = test_batch.CENTER


def body_chunks(tag):
    """The body, made before the clock starts: (chunks, lines, bytes). Two
    appointments a patient; one visit in five is booked in the next weeks
    (its reminders are planned), the rest are completed past visits."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    chunks, buf, lines, size = [], bytearray(), 0, 0
    for i in range(N):
        if i % 2 == 0:
            p = {"kind": "patient", "id": "%s-p%d" % (tag, i // 2), "version": 1,
                 "clinic_id": CENTER, "first_name": "Имя%d" % i, "last_name": "Фамилия",
                 "phones": ["+7916%07d" % (i // 2)], "language": "ru",
                 "consents": {"calls": True, "sms": True}}
            buf += json.dumps(p, ensure_ascii=False).encode() + b"\n"
            lines += 1
        future = PLANNING or i % 5 == 0
        starts = now + datetime.timedelta(days=3 + i % 30, hours=i % 7) if future else \
            now - datetime.timedelta(days=1 + i % 700, hours=i % 7)
        a = {"kind": "appointment", "id": "%s-a%d" % (tag, i), "version": 1, "clinic_id": CENTER,
             "patient_id": "%s-p%d" % (tag, i // 2),
             "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "status": "booked" if future else "completed", "doctor_id": "doc-%d" % (i % 40),
             "doctor_name": "Доктор %d" % (i % 40), "service_category": "therapy",
             "amount_paid": 0 if future else 2500, "booking_source": "call"}
        buf += json.dumps(a, ensure_ascii=False).encode() + b"\n"
        lines += 1
        if len(buf) >= 256 * 1024:
            size += len(buf)
            chunks.append(bytes(buf))
            buf.clear()
    if buf:
        size += len(buf)
        chunks.append(bytes(buf))
    return chunks, lines, size


def psql_timed(dsn, sql):
    t0 = time.monotonic()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - t0


def main():
    s = test_batch.BatchStack()
    try:
        tag = "bench"
        chunks, lines, size = body_chunks(tag)
        print("body: %d lines (%d appointments), %.1f MB; postgresql shared_buffers %s"
              % (lines, N, size / 1048576, s.sql("SHOW shared_buffers")[0][0]), flush=True)
        t0 = time.monotonic()
        r = s.batch(iter(c.rstrip(b"\n") for c in chunks), chunk=1, timeout=600)
        took = time.monotonic() - t0
        if r.status != 200:
            # the service's own account of why, before the stack goes
            print(s.svc.logs()[-3000:], file=sys.stderr)
        rep = test_batch.ok(r)
        assert rep["appointments"]["created"] == N and rep["invalid"] == 0, rep
        jobs = s.sql("SELECT count(*) FROM reminders.reminder_jobs")[0][0]
        print("batch: %.1f s, %.0f lines/s, %.0f appointments/min (%s reminder jobs planned)"
              % (took, lines / took, N / took * 60, jobs), flush=True)
        for p in rep["progress"][:: max(1, len(rep["progress"]) // 5)]:
            print("  progress: %d lines at %d ms" % (p["lines"], p["elapsed_ms"]))

        # the relay's part: events produced after the commits
        t1 = time.monotonic()
        cfstack.wait_until(lambda: s.sql("SELECT count(*) FROM reminders.outbox")[0][0] == "0",
                           600, "the outbox relayed", interval=0.5)
        print("relay: outbox empty %.1f s after the answer" % (time.monotonic() - t1))

        # the baseline: COPY of the same rows into tables of the same shape
        d = tempfile.mkdtemp(prefix="cf-bench-batch-")
        os.chmod(d, 0o755)
        tables = ("patients", "appointments") + (("reminder_jobs",) if PLANNING else ())
        for t in tables:
            path = os.path.join(d, t + ".copy")
            subprocess.run(["psql", "-X", "-q", s.dsn, "-c",
                            "\\copy reminders.%s TO '%s'" % (t, path)], check=True)
        copy_s = 0.0
        for t in tables:
            path = os.path.join(d, t + ".copy")
            subprocess.run(["psql", "-X", "-q", s.dsn, "-c",
                            "SET client_min_messages = warning; DROP TABLE IF EXISTS scratch_%s;"
                            " CREATE TABLE scratch_%s"
                            " (LIKE reminders.%s INCLUDING ALL)" % (t, t, t)], check=True,
                           stdout=subprocess.DEVNULL)
            copy_s += psql_timed(s.dsn, "\\copy scratch_%s FROM '%s'" % (t, path))
        shutil.rmtree(d)
        print("copy: %.1f s, %.0f rows/s, %.0f appointments/min"
              % (copy_s, lines / copy_s, N / copy_s * 60))
        print("ratio batch/copy: %.2fx" % (copy_s / took))
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
