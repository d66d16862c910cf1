// Checks @upstash/redis (unmodified) against upstash-local.
// Usage: npm install @upstash/redis && UPSTASH_REDIS_REST_URL=http://127.0.0.1:8079 \
//        UPSTASH_REDIS_REST_TOKEN=TOKEN node check.mjs
import { Redis } from "@upstash/redis";
import assert from "node:assert/strict";

const redis = new Redis({
  url: process.env.UPSTASH_REDIS_REST_URL ?? "http://127.0.0.1:8079",
  token: process.env.UPSTASH_REDIS_REST_TOKEN,
});
const p = `sdkcheck:js:${process.pid}:${Date.now()}:`;
const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push(`ok   ${name}`);
  } catch (e) {
    results.push(`FAIL ${name}: ${e.message}`);
  }
}

await check("ping", async () => assert.equal(await redis.ping(), "PONG"));
await check("set/get string", async () => {
  assert.equal(await redis.set(`${p}s`, "héllo wörld"), "OK");
  assert.equal(await redis.get(`${p}s`), "héllo wörld");
});
await check("set ex / ttl", async () => {
  await redis.set(`${p}ex`, "v", { ex: 100 });
  const ttl = await redis.ttl(`${p}ex`);
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
});
await check("set/get object (JSON)", async () => {
  await redis.set(`${p}o`, { a: 1, b: [true, null] });
  assert.deepEqual(await redis.get(`${p}o`), { a: 1, b: [true, null] });
});
await check("get missing → null", async () => assert.equal(await redis.get(`${p}missing`), null));
await check("incr/incrby", async () => {
  assert.equal(await redis.incr(`${p}n`), 1);
  assert.equal(await redis.incrby(`${p}n`, 41), 42);
});
await check("mget with missing", async () => {
  assert.deepEqual(await redis.mget(`${p}s`, `${p}missing`), ["héllo wörld", null]);
});
await check("hset/hgetall", async () => {
  await redis.hset(`${p}h`, { f1: "v1", f2: 2 });
  assert.deepEqual(await redis.hgetall(`${p}h`), { f1: "v1", f2: 2 });
});
await check("zadd/zrange withScores", async () => {
  await redis.zadd(`${p}z`, { score: 1.5, member: "a" }, { score: 3, member: "b" });
  assert.deepEqual(await redis.zrange(`${p}z`, 0, -1, { withScores: true }), ["a", 1.5, "b", 3]);
});
await check("pipeline", async () => {
  const pipe = redis.pipeline();
  pipe.set(`${p}pa`, "1");
  pipe.incr(`${p}pa`);
  pipe.get(`${p}pa`);
  assert.deepEqual(await pipe.exec(), ["OK", 2, 2]);
});
await check("pipeline with failing command (keepErrors)", async () => {
  const pipe = redis.pipeline();
  pipe.set(`${p}pe`, "x");
  pipe.incr(`${p}pe`);
  pipe.get(`${p}pe`);
  const res = await pipe.exec({ keepErrors: true });
  assert.equal(res[0].result, "OK");
  assert.match(res[1].error, /not an integer/);
  assert.equal(res[2].result, "x");
});
await check("multi/exec", async () => {
  const tx = redis.multi();
  tx.set(`${p}t`, "10");
  tx.incrby(`${p}t`, 5);
  assert.deepEqual(await tx.exec(), ["OK", 15]);
});
await check("eval", async () => {
  assert.equal(await redis.eval("return ARGV[1] .. KEYS[1]", [`${p}k`], ["x:"]), `x:${p}k`);
});
await check("scriptLoad/evalsha", async () => {
  const sha = await redis.scriptLoad("return redis.call('GET', KEYS[1])");
  assert.equal(await redis.evalsha(sha, [`${p}s`], []), "héllo wörld");
});
await check("Script (evalsha with eval fallback)", async () => {
  const script = redis.createScript(`return "script-" .. ARGV[1] .. "-${Date.now()}"`);
  assert.match(await script.exec([], ["ok"]), /^script-ok-/);
});
await check("scan with match", async () => {
  const found = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${p}*`, count: 100 });
    found.push(...keys);
    cursor = String(next);
  } while (cursor !== "0");
  assert.ok(found.includes(`${p}s`) && found.includes(`${p}z`), `found ${found.length}`);
});
await check("error surfaces", async () => {
  await assert.rejects(redis.lpush(`${p}s`, "x"), /WRONGTYPE/);
});
await check("del", async () => {
  const keys = ["s", "ex", "o", "n", "h", "z", "pa", "pe", "t"].map((k) => p + k);
  assert.equal(await redis.del(...keys), keys.length);
});

console.log(results.join("\n"));
process.exit(results.some((r) => r.startsWith("FAIL")) ? 1 : 0);
