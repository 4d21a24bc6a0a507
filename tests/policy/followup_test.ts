/**
 * Follow-ups to the policy audits: 414 for an over-long request line, IPv6 blocks that leave IPv4 clients
 * alone, X-Forwarded-For hops with ports, a path rewrite that writes a query, and admin origins checked
 * at load.
 */
import assert from "node:assert/strict";
import { cidrContains, parseCidr } from "../../src/config/cidr.ts";
import { ipFilterSchema, requestTransformationSchema } from "../../src/config/policy_schema.ts";
import { serverSchema } from "../../src/config/schema.ts";
import { validateConfig } from "../../src/config/validate.ts";
import { adminCors } from "../../src/admin_api/admin_cors.ts";
import { checkHeaderLimits } from "../../src/policy/header_limits.ts";
import { compileIpFilter } from "../../src/policy/ip_filter.ts";
import { compileRequestTransformation } from "../../src/policy/request_transform.ts";
import { createClientIpResolver, parseHop } from "../../src/proxy/client_ip.ts";
import { errorResponse, GatewayError } from "../../src/proxy/gateway_error.ts";
import { configWith } from "../config/base_config.ts";
import { makeContext } from "./context_fixture.ts";

// ------------------------------------------------------------------------------------ 1. 414 URI Too Long

Deno.test("checkHeaderLimits() answers 414 for a request line over max_header_bytes, 431 for the fields", async (t) => {
  const server = serverSchema.parse({ max_header_bytes: 2048, max_header_count: 5 });
  // "GET " + target + " HTTP/1.1\r\n": 4 + target + 11 bytes.
  const target = (length: number) => "/" + "a".repeat(length - 1);

  await t.step("a request line just at the limit is not a 414", () => {
    const request = new Request(`http://gw.test${target(2048 - 15)}`);
    assert.notEqual(checkHeaderLimits(request, { count: 1, bytes: 10 }, server)?.status, 414);
  });

  await t.step("one byte more is 414 uri_too_long, naming the limit", async () => {
    const request = new Request(`http://gw.test${target(2048 - 14)}`);
    const err = checkHeaderLimits(request, { count: 1, bytes: 10 }, server);
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 414);
    assert.equal(err.type, "uri_too_long");
    assert.equal(err.source, "client");
    assert.match(err.message, /request line takes 2049 bytes, more than the limit of 2048/);
    assert.match(err.message, /server\.max_header_bytes/);
    const response = errorResponse(err, "req-1");
    assert.equal(response.status, 414);
    assert.equal(response.headers.get("content-type"), "application/json");
    const body = await response.json();
    assert.equal(body.type, "uri_too_long");
    assert.equal(body.request_id, "req-1");
  });

  await t.step("a short line with oversized fields stays 431", () => {
    const err = checkHeaderLimits(new Request("http://gw.test/a"), { count: 2, bytes: 3000 }, server);
    assert.equal(err?.status, 431);
    assert.equal(err?.type, "headers_too_large");
  });

  await t.step("a long line that fits, with fields that push the head over, stays 431", () => {
    const request = new Request(`http://gw.test${target(1500)}`);
    assert.equal(checkHeaderLimits(request, { count: 2, bytes: 1000 }, server)?.status, 431);
  });

  await t.step("too many fields stays 431 even with a long line", () => {
    const request = new Request(`http://gw.test${target(4000)}`);
    assert.equal(checkHeaderLimits(request, { count: 6, bytes: 10 }, server)?.status, 431);
  });
});

// ------------------------------------------------------------------------------ 2. IPv6 blocks and IPv4

Deno.test("cidrContains() keeps IPv4 clients out of IPv6 blocks unless the block is IPv4-mapped", async (t) => {
  const cases: [string, string, boolean][] = [
    ["::/0", "1.2.3.4", false],
    ["::/0", "::ffff:1.2.3.4", false],
    ["::/0", "2001:db8::1", true],
    ["::/0", "::1", true],
    ["::/80", "1.2.3.4", false],
    ["::ffff:0:0/95", "1.2.3.4", false],
    ["::ffff:0:0/96", "1.2.3.4", true],
    ["::ffff:0:0/96", "::ffff:1.2.3.4", true],
    ["::ffff:0:0/96", "2001:db8::1", false],
    ["::ffff:10.0.0.0/104", "10.9.8.7", true],
    ["::ffff:10.0.0.0/104", "11.0.0.1", false],
    ["::ffff:10.0.0.0/104", "::ffff:10.9.8.7", true],
    ["::ffff:192.168.1.0/121", "192.168.1.127", true],
    ["::ffff:192.168.1.0/121", "192.168.1.128", false],
    ["::ffff:1.2.3.4", "1.2.3.4", true],
    ["0.0.0.0/0", "2001:db8::1", false],
    ["0.0.0.0/0", "::ffff:8.8.8.8", true],
    ["2001:db8::/32", "2001:db8::5", true],
  ];
  for (const [block, ip, expected] of cases) {
    await t.step(`${block} ∋ ${ip} = ${expected}`, () => {
      assert.equal(cidrContains(parseCidr(block)!, ip), expected);
    });
  }
});

Deno.test("compileIpFilter() with deny ::/0 blocks IPv6 clients only", async (t) => {
  const passes = (filter: unknown, clientIp: string) => {
    const stage = compileIpFilter(ipFilterSchema.parse(filter), "ip_filter")!;
    try {
      stage(makeContext({ clientIp }));
      return true;
    } catch (err) {
      assert.ok(err instanceof GatewayError && err.status === 403);
      return false;
    }
  };
  const cases: [string, unknown, string, boolean][] = [
    ["an IPv4 client passes deny ::/0", { deny: ["::/0"] }, "203.0.113.9", true],
    ["an IPv4-mapped client passes deny ::/0", { deny: ["::/0"] }, "::ffff:203.0.113.9", true],
    ["an IPv6 client is denied by ::/0", { deny: ["::/0"] }, "2001:db8::9", false],
    ["allow ::/0 alone refuses IPv4 clients", { allow: ["::/0"] }, "203.0.113.9", false],
    ["deny ::ffff:0:0/96 blocks IPv4 clients", { deny: ["::ffff:0:0/96"] }, "203.0.113.9", false],
    ["deny ::ffff:0:0/96 lets IPv6 clients in", { deny: ["::ffff:0:0/96"] }, "2001:db8::9", true],
    ["allow a mapped subrange admits its IPv4 clients", { allow: ["::ffff:10.0.0.0/104"] }, "10.1.1.1", true],
    ["allow a mapped subrange refuses other IPv4", { allow: ["::ffff:10.0.0.0/104"] }, "11.1.1.1", false],
  ];
  for (const [name, filter, ip, expected] of cases) {
    await t.step(name, () => assert.equal(passes(filter, ip), expected));
  }
});

Deno.test("createClientIpResolver() no longer trusts IPv4 peers through an IPv6 block", () => {
  const resolve = createClientIpResolver(["::/0"]);
  assert.deepEqual(resolve("10.0.0.1", "198.51.100.7"), { clientIp: "10.0.0.1", peerTrusted: false });
  assert.deepEqual(resolve("2001:db8::1", "198.51.100.7"), { clientIp: "198.51.100.7", peerTrusted: true });
});

// ------------------------------------------------------------------------- 3. X-Forwarded-For with ports

Deno.test("parseHop() reads the address of a hop with or without a port", async (t) => {
  const cases: [string, string | undefined][] = [
    ["1.2.3.4", "1.2.3.4"],
    ["1.2.3.4:5678", "1.2.3.4"],
    ["1.2.3.4:65535", "1.2.3.4"],
    ["2001:db8::1", "2001:db8::1"],
    ["[2001:db8::1]", "2001:db8::1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["[::ffff:1.2.3.4]:80", "::ffff:1.2.3.4"],
    ["1.2.3.4:0", undefined],
    ["1.2.3.4:65536", undefined],
    ["1.2.3.4:", undefined],
    ["1.2.3.4:80:80", undefined],
    ["1.2.3.4:8a", undefined],
    ["[1.2.3.4]:80", undefined],
    ["[2001:db8::1]443", undefined],
    ["[2001:db8::1", undefined],
    ["2001:db8::1]:443", undefined],
    ["unknown", undefined],
    ["example.com:80", undefined],
    ["fe80::1%eth0", undefined],
  ];
  for (const [hop, expected] of cases) {
    await t.step(`${JSON.stringify(hop)} → ${expected}`, () => assert.equal(parseHop(hop)?.text, expected));
  }
});

Deno.test("createClientIpResolver() strips hop ports and stops at a garbage hop", async (t) => {
  const resolve = createClientIpResolver(["10.0.0.0/8", "2001:db8:ffff::/48"]);
  const cases: [string, string, string, string][] = [
    ["an IPv4 hop with a port", "10.0.0.1", "198.51.100.7:5678", "198.51.100.7"],
    ["a bracketed IPv6 hop with a port", "10.0.0.1", "[2001:db8::1]:443", "2001:db8::1"],
    ["ports on trusted hops too", "10.0.0.1", "198.51.100.7:1, 10.0.0.2:2", "198.51.100.7"],
    ["a trusted IPv6 hop with a port", "10.0.0.1", "203.0.113.1, [2001:db8:ffff::5]:80", "203.0.113.1"],
    ["a garbage right-most hop leaves the peer", "10.0.0.1", "198.51.100.7, bogus", "10.0.0.1"],
    ["a garbage hop behind trusted hops stops at them", "10.0.0.1", "6.6.6.6, junk, 10.0.0.2", "10.0.0.2"],
    ["a bad port is garbage", "10.0.0.1", "198.51.100.7:99999", "10.0.0.1"],
    ["empty entries are skipped", "10.0.0.1", "198.51.100.7, , 10.0.0.2,", "198.51.100.7"],
    ["an all-trusted chain ends at its left-most hop", "10.0.0.1", "10.0.0.3:1, 10.0.0.2", "10.0.0.3"],
    ["a header of commas leaves the peer", "10.0.0.1", " , ,", "10.0.0.1"],
  ];
  for (const [name, peer, xff, client] of cases) {
    await t.step(name, () => assert.deepEqual(resolve(peer, xff), { clientIp: client, peerTrusted: true }));
  }
});

Deno.test("the IP filter sees the bare address of a forwarded hop with a port", () => {
  const resolve = createClientIpResolver(["10.0.0.0/8"]);
  const stage = compileIpFilter(ipFilterSchema.parse({ deny: ["198.51.100.0/24"] }), "ip_filter")!;
  const { clientIp } = resolve("10.0.0.1", "198.51.100.7:5678");
  assert.throws(
    () => stage(makeContext({ clientIp })),
    (err: unknown) => err instanceof GatewayError && err.status === 403,
  );
});

// ------------------------------------------------------------------ 4. A path rewrite that writes a query

Deno.test("a request_transformation.path replacement with ? merges its query before the request's", async (t) => {
  const rewrite = (replacement: string, query_params: unknown[] = []) =>
    compileRequestTransformation(
      requestTransformationSchema.parse({ path: { pattern: "^/old/(.*)$", replacement }, query_params }),
      "t",
    )!;
  const cases: [string, string, string, string, string][] = [
    ["replacement query first, then the request's", "/new?x=$1", "?a=1&b=2", "/new", "?x=abc&a=1&b=2"],
    ["no request query", "/new?x=$1", "", "/new", "?x=abc"],
    ["a request query of a bare ?", "/new?x=$1", "?", "/new", "?x=abc"],
    ["a bare ? in the replacement adds nothing", "/new/$1?", "?a=1", "/new/abc", "?a=1"],
    ["a trailing & is not doubled", "/new?x=1&", "?a=1", "/new", "?x=1&a=1"],
    ["a replacement without ? keeps the query as is", "/new/$1", "?a=1", "/new/abc", "?a=1"],
    ["a query-only replacement leaves the root path", "?x=$1", "?a=1", "/", "?x=abc&a=1"],
  ];
  for (const [name, replacement, query, path, expected] of cases) {
    await t.step(name, async () => {
      const ctx = makeContext({ url: `/api/old/abc${query}`, upstreamPath: "/old/abc" });
      ctx.upstreamQuery = query;
      await rewrite(replacement)(ctx);
      assert.equal(ctx.upstreamPath, path);
      assert.equal(ctx.upstreamQuery, expected);
    });
  }
  await t.step("query_params edit the merged query", async () => {
    const ctx = makeContext({ url: "/api/old/abc?x=client&a=1", upstreamPath: "/old/abc" });
    await rewrite("/new?y=$1", [{ action: "remove", name: "a" }, { action: "set", name: "y", value: "z" }])(
      ctx,
    );
    assert.equal(ctx.upstreamPath + ctx.upstreamQuery, "/new?y=z&x=client");
  });
  await t.step("a ? escaped in the path is not a query", async () => {
    const ctx = makeContext({ url: "/api/old/a%3Fb?q=1", upstreamPath: "/old/a%3Fb" });
    await rewrite("/new/$1")(ctx);
    assert.equal(ctx.upstreamPath + ctx.upstreamQuery, "/new/a%3Fb?q=1");
  });
});

// ------------------------------------------------------------------------- 5. admin.allowed_origins

Deno.test("admin.allowed_origins entries are checked at load", async (t) => {
  const load = (origins: unknown[]) =>
    validateConfig(configWith({}, { admin: { allowed_origins: origins } }), { env: {} });

  await t.step("exact origins load unchanged and without warnings", () => {
    const result = load(["https://admin.example.com", "http://127.0.0.1:8080", "http://[::1]:3000"]);
    assert.ok(result.ok);
    assert.deepEqual(result.config.admin.allowed_origins, [
      "https://admin.example.com",
      "http://127.0.0.1:8080",
      "http://[::1]:3000",
    ]);
    assert.deepEqual(result.warnings.filter((w) => w.path.startsWith("admin")), []);
  });

  await t.step("a trailing slash, upper case or default port is normalised with a warning", () => {
    const result = load(["https://ops.example/", "HTTPS://Ops.Example:443", "http://a.example:80/"]);
    assert.ok(result.ok);
    assert.deepEqual(result.config.admin.allowed_origins, [
      "https://ops.example",
      "https://ops.example",
      "http://a.example",
    ]);
    assert.deepEqual(result.warnings.map((w) => w.path), [
      "admin.allowed_origins[0]",
      "admin.allowed_origins[1]",
      "admin.allowed_origins[2]",
    ]);
    assert.match(result.warnings[0].message, /read as "https:\/\/ops\.example".*trailing slash/);
    assert.match(result.warnings[0].message, /got "https:\/\/ops\.example\/"/);
  });

  await t.step("a normalised entry matches the browser's Origin", () => {
    const result = load(["https://ops.example/"]);
    assert.ok(result.ok);
    const cors = adminCors({ allowedOrigins: () => result.config.admin.allowed_origins });
    const preflight = cors.preflight(
      new Request("http://127.0.0.1:5901/api/routes", {
        method: "OPTIONS",
        headers: { origin: "https://ops.example", "access-control-request-method": "GET" },
      }),
    );
    assert.equal(preflight.headers.get("access-control-allow-origin"), "https://ops.example");
  });

  const refused: [string, string, RegExp][] = [
    ["*", "*", /cannot use wildcards.*"https:\/\/admin\.example\.com"/],
    ["a wildcard subdomain", "https://*.example.com", /cannot use wildcards/],
    ["a bare host", "admin.example.com", /expected an origin like "https:\/\/admin\.example\.com"/],
    ["a path", "https://admin.example.com/app", /expected an origin like/],
    ["null", "null", /expected an origin like/],
    ["port 0", "https://admin.example.com:0", /expected an origin like/],
    ["an empty string", "", /expected an origin like/],
  ];
  for (const [name, entry, message] of refused) {
    await t.step(`${name} is an error at its path`, () => {
      const result = load(["https://ok.example", entry]);
      assert.equal(result.ok, false);
      if (result.ok) return;
      const problem = result.errors.find((e) => e.path === "admin.allowed_origins[1]");
      assert.ok(problem, JSON.stringify(result.errors));
      assert.match(problem.message, message);
      assert.ok(problem.message.endsWith(`got ${JSON.stringify(entry)}`), problem.message);
    });
  }
});
