"""The reports' Redis cache (services/analytics/report_cache.c): a repeated
query is answered from Redis, a committed batch makes every cached answer
stale (the next answer has the new figures), even when Redis took no
writes as it committed, and with Redis down every answer is computed,
exact, and the service stays ready."""
from datetime import datetime, timedelta, timezone

import cfstack
from common import NET, Stack, produce_many, call_event, simple_call, CALLS

CLINIC = "demo-center"
DAY = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)
Q = {"from": "2026-11-18", "to": "2026-11-18"}


def cache_count(svc, result):
    return int(cfstack.metric(svc, 'clinicflow_analytics_report_cache_total{result="%s"}' % result))


def calls(tag, n, start):
    return [call_event("ended", simple_call(NET, CLINIC, "%s-%d" % (tag, i),
                                            start + timedelta(minutes=i), talk=30))
            for i in range(n)]


def cached(stack, svc, q, tag, n, start):
    """n calls of tag from start applied, and q's answer with them in the
    cache (asked again until one comes from it)."""
    produce_many(stack.broker.bootstrap, CALLS, calls(tag, n, start))
    stack.wait_consumed()
    first = stack.report_changed(q, lambda r: _inbound(r, n))
    hits = cache_count(svc, "hit")
    cfstack.wait_until(lambda: stack.report(q)["totals"] == first["totals"]
                       and cache_count(svc, "hit") > hits, 5, "an answer from the cache")
    return first


def test_cached_then_stale(stack):
    svc = stack.start_analytics()
    first = cached(stack, svc, Q, "a", 3, DAY)
    misses, hits = cache_count(svc, "miss"), cache_count(svc, "hit")
    assert stack.report(Q)["totals"] == first["totals"]
    assert (cache_count(svc, "hit"), cache_count(svc, "miss")) == (hits + 1, misses)
    # two more calls: the batch that applies them makes the cached answer
    # stale, and the next answer counts them
    produce_many(stack.broker.bootstrap, CALLS, calls("b", 2, DAY + timedelta(hours=1)))
    stack.wait_consumed()
    stack.report_changed(Q, lambda r: _inbound(r, 5))
    stack.stop(svc)


def test_stale_whatever_redis_did(stack):
    # a Redis of the test's own, which takes no writes while a batch
    # commits: the answer cached before it is not served after it
    redis = cfstack.OwnRedis()
    try:
        svc = stack.start_analytics(CLINICFLOW_REDIS_URL=redis.url)
        day = DAY + timedelta(days=1)
        q = {"from": "2026-11-19", "to": "2026-11-19"}
        cached(stack, svc, q, "e", 2, day)
        redis.cli("CLIENT", "PAUSE", "20000", "WRITE")
        try:
            produce_many(stack.broker.bootstrap, CALLS, calls("f", 1, day + timedelta(hours=1)))
            stack.wait_consumed()
        finally:
            redis.cli("CLIENT", "UNPAUSE")
        # the batch has committed: the very next answer counts its call
        _inbound(stack.report(q), 3)
        stack.stop(svc)
    finally:
        redis.close()


def test_redis_down(stack):
    # a port nobody listens on: every command fails fast
    svc = stack.start_analytics(CLINICFLOW_REDIS_URL="redis://127.0.0.1:%d/0" % cfstack.free_port())
    produce_many(stack.broker.bootstrap, CALLS, calls("c", 4, DAY + timedelta(hours=2)))
    stack.wait_consumed()
    # the figures of this test's calls and the first test's (one database)
    for _ in range(3):
        rep = stack.report(Q)
        assert rep["totals"]["inbound"] == 9, rep["totals"]
    assert cache_count(svc, "hit") == 0
    assert cache_count(svc, "miss") >= 3
    st, _, body = cfstack.http("GET", svc.url("/readyz"))
    assert st == 200, (st, body)
    produce_many(stack.broker.bootstrap, CALLS, calls("d", 1, DAY + timedelta(hours=3)))
    stack.wait_consumed()
    rep = stack.report(Q)
    assert rep["totals"]["inbound"] == 10, rep["totals"]
    stack.stop(svc)


def _inbound(rep, n):
    assert rep["totals"]["inbound"] == n, rep["totals"]


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_cached_then_stale, test_stale_whatever_redis_did,
                                 test_redis_down])
