/**
 * Hostile-client probes of the request entry, in memory: path canonicalization and traversal, the URL split,
 * Host checks, route priority and 404/405, template encoding, X-Forwarded-* / Forwarded trust, request ids,
 * log escaping and metric cardinality.
 */
import assert from "node:assert/strict";
import { compileRouteTable, type MatchResult } from "../../src/routing/route_table.ts";
import { compileTemplate, parsePathPattern, renderTemplate } from "../../src/routing/path_template.ts";
import {
  canonicalPath,
  hasDotSegment,
  isValidHost,
  splitUrl,
  upstreamQuery,
  type UrlParts,
} from "../../src/routing/request_target.ts";
import { buildUpstreamHeaders } from "../../src/proxy/forward_headers.ts";
import { createClientIpResolver } from "../../src/proxy/client_ip.ts";
import { acceptRequestId } from "../../src/observe/request_id.ts";
import { formatAccessLine } from "../../src/observe/access_log.ts";
import { createLogger } from "../../src/observe/logger.ts";
import { createGatewayMetrics } from "../../src/observe/gateway_metrics.ts";
import { MetricsRegistry } from "../../src/observe/metrics_registry.ts";

Deno.test("canonicalPath() leaves plain paths alone: slashes, case and dots inside names are kept", async (t) => {
  const plain = [
    "/",
    "/api/users/1",
    "/a//b",
    "//x",
    "/api/",
    "/Users/ME",
    "/.well-known/acme",
    "/a/b.",
    "/a/...",
    "/a/..b",
    "/x:y@z!$&'()*+,;=",
    "/s/test%20space",
    "/s/a%2Fb",
  ];
  for (const path of plain) await t.step(path, () => assert.equal(canonicalPath(path), path));
});

Deno.test("canonicalPath() removes dot segments, also percent-encoded ones, like nginx", async (t) => {
  const cases: [string, string][] = [
    ["/api/../admin", "/admin"],
    ["/api/./x", "/api/x"],
    ["/a/b/..", "/a/"],
    ["/a/.", "/a/"],
    ["/.", "/"],
    ["/api/%2e%2e/admin", "/admin"],
    ["/api/%2E%2e/admin", "/admin"],
    ["/api/.%2E/admin", "/admin"],
    ["/api/%2e/x", "/api/x"],
    ["/a//../b", "/a/b"],
    // A "?" can only reach the path encoded, so a raw one is encoded.
    ["/api/v1/../v2/x?", "/api/v2/x%3F"],
  ];
  for (const [path, expected] of cases) await t.step(path, () => assert.equal(canonicalPath(path), expected));
});

Deno.test("canonicalPath() gives one spelling per path: unreserved escapes decoded, others uppercase, raw bytes encoded", async (t) => {
  const cases: [string, string][] = [
    ["/%61dmin", "/admin"],
    ["/%7e/%2D%5f", "/~/-_"],
    ["/caf%c3%a9", "/caf%C3%A9"],
    ["/café", "/caf%C3%A9"],
    ["/\u{1F600}", "/%F0%9F%98%80"],
    ["/a%2fb", "/a%2Fb"],
    ["/a%2Bb", "/a%2Bb"],
    ['/a"b', "/a%22b"],
    ["/a b", "/a%20b"],
    ["/a\\b", "/a%5Cb"],
    ["/a{b}|^`<>", "/a%7Bb%7D%7C%5E%60%3C%3E"],
  ];
  for (const [path, expected] of cases) await t.step(path, () => assert.equal(canonicalPath(path), expected));
});

Deno.test("canonicalPath() refuses paths that climb above the root, hide a dot segment or are malformed", async (t) => {
  const refused = [
    "/..",
    "/../etc/passwd",
    "/a/../../x",
    "/%2e%2e/x",
    // Backends that decode %2F or %5C (Go's ServeMux, some frameworks) would resolve these.
    "/api/..%2Fadmin",
    "/api/..%2fadmin",
    "/api/%2e%2e%2fadmin",
    "/users/a%2F..%2F..%2Fadmin",
    "/x/..%5Cadmin",
    "/api/..\\admin",
    "/x/.%2F",
    // Malformed escapes: nginx answers 400 too.
    "/a%zz",
    "/a%",
    "/a%2",
    "/a%%41",
    // Not origin-form.
    "",
    "*",
    "api/x",
  ];
  for (const path of refused) {
    await t.step(JSON.stringify(path), () => assert.equal(canonicalPath(path), null));
  }
});

Deno.test("splitUrl() finds path and query after the authority and drops a fragment", async (t) => {
  const parts: UrlParts = { pathStart: 0, queryStart: 0, end: 0 };
  const cases: [string, string, string][] = [
    ["http://h.example/a/b", "/a/b", ""],
    ["http://h.example/a?x=1&y=%2x", "/a", "?x=1&y=%2x"],
    ["http://h.example/a?x=1#frag", "/a", "?x=1"],
    ["http://h.example/a#frag?x=1", "/a", ""],
    ["http://h.example//x", "//x", ""],
    ["http://h.example:8080/", "/", ""],
    ["http://[::1]:80/p?q", "/p", "?q"],
    // An absolute-form target without a path: the query must not be taken for the path.
    ["http://evil.example?x=/y", "", "?x=/y"],
  ];
  for (const [url, path, query] of cases) {
    await t.step(url, () => {
      splitUrl(url, parts);
      assert.equal(url.slice(parts.pathStart, parts.queryStart), path);
      assert.equal(url.slice(parts.queryStart, parts.end), query);
    });
  }
});

Deno.test("isValidHost() refuses a Host that would move the path or inject into X-Forwarded-Host", () => {
  for (
    const host of ["example.com", "example.com:8080", "127.0.0.1:5900", "[::1]:80", "", "xn--caf-dma.example"]
  ) {
    assert.equal(isValidHost(host), true, host);
  }
  for (const host of ["evil/admin", "a b", "a?b", "a#b", "a@b", "a\\b", 'a"b', "café.example", "a, b"]) {
    assert.equal(isValidHost(host), false, host);
  }
});

Deno.test("upstreamQuery() forwards a query byte for byte, percent-encoding only raw non-ASCII", () => {
  for (const query of ["?a=%20&b=%2x&c=a+b", "?q='\"<>`{|}^\\", "?x=%c3%a9", "?"]) {
    assert.equal(upstreamQuery(query), query);
  }
  assert.equal(upstreamQuery("?q=é&r=✓"), "?q=%C3%A9&r=%E2%9C%93");
});

Deno.test("route patterns match every spelling of their path, and impossible patterns are refused", () => {
  const table = compileRouteTable([
    { pattern: "/café", methods: ["GET"], value: "cafe" },
    { pattern: "/files/{name}.json", methods: ["GET"], value: "json" },
  ]);
  for (const spelling of ["/café", "/caf%C3%A9", "/caf%c3%a9"]) {
    assert.equal(table.match("GET", canonicalPath(spelling)!).kind, "found", spelling);
  }
  const json = table.match("GET", canonicalPath("/files/a%2Ejson")!);
  assert.deepEqual(json, { kind: "found", value: "json", params: { name: "a" } });
  // `/%61dmin` and `/admin` are one route: a second one is a duplicate.
  assert.throws(
    () =>
      compileRouteTable([
        { pattern: "/admin", methods: ["GET"], value: 1 },
        { pattern: "/%61dmin", methods: ["GET"], value: 2 },
      ]),
    /duplicates route/,
  );
  assert.throws(() => parsePathPattern("/a/./b"), /"\." segment can never match/);
  assert.throws(() => parsePathPattern("/50%off"), /starts no %XX escape/);
});

Deno.test("match() prefers static, then in-segment pattern, then param, then catch-all, in any file order", () => {
  const patterns = ["/{a}/{b}", "/users/{id}", "/users/me", "/users/u-{id}", "/users/{*rest}"];
  for (const order of [patterns, [...patterns].reverse()]) {
    const table = compileRouteTable(order.map((pattern) => ({ pattern, methods: ["GET"], value: pattern })));
    const value = (path: string) => {
      const m = table.match("GET", path);
      return m.kind === "found" ? m.value : m.kind;
    };
    assert.equal(value("/users/me"), "/users/me");
    assert.equal(value("/users/u-7"), "/users/u-{id}");
    // kairos-rs sorts by parameter count and would pick /{a}/{b} here.
    assert.equal(value("/users/7"), "/users/{id}");
    assert.equal(value("/users/7/x"), "/users/{*rest}");
    assert.equal(value("/other/7"), "/{a}/{b}");
  }
});

Deno.test("match() gives a catch-all an empty rest for a trailing slash, but not the bare prefix", () => {
  const table = compileRouteTable([{ pattern: "/api/{*rest}", methods: ["GET"], value: "api" }]);
  assert.deepEqual(table.match("GET", "/api/"), { kind: "found", value: "api", params: { rest: "" } });
  assert.deepEqual(table.match("GET", "/api"), { kind: "not_found" });
  assert.deepEqual(table.match("GET", "/API/x"), { kind: "not_found" });
});

Deno.test("match() answers 405 with every allowed method, HEAD implied by GET, OPTIONS only when listed", () => {
  const table = compileRouteTable([
    { pattern: "/r/{id}", methods: ["GET", "DELETE"], value: "r" },
    { pattern: "/r/{*rest}", methods: ["POST"], value: "rest" },
  ]);
  assert.equal(table.match("HEAD", "/r/1").kind, "found");
  const options = table.match("OPTIONS", "/r/1") as Extract<
    MatchResult<string>,
    { kind: "method_not_allowed" }
  >;
  assert.equal(options.kind, "method_not_allowed");
  assert.equal(options.allow, "GET, HEAD, POST, DELETE");
  assert.equal(table.match("POST", "/r/1").kind, "found");
});

Deno.test("renderTemplate() encodes literal text a request target cannot hold", () => {
  assert.equal(renderTemplate(compileTemplate("/v1/café"), {}), "/v1/caf%C3%A9");
  assert.equal(renderTemplate(compileTemplate("/v1/a b/{id}"), { id: "1" }), "/v1/a%20b/1");
  // Captured values are canonical already and go in as they are.
  assert.equal(renderTemplate(compileTemplate("/v1/{id}"), { id: "a%2Fb" }), "/v1/a%2Fb");
});

Deno.test("hasDotSegment() catches a value captured inside a segment that forms a dot segment upstream", () => {
  const template = compileTemplate("/v1/{id}/profile");
  for (const id of ["..", "."]) assert.equal(hasDotSegment(renderTemplate(template, { id })), true, id);
  for (const id of ["..a", "a.", "...", "a"]) {
    assert.equal(hasDotSegment(renderTemplate(template, { id })), false, id);
  }
  assert.equal(hasDotSegment("/v1/..?x=1"), true);
});

Deno.test("buildUpstreamHeaders() passes Forwarded only from a trusted proxy", () => {
  const client = new Headers({ host: "gw.example", forwarded: "for=1.2.3.4;host=evil;proto=https" });
  const info = { peerIp: "10.0.0.9", peerTrusted: false, requestId: "req-1", preserveHost: false };
  assert.equal(buildUpstreamHeaders(client, info).get("forwarded"), null);
  assert.equal(
    buildUpstreamHeaders(client, { ...info, peerTrusted: true }).get("forwarded"),
    "for=1.2.3.4;host=evil;proto=https",
  );
});

Deno.test("buildUpstreamHeaders() replaces the client's X-Request-Id with the accepted one", () => {
  const client = new Headers({ "x-request-id": "spoofed" });
  const out = buildUpstreamHeaders(client, {
    peerIp: "127.0.0.1",
    peerTrusted: false,
    requestId: "accepted-1",
    preserveHost: false,
  });
  assert.equal(out.get("x-request-id"), "accepted-1");
});

Deno.test("the client IP comes from X-Forwarded-For only through trusted proxies, right to left", () => {
  const resolve = createClientIpResolver(["10.0.0.0/8", "127.0.0.1"]);
  assert.equal(resolve("203.0.113.9", "1.2.3.4").clientIp, "203.0.113.9");
  assert.equal(resolve("10.0.0.1", "6.6.6.6, 1.2.3.4").clientIp, "1.2.3.4");
  assert.equal(resolve("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2").clientIp, "1.2.3.4");
  assert.equal(resolve("10.0.0.1", "10.0.0.3, 10.0.0.2").clientIp, "10.0.0.3");
  assert.equal(resolve("10.0.0.1", " , ").clientIp, "10.0.0.1");
  assert.equal(resolve("10.0.0.1", null).clientIp, "10.0.0.1");
  assert.equal(createClientIpResolver([])("10.0.0.1", "1.2.3.4").clientIp, "10.0.0.1");
});

Deno.test("acceptRequestId() keeps only 1-128 safe characters and generates an id otherwise", async (t) => {
  const accepted = [
    "a",
    "abc-123",
    "x".repeat(128),
    "trace:01.02_03",
    "550e8400-e29b-41d4-a716-446655440000",
  ];
  for (const id of accepted) {
    await t.step(`accepts ${id.slice(0, 20)}`, () => assert.equal(acceptRequestId(id), id));
  }
  const refused = [
    "",
    "x".repeat(129),
    "a b",
    "a\r\nset-cookie: x=1",
    'a"b',
    "a, b",
    "é",
    "a\x1b[31m",
    "<script>",
  ];
  for (const id of refused) {
    await t.step(`refuses ${JSON.stringify(id.slice(0, 20))}`, () => {
      const got = acceptRequestId(id);
      assert.notEqual(got, id);
      assert.match(got, /^[0-9a-f]{16}-[0-9a-z]+$/);
    });
  }
});

const HOSTILE = 'x"\r\n{"forged":true}\x1b[31mred\x1b[0m\u009b2J\\';

Deno.test("formatAccessLine() keeps hostile values on one line, escaped, and parses back to them", () => {
  const line = formatAccessLine({
    requestId: "r1",
    method: "GET",
    path: "/a" + HOSTILE,
    route: "(none)",
    backend: null,
    status: 404,
    durationMs: 1.23456,
    bytesIn: 0,
    bytesOut: 0,
    clientIp: HOSTILE,
    attempts: 0,
    userAgent: HOSTILE,
    referer: null,
    error: "No route found for path: " + HOSTILE,
    time: 0,
  });
  assert.equal(line.indexOf("\n"), line.length - 1);
  assert.ok(!line.includes("\r") && !line.includes("\x1b"), "no raw CR or ESC");
  const record = JSON.parse(line);
  assert.equal(record.path, "/a" + HOSTILE);
  assert.equal(record.client_ip, HOSTILE);
  assert.equal(record.user_agent, HOSTILE);
  assert.equal(record.forged, undefined);
});

Deno.test("the logger escapes hostile values in both formats: no raw CR, LF or ESC (nor CSI in pretty)", async (t) => {
  for (const format of ["json", "pretty"] as const) {
    await t.step(format, () => {
      const lines: string[] = [];
      const logger = createLogger({ level: "info", format, write: (line) => lines.push(line), color: false });
      // Values without spaces or quotes too, which pretty prints bare: "\x1b[2J" would clear the screen.
      logger.info("request failed", {
        path: HOSTILE,
        nested: { value: HOSTILE },
        esc: "\x1b[2J\x1b[31mred",
        csi: "\u009b2J",
      });
      assert.equal(lines.length, 1);
      assert.ok(!["\r", "\n", "\x1b"].some((c) => lines[0].includes(c)), JSON.stringify(lines[0]));
      // JSON.stringify leaves C1 controls raw; JSON consumers do not care, a terminal reading pretty does.
      if (format === "pretty") assert.ok(!/\x9b/.test(lines[0]), JSON.stringify(lines[0]));
      if (format === "json") assert.equal(JSON.parse(lines[0]).path, HOSTILE);
    });
  }
});

Deno.test("random paths and methods from clients create no new metric series", () => {
  const registry = new MetricsRegistry();
  const metrics = createGatewayMetrics(registry);
  // Unrouted requests are recorded under one route label, whatever their path; methods outside the
  // standard ones share "OTHER".
  const unrouted = metrics.routeRecorder("(none)");
  unrouted.record("GET", 404, 1, 0, 0);
  const before = registry.render().split("\n").length;
  for (let i = 0; i < 500; i++) {
    unrouted.record(`M${crypto.randomUUID().slice(0, 8).toUpperCase()}`, 404 + (i % 2), 1, 0, 0);
  }
  const text = registry.render();
  assert.ok(text.split("\n").length <= before + 5, "series count stays bounded");
  assert.match(text, /kairos_http_requests_total\{route="\(none\)",method="OTHER",status_class="4xx"\} 500/);
});
