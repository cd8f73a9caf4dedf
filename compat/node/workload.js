// One ioredis session against HOST:PORT (argv), printed as JSON lines: compat/test_node_client.py
// runs it against redis-server and respdyn and compares the output. Errors are recorded as
// {"error": message} so error texts are compared too; order-free replies are sorted here.
"use strict";
const Redis = require("ioredis");

async function record(out, label, fn) {
  try {
    out.push([label, await fn()]);
  } catch (err) {
    out.push([label, { error: String(err.message) }]);
  }
}

async function main() {
  const [host, port] = process.argv.slice(2);
  const redis = new Redis({ host, port: Number(port), connectionName: "compat-node",
                            maxRetriesPerRequest: 0, enableOfflineQueue: true });
  const out = [];
  const r = (label, fn) => record(out, label, fn);
  await r("flushall", () => redis.flushall());
  await r("set", () => redis.set("greeting", "hello"));
  await r("get", () => redis.get("greeting"));
  await r("getBuffer", async () => (await redis.getBuffer("greeting")).toString("hex"));
  await r("set-nx", () => redis.set("greeting", "x", "NX"));
  await r("set-ex-get", () => redis.set("greeting", "hi", "EX", 100, "GET"));
  await r("ttl", () => redis.ttl("greeting"));
  await r("mset", () => redis.mset({ a: "1", b: "2", "user:1": "x", "user:2": "y" }));
  await r("mget", () => redis.mget("a", "b", "missing"));
  await r("incr", () => redis.incr("counter"));
  await r("incrby", () => redis.incrby("counter", 41));
  await r("decrby", () => redis.decrby("counter", 2));
  await r("incrbyfloat", () => redis.incrbyfloat("float", "1.5"));
  await r("incr-wrongvalue", () => redis.incr("greeting"));
  await r("append", () => redis.append("greeting", " world"));
  await r("strlen", () => redis.strlen("greeting"));
  await r("getrange", () => redis.getrange("greeting", 0, 1));
  await r("setrange", () => redis.setrange("greeting", 0, "HI"));
  await r("getdel", () => redis.getdel("b"));
  await r("getex", () => redis.getex("a", "PX", 100000));
  await r("expire", () => redis.expire("a", 200));
  await r("persist", () => redis.persist("a"));
  await r("exists", () => redis.exists("a", "b", "greeting"));
  await r("type", () => redis.type("a"));
  await r("rename", () => redis.rename("a", "renamed"));
  await r("copy", () => redis.copy("renamed", "copied"));
  await r("keys", async () => (await redis.keys("user:*")).sort());
  await r("scanStream", () => new Promise((resolve, reject) => {
    const keys = [];
    redis.scanStream({ match: "*", count: 10 })
      .on("data", (batch) => keys.push(...batch))
      .on("end", () => resolve(keys.sort()))
      .on("error", reject);
  }));
  await r("del", () => redis.del("renamed", "copied", "nothing"));
  await r("dbsize", () => redis.dbsize());
  await r("unknown", () => redis.call("NOSUCHCOMMAND", "x"));
  await r("arity", () => redis.call("GET"));
  await r("client-getname", () => redis.client("GETNAME"));
  await r("echo", () => redis.echo("\u00e9\u0000x"));
  await r("pipeline", async () => {
    const p = redis.pipeline();
    for (let i = 0; i < 50; i++) p.set(`p:${i}`, i);
    p.incr("greeting");
    for (let i = 0; i < 50; i++) p.get(`p:${i}`);
    const replies = await p.exec();
    return replies.map(([err, value]) => (err ? { error: err.message } : value));
  });
  await r("lcs", () => redis.call("LCS", "greeting", "counter"));
  await r("hset", () => redis.hset("h", { a: "1", b: "2" }));
  await r("hgetall", () => redis.hgetall("h"));
  await r("hincrby", () => redis.hincrby("h", "a", 5));
  await r("rpush", () => redis.rpush("l", "x", "y", "z"));
  await r("lrange", () => redis.lrange("l", 0, -1));
  await r("sadd", () => redis.sadd("s", "m1", "m2"));
  await r("smembers", async () => (await redis.smembers("s")).sort());
  await r("zadd", () => redis.zadd("z", 1, "a", 2.5, "b"));
  await r("zrange", () => redis.zrange("z", 0, -1, "WITHSCORES"));
  await r("multi", () => redis.multi().set("t", "1").incr("t").hget("h", "a").exec());
  await r("multi-error", () => redis.multi().set("t", "1").lpush("t", "x").get("t").exec());
  await r("wrongtype", () => redis.hget("greeting", "f"));
  await redis.quit();
  process.stdout.write(out.map((entry) => JSON.stringify(entry)).join("\n") + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err.stack || err) + "\n");
  process.exit(1);
});
