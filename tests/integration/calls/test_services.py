"""Every service binary: starts against the test stack, serves /healthz,
/readyz and /metrics, rejects a bad setting with exit code 2 naming the
variable, and stops cleanly (exit 0, no sanitizer report) on SIGTERM."""
import json
import os
import subprocess

import cfstack

SERVICES = ("calls", "leads", "reminders", "analytics")


def test_lifecycle():
    env = cfstack.env()
    dsn = cfstack.new_database(env["pg_dsn"])
    cfstack.setup_demo(dsn)
    for name in SERVICES:
        svc = cfstack.Service(name, {"CLINICFLOW_PG_DSN": dsn,
                                     "CLINICFLOW_KAFKA_BROKERS": env["brokers"],
                                     "CLINICFLOW_REDIS_URL": env["redis_url"]})
        svc.start()
        try:
            st, _, body = cfstack.http("GET", svc.url("/healthz"))
            assert st == 200, (name, st, body)
            st, _, body = cfstack.http("GET", svc.url("/readyz"))
            ready = json.loads(body)
            assert st == 200 and ready["postgres"] == "ok" and ready["kafka"] == "ok", ready
            assert ready["config"] == "ok" and ready["role"] in ("intake", "intake+consumers"), ready
            # Only calls declares routes that take events without PostgreSQL
            # (and it runs its consumers by default): every instance here needs it.
            assert "postgres" in ready["needs"], (name, ready)
            st, _, body = cfstack.http("GET", svc.url("/metrics"))
            assert st == 200 and b"clinicflow_config_version" in body, name
            st, _, body = cfstack.http("GET", svc.url("/no/such/route"))
            assert st == 404 and json.loads(body)["error"]["code"] == "not_found", body
        finally:
            svc.stop()
        rows = cfstack.psql(dsn, "SELECT count(*), min(version), max(version) FROM "
                            "%s.schema_migrations" % name)
        count, first, last = (int(v) for v in rows[0])
        assert count >= 1 and first == 1 and last == count, (name, rows)


def test_bad_setting_exits_2():
    cases = [("leads", "CLINICFLOW_HTTP_PORT", "eighty"),
             ("leads", "CLINICFLOW_PG_POOL_SIZE", "0"),
             ("leads", "CLINICFLOW_LOG_LEVEL", "loud"),
             ("leads", "CLINICFLOW_HTTP_PER_IP_CONNECTIONS", "-1"),
             ("leads", "CLINICFLOW_CONFIG_MAX_AGE_S", "0"),
             ("calls", "CLINICFLOW_CALLS_DEFAULT_COUNTRY", "44"),
             ("calls", "CLINICFLOW_CALLS_TRUSTED_PROXIES", "10.0.0.0/99"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "hooks.clinic.test"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test/?a=1"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test:web/in"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://hooks.clinic.test:70000"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://user:pw@hooks.clinic.test"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "HTTPS://hooks.clinic.test"),
             ("calls", "CLINICFLOW_CALLS_PUBLIC_BASE_URL", "https://[::1]x/in"),
             ("reminders", "CLINICFLOW_REMINDERS_PUBLIC_BASE_URL", "reminders.clinic.test"),
             ("reminders", "CLINICFLOW_REMINDERS_PUBLIC_BASE_URL", "https://r.clinic.test/#a")]
    for name, var, value in cases:
        binary = os.path.join(os.environ["CLINICFLOW_BIN_DIR"], "clinicflow-" + name)
        env = dict(os.environ, **{var: value})
        p = subprocess.run([binary], env=env, capture_output=True, timeout=30)
        assert p.returncode == 2, (var, p.returncode, p.stderr[-500:])
        assert var.encode() in p.stderr, (var, p.stderr[-500:])


if __name__ == "__main__":
    cfstack.run([test_lifecycle, test_bad_setting_exits_2])
