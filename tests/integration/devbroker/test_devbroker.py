"""Integration test of clinicflow-devbroker: topics from the catalogue, a
produce/consume round trip with kcat, brokers down and up through the control
interface, injected request errors, and a clean exit on SIGTERM.

It starts a devbroker of its own (CLINICFLOW_BIN_DIR) because it takes the
brokers down; every wait is bounded.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN_DIR = os.environ["CLINICFLOW_BIN_DIR"]
SOURCE_DIR = os.environ["CLINICFLOW_SOURCE_DIR"]
CATALOGUE = os.path.join(SOURCE_DIR, "proto", "topics.json")
KCAT = "kcat"


def wait_for_file(path, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"devbroker exited early with {proc.returncode}")
        if os.path.exists(path):
            with open(path, encoding="ascii") as fp:
                text = fp.read()
            if text.endswith("\n"):
                return text.strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def control(addr, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def kcat(args, stdin=None, timeout=20):
    return subprocess.run([KCAT] + args, input=stdin, capture_output=True, timeout=timeout)


def metadata(bootstrap):
    res = kcat(["-b", bootstrap, "-L", "-J", "-m", "3"])
    if res.returncode != 0:
        return None
    return json.loads(res.stdout)


def check_topics(bootstrap):
    with open(CATALOGUE, encoding="utf-8") as fp:
        catalogue = json.load(fp)
    md = metadata(bootstrap)
    assert md is not None, "kcat -L failed against a fresh devbroker"
    assert len(md["brokers"]) == 3, md["brokers"]
    have = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
    for topic in catalogue["topics"]:
        name = topic["name"]
        assert name in have, f"topic {name} missing from metadata"
        assert have[name] == topic["partitions"], \
            f"{name}: {have[name]} partitions, catalogue says {topic['partitions']}"
    extra = set(have) - {t["name"] for t in catalogue["topics"]}
    assert not extra, f"topics not in the catalogue: {sorted(extra)}"


def check_round_trip(bootstrap):
    topic = "clinicflow.dlq.v1"
    res = kcat(["-b", bootstrap, "-P", "-t", topic, "-p", "1", "-K", "\t", "-m", "5"],
               stdin=b"k-1\thello devbroker\n")
    assert res.returncode == 0, res.stderr
    res = kcat(["-b", bootstrap, "-C", "-t", topic, "-p", "1", "-o", "beginning", "-e", "-J",
                "-m", "5"])
    assert res.returncode == 0, res.stderr
    msgs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert [(m["key"], m["payload"]) for m in msgs] == [("k-1", "hello devbroker")], msgs


def check_brokers_down_up(addr, bootstrap):
    status, body = control(addr, "GET", "/brokers")
    assert status == 200 and body == {"brokers": [{"id": i, "up": True} for i in (1, 2, 3)]}, body

    status, body = control(addr, "POST", "/brokers/2/down")
    assert status == 200 and [b["up"] for b in body["brokers"]] == [True, False, True], body
    status, body = control(addr, "POST", "/brokers/2/up")
    assert status == 200 and all(b["up"] for b in body["brokers"]), body
    status, body = control(addr, "POST", "/brokers/4/down")
    assert status == 404 and body["error"]["code"] == "not_found", body

    status, body = control(addr, "POST", "/brokers/down")
    assert status == 200 and not any(b["up"] for b in body["brokers"]), body
    started = time.monotonic()
    assert metadata(bootstrap) is None, "kcat -L succeeded with every broker down"
    assert time.monotonic() - started < 10, "kcat -L did not fail within its timeout"

    status, body = control(addr, "POST", "/brokers/up")
    assert status == 200 and all(b["up"] for b in body["brokers"]), body
    deadline = time.monotonic() + 15
    while metadata(bootstrap) is None:
        assert time.monotonic() < deadline, "kcat -L still failing after /brokers/up"
        time.sleep(0.5)


def check_errors(addr, bootstrap):
    status, body = control(addr, "POST", "/errors",
                           {"api": "Produce", "errors": ["NO_SUCH_ERROR"], "count": 1})
    assert status == 400 and body["error"]["field"] == "errors", body
    status, body = control(addr, "POST", "/errors",
                           {"api": "NoSuchApi", "errors": ["NOT_ENOUGH_REPLICAS"]})
    assert status == 400 and body["error"]["field"] == "api", body
    status, body = control(addr, "POST", "/errors",
                           {"api": "Produce", "errors": ["NOT_ENOUGH_REPLICAS"], "extra": 1})
    assert status == 400, body

    # A non-retriable error makes the next produce fail; clearing restores it.
    status, body = control(addr, "POST", "/errors",
                           {"api": "Produce", "errors": ["TOPIC_AUTHORIZATION_FAILED"],
                            "count": 3})
    assert status == 200 and body == {"api": "Produce", "pushed": 3}, body
    res = kcat(["-b", bootstrap, "-P", "-t", "clinicflow.metrics.v1", "-p", "0", "-m", "5"],
               stdin=b"refused\n")
    assert res.returncode != 0, "produce succeeded despite an injected error"
    assert b"authorization" in res.stderr.lower(), res.stderr
    status, body = control(addr, "DELETE", "/errors")
    assert status == 200 and body == {"cleared": True}, body
    res = kcat(["-b", bootstrap, "-P", "-t", "clinicflow.metrics.v1", "-p", "0", "-m", "5"],
               stdin=b"accepted\n")
    assert res.returncode == 0, res.stderr


def main():
    with tempfile.TemporaryDirectory(prefix="cf-devbroker-") as tmp:
        bootstrap_file = os.path.join(tmp, "bootstrap")
        control_file = os.path.join(tmp, "control")
        log_path = os.path.join(tmp, "devbroker.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [os.path.join(BIN_DIR, "clinicflow-devbroker"), "--catalogue", CATALOGUE,
                 "--bootstrap-file", bootstrap_file, "--control-file", control_file],
                stdout=subprocess.PIPE, stderr=log)
        try:
            bootstrap = wait_for_file(bootstrap_file, proc)
            assert proc.stdout.readline().decode().strip() == bootstrap
            assert len(bootstrap.split(",")) == 3, bootstrap
            addr = wait_for_file(control_file, proc)
            assert addr.startswith("127.0.0.1:"), addr

            status, body = control(addr, "GET", "/healthz")
            assert status == 200 and body == {"status": "ok"}, body
            check_topics(bootstrap)
            check_round_trip(bootstrap)
            check_brokers_down_up(addr, bootstrap)
            check_errors(addr, bootstrap)

            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=10)
            assert rc == 0, f"devbroker exited {rc} on SIGTERM"
            assert not os.path.exists(bootstrap_file), "bootstrap file left behind"
        except BaseException:
            with open(log_path, encoding="utf-8", errors="replace") as fp:
                sys.stderr.write(fp.read()[-4000:])
            raise
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print("devbroker: ok")


if __name__ == "__main__":
    main()
