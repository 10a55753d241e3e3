"""The analytics dashboard in a real browser (Debian's chromium, driven by
tests/browser/dashboard.mjs with playwright-core): clinicflow-analytics
serves the page at / with the business scenario of
tests/integration/analytics (business_scenario.py) fed, and the browser
script checks that every page loads and shows the API's numbers, that the
filters and drill-downs ask what they should, that nothing shows without
a session (and the API answers 401 without its cookie), sign-out, a key
limited to one clinic, the worklist saying what each task is about (a
form lead's callback is the lead's, not a missed call's) and picking up a
new missed call while it is open; it saves screenshots of every page in
both languages.

The control channel is the script's stdin and stdout: it prints
"CONTROL worklist-ready" once the worklist is on screen; this test then
produces a missed call and its callback task on calls.v1 and tasks.v1
(as the calls service would), waits until analytics has consumed them,
and answers "produced <task id>" on the script's stdin; the script waits
for that task's row to appear on its own.
"""
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "analytics"))

import cfstack  # noqa: E402
from business_scenario import C, NET, PHONE, BizStack, feed, lead_id  # noqa: E402
from common import (CALLS, TASKS, call_event, cf_uuid5, contact_key, iso, party,  # noqa: E402
                    produce_many, simple_call, simple_task, task_event)

BROWSER_DIR = os.path.join(cfstack.source_dir(), "tests", "browser")
SCRIPT = os.path.join(BROWSER_DIR, "dashboard.mjs")
CHROMIUM = "/usr/bin/chromium"
# The whole script (every page in two languages, three browser contexts).
SCRIPT_TIMEOUT_S = 90
LIMITED_CLINICS = [C]


def artifacts_dir():
    """$CLINICFLOW_ARTIFACTS/dashboard, or artifacts/dashboard in the build
    folder (the one holding bin/)."""
    root = os.environ.get("CLINICFLOW_ARTIFACTS")
    if not root:
        root = os.path.join(os.path.dirname(os.path.abspath(cfstack.bin_path("clinicflowctl"))),
                            "..", "artifacts")
    path = os.path.normpath(os.path.join(root, "dashboard"))
    os.makedirs(path, exist_ok=True)
    return path


def preflight():
    node = shutil.which("node")
    assert node, "node is not installed (deploy/local/deps installs it)"
    assert os.access(CHROMIUM, os.X_OK), "%s is missing (deploy/local/deps installs it)" % CHROMIUM
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), (
        "tests/browser/node_modules is missing: run `npm ci` in tests/browser")
    return node


def new_missed_call(stack):
    """A missed call at demo-center a minute ago and the callback task it
    opened, on calls.v1 and tasks.v1 as the calls service produces them;
    returns the task id once analytics has consumed both."""
    start = datetime.now(timezone.utc) - timedelta(minutes=1)
    tag = "dash-missed-%d" % int(time.time() * 1000)
    call = simple_call(NET, C, tag, start, outcome="missed", phone="+79161119999")
    task = simple_task(NET, call)
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", call)])
    produce_many(stack.broker.bootstrap, TASKS, [task_event("opened", task)])
    stack.wait_consumed(timeout=30)
    return task["task_id"]


def lead_callback(stack, days):
    """The callback task the leads fold opens for L3, the scenario's form
    lead with a phone (D3 14:00 at demo-center), still open: on tasks.v1
    as the fold produces it. The worklist shows it as the lead's, not as
    a missed call's."""
    opened = days.at("D3", "14:00")
    task = {"task_id": cf_uuid5(NET, "lead-task", "callback", lead_id("L3")),
            "kind": "callback", "status": "open", "clinic_id": C, "lead_id": lead_id("L3"),
            "contact": party(PHONE["X1"]), "contact_key": contact_key(PHONE["X1"]),
            "opened_at": iso(opened), "due_at": iso(opened + timedelta(minutes=15))}
    ev = task_event("opened", task)
    ev["source"] = "/clinicflow/leads/fold"
    produce_many(stack.broker.bootstrap, TASKS, [ev])
    stack.wait_consumed(timeout=30)


def run_browser(stack, node, env):
    """Runs the browser script, answering its control lines; asserts it
    passed. Its output is echoed as it comes."""
    proc = subprocess.Popen([node, SCRIPT], cwd=BROWSER_DIR, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + SCRIPT_TIMEOUT_S
    output = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the browser script did not finish within %ss:\n%s"
                                     % (SCRIPT_TIMEOUT_S, "\n".join(output[-60:])))
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                break
            output.append(line)
            print("  [browser] " + line, flush=True)
            if line == "CONTROL worklist-ready":
                task_id = new_missed_call(stack)
                proc.stdin.write("produced %s\n" % task_id)
                proc.stdin.flush()
        rc = proc.wait(timeout=15)
        assert rc == 0, "the browser script failed (exit %s):\n%s" % (rc, "\n".join(output[-80:]))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_dashboard(stack):
    node = preflight()
    days, _ = feed(stack)
    lead_callback(stack, days)
    limited = cfstack.clinicflowctl(stack.dsn, "key", "create", "--network", NET, "--scope",
                                    "read", *sum((["--clinic", c] for c in LIMITED_CLINICS), []))
    limited_key = limited.stdout.split()[-1]
    shots = artifacts_dir()
    env = dict(os.environ)
    env.update({
        "CF_DASHBOARD_URL": stack.analytics.url("/").rstrip("/"),
        "CF_READ_KEY": stack.keys["read"],
        "CF_LIMITED_KEY": limited_key,
        "CF_LIMITED_CLINICS": ",".join(LIMITED_CLINICS),
        "CF_FROM": days.s("D1"),
        "CF_TO": days.s("T"),
        "CF_SCREENSHOTS": shots,
        "CF_CHROMIUM": CHROMIUM,
    })
    run_browser(stack, node, env)
    print("  screenshots in %s" % shots, flush=True)


if __name__ == "__main__":
    cfstack.run_on_stack(BizStack, [test_dashboard])
