"""Checks the Python SDK `upstash-redis` (unmodified) against upstash-local.

Usage: pip install upstash-redis && UPSTASH_REDIS_REST_URL=http://127.0.0.1:8079 \
       UPSTASH_REDIS_REST_TOKEN=TOKEN python check.py
"""
import asyncio
import os
import sys
import time

from upstash_redis import Redis
from upstash_redis.asyncio import Redis as AsyncRedis

URL = os.environ.get("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:8079")
TOKEN = os.environ["UPSTASH_REDIS_REST_TOKEN"]
P = f"sdkcheck:py:{os.getpid()}:{time.time_ns()}:"
redis = Redis(url=URL, token=TOKEN)
results = []


def check(name, fn):
    try:
        fn()
        results.append(f"ok   {name}")
    except Exception as e:  # noqa: BLE001
        results.append(f"FAIL {name}: {type(e).__name__}: {e}")


def set_get():
    assert redis.set(P + "s", "héllo wörld") is True
    assert redis.get(P + "s") == "héllo wörld"


def set_ex():
    redis.set(P + "ex", "v", ex=100)
    assert 0 < redis.ttl(P + "ex") <= 100


def incr():
    assert redis.incr(P + "n") == 1
    assert redis.incrby(P + "n", 41) == 42


def hashes():
    redis.hset(P + "h", values={"f1": "v1", "f2": "2"})
    assert redis.hgetall(P + "h") == {"f1": "v1", "f2": "2"}


def zsets():
    redis.zadd(P + "z", {"a": 1.5, "b": 3})
    assert redis.zrange(P + "z", 0, -1, withscores=True) == [("a", 1.5), ("b", 3.0)]


def pipeline():
    pipe = redis.pipeline()
    pipe.set(P + "pa", "1")
    pipe.incr(P + "pa")
    pipe.get(P + "pa")
    assert pipe.exec() == [True, 2, "2"]


def multi():
    tx = redis.multi()
    tx.set(P + "t", "10")
    tx.incrby(P + "t", 5)
    assert tx.exec() == [True, 15]


def evals():
    assert redis.eval("return ARGV[1] .. KEYS[1]", keys=[P + "k"], args=["x:"]) == "x:" + P + "k"
    sha = redis.script_load("return redis.call('GET', KEYS[1])")
    assert redis.evalsha(sha, keys=[P + "s"]) == "héllo wörld"


def scan():
    found, cursor = [], 0
    while True:
        cursor, keys = redis.scan(cursor, match=P + "*", count=100)
        found += keys
        if cursor == 0:
            break
    assert P + "s" in found and P + "z" in found, found


def errors():
    try:
        redis.lpush(P + "s", "x")
    except Exception as e:  # noqa: BLE001
        assert "WRONGTYPE" in str(e), e
    else:
        raise AssertionError("no error raised")


def async_client():
    async def run():
        r = AsyncRedis(url=URL, token=TOKEN)
        assert await r.set(P + "a", "async") is True
        assert await r.get(P + "a") == "async"
        assert await r.mget(P + "a", P + "missing") == ["async", None]
        await r.close()

    asyncio.run(run())


def delete():
    keys = [P + k for k in ["s", "ex", "n", "h", "z", "pa", "t", "a"]]
    assert redis.delete(*keys) == len(keys)


def ping():
    assert redis.ping() == "PONG"


def get_missing():
    assert redis.get(P + "missing") is None


check("ping", ping)
check("set/get", set_get)
check("set ex / ttl", set_ex)
check("get missing → None", get_missing)
check("incr/incrby", incr)
check("hset/hgetall", hashes)
check("zadd/zrange withscores", zsets)
check("pipeline", pipeline)
check("multi/exec", multi)
check("eval/script_load/evalsha", evals)
check("scan with match", scan)
check("error surfaces", errors)
check("asyncio client", async_client)
check("delete", delete)
print("\n".join(results))
sys.exit(1 if any(r.startswith("FAIL") for r in results) else 0)
