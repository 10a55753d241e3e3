# Helpers shared by deploy/local/up, deploy/local/down and tests/run: start
# and stop the real PostgreSQL, Redis and devbroker under a given folder,
# find free loopback ports, wait for HTTP endpoints. Sourced, never run.
# Every server is started from Debian's own binaries with its data, socket,
# log and pid file under the caller's folder, so that stopping it touches
# nothing else on the machine. Functions return non-zero with a message on
# stderr instead of exiting, so callers decide what a failure means.

# The newest installed PostgreSQL server binaries (initdb and pg_ctl are not
# on PATH in Debian's packaging).
cf_pg_bindir() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
        echo "postgresql server binaries not found under /usr/lib/postgresql (run deploy/local/deps)" >&2
        return 1
    fi
    printf '%s\n' "$dir"
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses
# to run as root), as ourselves otherwise.
cf_as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        # from /: the caller's folder may be one postgres cannot enter
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# free_port: prints a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# cf_pid_alive PIDFILE NAME: true when PIDFILE names a live process whose
# command line contains NAME (a recycled pid of another program is not ours).
cf_pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s "$pidfile" ]] || return 1
    pid=$(head -n 1 "$pidfile")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$name"
}

# cf_stop_pid PIDFILE NAME [WAIT_S]: SIGTERM to the process of PIDFILE if it
# is still ours, waits up to WAIT_S (default 15) seconds, then SIGKILL.
# Prints what happened; removes the pid file. Returns 1 if it had to kill.
cf_stop_pid() {
    local pidfile=$1 name=$2 wait_s=${3:-15} pid i
    if ! cf_pid_alive "$pidfile" "$name"; then
        [[ -e "$pidfile" ]] && echo "$name: not running (stale pid file removed)"
        rm -f "$pidfile"
        return 0
    fi
    pid=$(head -n 1 "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "$name: pid $pid did not stop within ${wait_s}s after SIGTERM; killed" >&2
        rm -f "$pidfile"
        return 1
    fi
    echo "$name: stopped (pid $pid)"
    rm -f "$pidfile"
    return 0
}

# start_postgres DIR PORT: a PostgreSQL cluster with its data in DIR/data,
# its socket in DIR, its log in DIR/postgres.log, listening on 127.0.0.1:PORT
# only, with a login role and database "clinicflow" (trust authentication:
# loopback development and test use only). Initializes the cluster on first
# use; starting a running cluster is a no-op. DIR must be reachable by the
# postgres user (not under a mode-700 home). CF_PG_OPTIONS adds server
# options ("-c shared_buffers=512MB"), for a benchmark that needs them.
start_postgres() {
    local dir=$1 port=$2 bindir sock
    bindir=$(cf_pg_bindir) || return 1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    sock="$dir/.s.PGSQL.$port"
    if ((${#sock} > 107)); then
        echo "postgres socket path $sock is longer than 107 bytes: use a shorter folder" >&2
        return 1
    fi
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres:postgres "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "the postgres user cannot reach $dir (a parent folder is not traversable," \
                "e.g. a mode-700 home): put the data elsewhere" >&2
            return 1
        fi
    fi
    if [[ ! -s "$dir/data/PG_VERSION" ]]; then
        rm -rf "$dir/data"
        if ! cf_as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync \
            -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
            echo "initdb failed:" >&2
            tail -n 20 "$dir/initdb.log" >&2
            return 1
        fi
    fi
    if ! cf_as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        if ! cf_as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off ${CF_PG_OPTIONS:-}" \
            start >/dev/null; then
            echo "postgres did not start on port $port:" >&2
            tail -n 20 "$dir/postgres.log" >&2
            return 1
        fi
    fi
    cf_as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres <<'SQL' >/dev/null || return 1
SELECT 'CREATE ROLE clinicflow LOGIN SUPERUSER'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'clinicflow') \gexec
SELECT 'CREATE DATABASE clinicflow OWNER clinicflow'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'clinicflow') \gexec
SQL
}

# pg_dsn PORT: the libpq URI of the clinicflow database started above.
pg_dsn() {
    printf 'postgresql://clinicflow@127.0.0.1:%s/clinicflow\n' "$1"
}

# stop_postgres DIR: fast shutdown of the cluster in DIR/data, if running.
stop_postgres() {
    local dir=$1 bindir
    bindir=$(cf_pg_bindir) || return 1
    [[ -d "$dir/data" ]] || return 0
    # the real path: .local/pg may link to a folder outside a home the
    # postgres user cannot traverse
    dir=$(cd "$dir" && pwd -P)
    if cf_as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        cf_as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
        echo "postgres: stopped"
    fi
}

# start_redis DIR PORT [PIDFILE]: a Redis on 127.0.0.1:PORT with no
# persistence, working folder and log in DIR, pid in PIDFILE (default
# DIR/redis.pid). Waits until it answers PING.
start_redis() {
    local dir=$1 port=$2 pidfile=${3:-$1/redis.pid} i
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if cf_pid_alive "$pidfile" redis-server; then
        return 0
    fi
    rm -f "$pidfile"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --pidfile "$pidfile" --dir "$dir" --logfile "$dir/redis.log" \
        </dev/null >/dev/null
    for ((i = 0; i < 100; i++)); do
        # ours: another Redis on the port would answer too
        if [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] &&
            cf_pid_alive "$pidfile" redis-server; then
            return 0
        fi
        sleep 0.1
    done
    echo "redis did not answer on port $port within 10s:" >&2
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    return 1
}

# stop_redis DIR [PIDFILE]
stop_redis() {
    cf_stop_pid "${2:-$1/redis.pid}" redis-server
}

# start_devbroker BUILD_BIN CATALOGUE DIR [PIDFILE]: the in-memory
# Kafka-protocol broker in the background (own session, so a terminal's ^C
# does not reach it), log in DIR/devbroker.log. Waits (30 s deadline) until it
# has written DIR/bootstrap (the broker list) and DIR/control (host:port of
# its control interface), which it does only after creating every topic.
# BUILD_BIN is the folder holding clinicflow-devbroker.
start_devbroker() {
    local bin=$1/clinicflow-devbroker catalogue=$2 dir=$3 pidfile=${4:-$3/devbroker.pid}
    local pid deadline
    mkdir -p "$dir"
    if [[ ! -x "$bin" ]]; then
        echo "devbroker binary $bin not found (build first)" >&2
        return 1
    fi
    rm -f "$dir/bootstrap" "$dir/control"
    setsid "$bin" --catalogue "$catalogue" --bootstrap-file "$dir/bootstrap" \
        --control-file "$dir/control" </dev/null >"$dir/devbroker.log" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "devbroker exited during start-up:" >&2
            tail -n 20 "$dir/devbroker.log" >&2
            rm -f "$pidfile"
            return 1
        fi
        if [[ -s "$dir/bootstrap" && -s "$dir/control" ]]; then
            # the files may be written in more than one step: wait until a line
            # is complete and the content is stable
            sleep 0.1
            if [[ -n "$(head -n 1 "$dir/bootstrap")" && -n "$(head -n 1 "$dir/control")" ]]; then
                return 0
            fi
        fi
        sleep 0.1
    done
    echo "devbroker did not write $dir/bootstrap and $dir/control within 30s:" >&2
    tail -n 20 "$dir/devbroker.log" >&2
    return 1
}

# stop_devbroker DIR [PIDFILE]
stop_devbroker() {
    cf_stop_pid "${2:-$1/devbroker.pid}" clinicflow-devbroker
}

# wait_http URL DEADLINE_S: true once URL answers 200, false after DEADLINE_S
# seconds.
wait_http() {
    local url=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}
