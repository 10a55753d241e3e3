"""The stack the simulator's tests drive: a database with the demo network
and its keys, a devbroker of the test's own (a test may take it down), the
services a test names with their settings, and clinicflow-sim's command
line pointed at them with the demo ingest key."""
import json
import urllib.parse

import cfstack


class SimStack(cfstack.ServiceStack):
    def __init__(self, services):
        """services: {service name: {CLINICFLOW_* setting: value}}."""
        super().__init__()
        self.wanted = services
        self.svcs = {}

    def start_service(self):
        raise NotImplementedError  # the services are started by name below

    def start_all(self):
        self.start(instances=0)
        for name, extra in self.wanted.items():
            svc = cfstack.Service(name, self.env_for(**extra))
            svc.start(timeout=90)
            self.services.append(svc)
            self.svcs[name] = svc

    def ready(self, name):
        return cfstack.http("GET", self.svcs[name].url("/readyz"), timeout=5)[0]

    def report(self, name, **params):
        q = urllib.parse.urlencode(params)
        st, _, body = cfstack.http(
            "GET", self.svcs["analytics"].url("/v1/reports/%s?%s" % (name, q)),
            headers={"Authorization": "Bearer " + self.keys["read"]})
        assert st == 200, (name, st, body[:500])
        return json.loads(body)

    def sim_command(self, *args):
        """clinicflow-sim's argv (the started services' URLs) and its
        environment (the demo ingest key)."""
        cmd = [cfstack.bin_path("clinicflow-sim"), "--network", cfstack.demo_network_path()]
        for name, svc in self.svcs.items():
            cmd += ["--" + name, svc.url("").rstrip("/")]
        env = {"CLINICFLOW_SIM_INGEST_KEY": self.keys["ingest"], "PATH": "/usr/bin:/bin"}
        return cmd + list(args), env


def run_main(stack, test):
    """Starts the stack, runs test(stack), closes it, exits with the status."""
    try:
        stack.start_all()
        cfstack.run([lambda: test(stack)], exit=False)
    finally:
        stack.close()
    cfstack.exit_status()
