"""The cases every service's retention sweeper shares (common/retention.h
runs it the same way in each): one instance at a time holds the lease row
<schema>.leases ("retention"), so a lease held elsewhere stops the sweep
until it expires, and a second instance only finds it busy; and a setting
checked at start exits 2 naming itself. Each service's test gives what is
its own: how to seed one old row of each of its tables and count them."""
import os
import subprocess
import uuid

import cfstack


def lease(dsn, schema):
    """The retention lease's [holder, held now] rows (none before a first
    round)."""
    return cfstack.psql(dsn, "SELECT holder, expires_at > now() FROM %s.leases"
                        " WHERE name = 'retention'" % schema)


def holder_pid(dsn, schema):
    """The pid of the lease's holder (its holder reads host:pid:n), or None."""
    rows = lease(dsn, schema)
    return rows[0][0].split(":")[1] if rows else None


def lease_held_elsewhere(dsn, svc, schema, seed_old, count_old):
    """A lease another instance holds stops svc's sweep until it expires;
    svc then takes it over. seed_old(tag) writes one row past its age in
    each table, count_old(tag) counts them (a list, a count a table)."""
    busy = "clinicflow_%s_retention_lease_busy_total" % schema
    cfstack.psql(dsn, "UPDATE %s.leases SET holder = 'elsewhere:1:1',"
                 " expires_at = now() + interval '1 hour' WHERE name = 'retention'" % schema)
    start = cfstack.metric(svc, busy)
    # Seeded once a round found the lease held (not during a round that
    # took it before the change).
    cfstack.wait_until(lambda: cfstack.metric(svc, busy) >= start + 1, 30, "a round skipped")
    tag = uuid.uuid4().hex[:8]
    seed_old(tag)
    seeded = count_old(tag)
    assert seeded and all(n == 1 for n in seeded), seeded
    # Two more rounds found the lease held and deleted nothing.
    cfstack.wait_until(lambda: cfstack.metric(svc, busy) >= start + 3, 30,
                       "two more rounds skipped")
    assert count_old(tag) == seeded
    cfstack.psql(dsn, "UPDATE %s.leases SET expires_at = now() - interval '1 second'"
                 " WHERE name = 'retention'" % schema)
    cfstack.wait_until(lambda: not any(count_old(tag)), 30, "the sweep after expiry")
    assert holder_pid(dsn, schema) == str(svc.proc.pid)


def second_instance_waits(dsn, svc, schema, start_other, tables):
    """Two instances: svc, holding the lease, keeps it (renewed each round);
    the other (start_other() starts it) only finds it busy and removes
    nothing from any of tables."""
    prefix = "clinicflow_%s_retention_" % schema
    cfstack.wait_until(lambda: holder_pid(dsn, schema) == str(svc.proc.pid), 30,
                       "the first instance to hold the lease")
    other = start_other()
    try:
        cfstack.wait_until(lambda: cfstack.metric(other, prefix + "lease_busy_total") >= 3, 30,
                           "the second instance to find it busy")
        assert cfstack.metric(other, prefix + "rounds_total") == 0
        for t in tables:
            assert cfstack.metric(other, prefix + 'removed_total{table="%s"}' % t) == 0, t
        assert holder_pid(dsn, schema) == str(svc.proc.pid)
    finally:
        other.stop()


def refused(service, env, name, value):
    """clinicflow-<service> with env and name=value exits 2 at start, naming
    the setting."""
    env = dict(os.environ, **env)
    env.update({name: value, "CLINICFLOW_HTTP_HOST": "127.0.0.1",
                "CLINICFLOW_HTTP_PORT": str(cfstack.free_port())})
    p = subprocess.run([cfstack.bin_path("clinicflow-" + service)], env=env,
                       capture_output=True, timeout=60)
    assert p.returncode == 2, (name, value, p.returncode, p.stderr[-800:])
    assert name.encode() in p.stderr, p.stderr[-800:]
