"""Static checks of the Docker deployment (no Docker engine runs here): the
compose file and the Dockerfile agree with the code. Every long-running
service has a healthcheck; every CLINICFLOW_* variable compose sets is one
the binaries read; the clinicflow image is built from deploy/docker/Dockerfile
in at least two stages and runs a program the build produces; the topic job
reads the catalogue the way the devbroker does; and the README documents
every variable the code reads."""
import os
import re
import subprocess
import tempfile

import yaml

import cfstack

ROOT = cfstack.source_dir()
DOCKERFILE = "deploy/docker/Dockerfile"
VAR_LITERAL = re.compile(r'"(CLINICFLOW_[A-Z0-9_]+)"')
PASS_THROUGH_PREFIX = "CLINICFLOW_KAFKA_X_"


def path(*parts):
    return os.path.join(ROOT, *parts)


def compose():
    with open(path("docker-compose.yml")) as f:
        return yaml.safe_load(f)


def c_sources():
    for top in ("services", "tools"):
        for d, _, files in os.walk(path(top)):
            for name in files:
                if name.endswith((".c", ".h")):
                    yield os.path.join(d, name)


def code_variables():
    """(names, prefixes) of CLINICFLOW_* string literals in the C sources;
    a literal ending in "_" is a prefix (pass-through families)."""
    names, prefixes = set(), {PASS_THROUGH_PREFIX}
    for p in c_sources():
        with open(p, encoding="utf-8", errors="replace") as f:
            for name in VAR_LITERAL.findall(f.read()):
                (prefixes if name.endswith("_") else names).add(name)
    return names, prefixes


def environment(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def one_shot(name, services):
    """A job that runs to completion: restart "no" and awaited by another
    service with service_completed_successfully."""
    if services[name].get("restart") != "no":
        return False
    for other in services.values():
        dep = other.get("depends_on") or {}
        if isinstance(dep, dict) and (dep.get(name) or {}).get("condition") == \
                "service_completed_successfully":
            return True
    return False


def built_executables():
    out = set()
    for d, _, files in os.walk(ROOT):
        if "CMakeLists.txt" in files and "/build" not in d and "/.git" not in d:
            with open(os.path.join(d, "CMakeLists.txt")) as f:
                out.update(re.findall(r"add_executable\(\s*([A-Za-z0-9_.-]+)", f.read()))
    return out


def dockerfile_stages():
    """[(from line, [instructions])] of the Dockerfile, continuation lines joined."""
    with open(path(DOCKERFILE)) as f:
        text = re.sub(r"\\\n", " ", f.read())
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def test_every_long_running_service_has_a_healthcheck():
    services = compose()["services"]
    assert {"kafka", "postgres", "redis", "calls", "leads", "reminders",
            "analytics"} <= set(services), sorted(services)
    for name, svc in services.items():
        if one_shot(name, services):
            continue
        hc = svc.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), "%s has no healthcheck" % name


def test_compose_sets_only_variables_the_binaries_read():
    names, prefixes = code_variables()
    assert len(names) >= 10, "found only %s in the C sources" % sorted(names)
    unknown = []
    for sname, svc in compose()["services"].items():
        for var in environment(svc):
            if var.startswith("CLINICFLOW_") and var not in names and \
                    not any(var.startswith(p) for p in prefixes):
                unknown.append("%s: %s" % (sname, var))
    assert not unknown, "compose sets variables no binary reads: %s" % unknown


def test_clinicflow_services_use_the_image_and_their_port():
    services = compose()["services"]
    executables = built_executables()
    ports = {"calls": 8081, "calls-intake": 8081, "leads": 8082, "reminders": 8083,
             "analytics": 8084}
    for name, svc in services.items():
        build = svc.get("build")
        if not build and not str(svc.get("image", "")).startswith("clinicflow"):
            continue
        assert isinstance(build, dict), "%s: build must name context and dockerfile" % name
        assert build.get("dockerfile") == DOCKERFILE, (name, build)
        assert os.path.normpath(path(build.get("context", "."))) == os.path.normpath(ROOT)
        cmd = svc.get("command")
        assert isinstance(cmd, list) and cmd, "%s: command must be an exec list" % name
        programs = [w for w in " ".join(cmd).replace("&&", " ").split()
                    if w.startswith("clinicflow")]
        assert programs, (name, cmd)
        for prog in programs:
            assert prog in executables, "%s runs %s, which the build does not produce" % (name,
                                                                                     prog)
        if name in ports:
            env = environment(svc)
            assert int(env["CLINICFLOW_HTTP_PORT"]) == ports[name], (name, env)
            assert env.get("CLINICFLOW_HTTP_HOST") == "0.0.0.0", (name, env)
            assert env.get("CLINICFLOW_KAFKA_BROKERS") == "kafka:9092", (name, env)
            hc = " ".join(svc["healthcheck"]["test"])
            assert "localhost:%d/readyz" % ports[name] in hc, (name, hc)
            deps = svc.get("depends_on") or {}
            for dep, cond in (("kafka", "service_healthy"), ("postgres", "service_healthy"),
                              ("redis", "service_healthy"),
                              ("migrate", "service_completed_successfully"),
                              ("kafka-topics", "service_completed_successfully")):
                assert deps.get(dep, {}).get("condition") == cond, (name, dep, deps)


def test_intake_scales_apart_from_the_fold():
    """calls-intake runs no consumer and publishes no host port, so any
    number of it can run (`--scale calls-intake=N`) behind a balancer on the
    compose network; the single services publish on loopback only."""
    services = compose()["services"]
    intake = services["calls-intake"]
    assert str(environment(intake)["CLINICFLOW_CALLS_CONSUMERS"]) == "0", intake
    assert "ports" not in intake and [str(p) for p in intake["expose"]] == ["8081"], intake
    for name in ("calls", "leads", "reminders", "analytics"):
        assert all(str(p).startswith("127.0.0.1:") for p in services[name]["ports"]), name


def test_kafka_is_kraft():
    kafka = compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:"), kafka["image"]
    env = environment(kafka)
    assert "controller" in env["KAFKA_PROCESS_ROLES"], env
    assert env.get("CLUSTER_ID"), env
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env


def test_dockerfile_is_multi_stage_and_unprivileged():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "Dockerfile has %d FROM stage(s)" % len(stages)
    assert all(s[0].split()[1].startswith("debian:12") for s in stages), stages
    final = stages[-1][1]
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the runtime stage runs as root"
    installs = " ".join(i for i in final if i.upper().startswith("RUN "))
    assert re.search(r"\bcurl\b", installs), "healthchecks need curl in the runtime image"
    assert not re.search(r"-dev\b", installs), "the runtime stage installs -dev packages"
    copies = " ".join(i for i in final if i.upper().startswith("COPY "))
    for prog in ("clinicflow-calls", "clinicflow-leads", "clinicflow-reminders",
                 "clinicflow-analytics", "clinicflowctl"):
        assert prog in copies, "%s is not copied into the runtime image" % prog


def test_topic_job_reads_the_catalogue():
    """The topic job's shell parser (the Kafka image has no python3) must
    see the same topics as a JSON parser."""
    import json
    with open(path("proto", "topics.json")) as f:
        expected = [(t["name"], str(t["partitions"]), t.get("cleanup_policy", "delete"),
                     str(t.get("retention_ms", "-")), str(t.get("delete_retention_ms", "-")))
                    for t in json.load(f)["topics"]]
    with tempfile.TemporaryDirectory() as bindir:
        for tool in ("bash", "awk"):
            for d in ("/usr/bin", "/bin"):
                if os.path.exists(os.path.join(d, tool)):
                    os.symlink(os.path.join(d, tool), os.path.join(bindir, tool))
                    break
        p = subprocess.run([os.path.join(bindir, "bash"), path("deploy", "kafka", "create-topics.sh"),
                            "--list"], env={"PATH": bindir, "CATALOGUE": path("proto", "topics.json")},
                           capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    got = [tuple(line.split()) for line in p.stdout.splitlines()]
    assert got == expected, (got, expected)


def test_k8s_example_has_probes():
    with open(path("deploy", "k8s", "calls.yaml")) as f:
        docs = list(yaml.safe_load_all(f))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service"} <= kinds, kinds
    names, prefixes = code_variables()
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", c
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", c
            for e in c.get("env", []):
                assert e["name"] in names or e["name"].startswith(tuple(prefixes)), e


def test_readme_documents_every_variable():
    names, _ = code_variables()
    readme = path("README.md")
    assert os.path.exists(readme), "README.md is missing"
    with open(readme) as f:
        text = f.read()
    missing = sorted(n for n in names if n not in text)
    assert not missing, "README.md does not document: %s" % missing


if __name__ == "__main__":
    cfstack.run([
        test_every_long_running_service_has_a_healthcheck,
        test_compose_sets_only_variables_the_binaries_read,
        test_clinicflow_services_use_the_image_and_their_port,
        test_intake_scales_apart_from_the_fold,
        test_kafka_is_kraft,
        test_dockerfile_is_multi_stage_and_unprivileged,
        test_topic_job_reads_the_catalogue,
        test_k8s_example_has_probes,
        test_readme_documents_every_variable,
    ])
