"""clinicflow-sim's site visitors (--load --kinds dni; --live sends them the
same way): each visitor's page asks the calls service for a number with the
landing's UTM tags, and the visitor calls the number it got through the
demo network's UIS channel (the number pools' PBX). The pool holds five
numbers for half an hour, so the first five visitors get one and the rest
the clinic's default number (no call from them). Every call made must come
out of the fold attributed to the visitor who held its number, with that
visitor's ad. Holds live in Redis, which the suite's tests share: this one
uses a database of its own (REDIS_DB), emptied first, so no other test's
holds (or an earlier run's) take numbers from its pool."""
import json
import subprocess
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

import cfstack
from simstack import SimStack, run_main

REDIS_DB = 5  # no other test uses it

VISITS = 12  # 4 a second for 3 s: more than the centre's pool of 5
POOL = {"+74990000101", "+74990000102", "+74990000103", "+74990000104", "+74990000105"}
ADS = {"yandex_direct": ("cpc", "implants-2026"), "google_ads": ("cpc", "hygiene-2026"),
       "site": ("organic", None)}


def campaign_today(source, campaign):
    """The campaign a click of source goes under today: that of the
    source's tracking number in use on the network's day whose campaign is
    the same name for another period ("hygiene-2026h2"), as the spend and
    the calls of that day; campaign itself when none is."""
    if campaign is None:
        return None
    doc = cfstack.demo_network()
    today = datetime.now(ZoneInfo(doc["timezone"])).date().isoformat()
    family = campaign.split("-")[0]
    for tn in doc["tracking_numbers"]:
        c = tn.get("campaign")
        if tn["source"] == source and c and c.split("-")[0] == family \
                and tn.get("valid_from", "") <= today <= tn.get("valid_to", "9999-12-31"):
            return c
    return campaign


def test_visitors_calls_are_attributed_to_their_ads(stack):
    cmd, env = stack.sim_command("--load", "4", "--duration", "3", "--concurrency", "8",
                                 "--kinds", "dni", "--json")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    cfstack._check_sanitizers("clinicflow-sim", p.stderr)
    assert p.returncode == 0, "clinicflow-sim exited %s:\n%s" % (p.returncode, p.stderr[-3000:])
    rep = json.loads(p.stdout)
    print("sim: by_kind %s, dni_calls %s" % (rep["by_kind"], rep["dni_calls"]))
    pages, calls = rep["by_kind"]["dni"], rep["dni_calls"]
    assert pages["sent"] == pages["acknowledged"] == VISITS, rep
    # the pool's five numbers went to the first five visitors
    assert calls["sent"] == len(POOL) and calls["default_number"] == VISITS - len(POOL), calls
    assert calls["acknowledged"] == calls["sent"], calls

    reader = cfstack.TopicReader(stack.broker.bootstrap, "clinicflow.calls.v1")
    ended = {}

    def all_ended():
        for m in reader.read():
            e = json.loads(m["payload"]) if m["payload"] else {}
            if e.get("type") == "clinicflow.call.ended":
                ended[e["subject"]] = e["data"]
        return len(ended) >= calls["sent"]
    cfstack.wait_until(all_ended, 60, "call.ended of every visitor's call")
    assert len(ended) == calls["sent"], ended
    numbers = set()
    for call in ended.values():
        att = call.get("attribution")
        assert att and att["kind"] == "dynamic", call
        assert att["tracking_number"] in POOL and call["clinic_id"] == "demo-center", call
        assert att["visitor_id"].rsplit("-v", 1)[1].isdigit(), att
        medium, campaign = ADS[att["source"]]
        campaign = campaign_today(att["source"], campaign)
        assert att["medium"] == medium and att.get("campaign") == campaign, att
        numbers.add(att["tracking_number"])
    # one visitor a number: five calls, five numbers
    assert numbers == POOL, numbers


def own_redis():
    url = urllib.parse.urlparse(cfstack.env()["redis_url"])
    subprocess.run(["redis-cli", "-h", url.hostname, "-p", str(url.port), "-n", str(REDIS_DB),
                    "FLUSHDB"], check=True, capture_output=True, timeout=10)
    return "redis://%s:%d/%d" % (url.hostname, url.port, REDIS_DB)


if __name__ == "__main__":
    run_main(SimStack({"calls": {"CLINICFLOW_REDIS_URL": own_redis()}}),
             test_visitors_calls_are_attributed_to_their_ads)
