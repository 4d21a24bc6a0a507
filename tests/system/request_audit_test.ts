/**
 * Whole-process probes of the request entry as a hostile client sends it: raw request lines (dot segments,
 * escapes, bad Host, absolute form, fragments), header trust, request ids, the access log, metric
 * cardinality, long URLs and draining on SIGTERM.
 */
import assert from "node:assert/strict";
import {
  fetchText,
  rawRequest,
  type RawResponse,
  routeConfig,
  startBackend,
  startGateway,
} from "./harness.ts";

/** A raw HTTP/1.1 backend that answers every request with the request head it received, as JSON. */
function startRecordingBackend() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const targets: string[] = [];
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    const buf = new Uint8Array(65536);
    let pending = "";
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        pending += latin1.decode(buf.subarray(0, n));
        let end;
        while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
          const head = pending.slice(0, end);
          pending = pending.slice(end + 4);
          targets.push(head.split(" ")[1]);
          const body = new TextEncoder().encode(JSON.stringify({ head }));
          await conn.write(new TextEncoder().encode(
            `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
          ));
          await conn.write(body);
        }
      }
    } catch {
      /* the gateway closed the connection */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) serve(conn);
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    /** Request targets received so far. */
    targets,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting.catch(() => {});
    },
  };
}

const latin1 = new TextDecoder("latin1");

/** The request line the backend saw, from the recording backend's JSON answer. */
function forwardedTarget(res: RawResponse): string {
  return JSON.parse(res.body).head.split("\r\n")[0].split(" ")[1];
}

for (const client of ["http1", "fetch"] as const) {
  Deno.test(`hostile paths never reach a backend outside the route's internal path (${client} client)`, async (t) => {
    await using api = startRecordingBackend();
    await using admin = startRecordingBackend();
    const to = (b: { port: number }) => [{ host: "http://127.0.0.1", port: b.port }];
    await using gw = await startGateway({
      version: 1,
      server: { upstream_client: client },
      routers: [
        { external_path: "/api/{*rest}", internal_path: "/v1/{rest}", methods: ["GET"], backends: to(api) },
        {
          external_path: "/users/{id}",
          internal_path: "/v1/users/{id}",
          methods: ["GET"],
          backends: to(api),
        },
        {
          external_path: "/u/user-{id}",
          internal_path: "/v1/{id}/profile",
          methods: ["GET"],
          backends: to(api),
        },
        { external_path: "/café", internal_path: "/v1/café", methods: ["GET"], backends: to(api) },
        { external_path: "/admin", internal_path: "/admin", methods: ["GET"], backends: to(admin) },
      ],
    });
    // [target as sent, status, path the backend gets (undefined: none)]
    const cases: [string, number, string | undefined][] = [
      // Dot segments are removed before routing, as nginx does: the result is routed on its own merits.
      ["/api/../admin", 200, "/admin"],
      ["/api/%2e%2e/admin", 200, "/admin"],
      ["/api/%2E%2e/admin", 200, "/admin"],
      ["/api/./x", 200, "/v1/x"],
      ["/users/..", 404, undefined],
      ["/..", 400, undefined],
      ["/api/../../etc/passwd", 400, undefined],
      // A dot segment behind an encoded slash or backslash: a decoding backend would resolve it.
      ["/api/..%2Fadmin", 400, undefined],
      ["/api/..%2fadmin", 400, undefined],
      ["/api/x/..%5Cadmin", 400, undefined],
      ["/api/..\\admin", 400, undefined],
      ["/users/a%2F..%2F..%2Fadmin", 400, undefined],
      ["/u/user-..", 400, undefined],
      // An encoded slash in a parameter is data and stays encoded.
      ["/users/a%2Fb", 200, "/v1/users/a%2Fb"],
      ["/api/a%20b", 200, "/v1/a%20b"],
      ["/api/a%zz", 400, undefined],
      ["/api//x", 200, "/v1//x"],
      ["/api/", 200, "/v1/"],
      ["/api", 404, undefined],
      // One spelling per path: an escaped letter cannot slip past a static route.
      ["/%61dmin", 200, "/admin"],
      ["/ADMIN", 404, undefined],
      ["/admin/", 404, undefined],
      ["/caf%C3%A9", 200, "/v1/caf%C3%A9"],
      ["/caf%c3%a9", 200, "/v1/caf%C3%A9"],
      ["/caf\xc3\xa9", 200, "/v1/caf%C3%A9"],
      ['/api/a"b', 200, "/v1/a%22b"],
      ["/api/x?a=b#frag", 200, "/v1/x?a=b"],
      ["/api/x#frag?a=b", 200, "/v1/x"],
      ["/api/x?q=\xc3\xa9", 200, "/v1/x?q=%C3%A9"],
      ["http://evil.example/api/x?y=1", 200, "/v1/x?y=1"],
    ];
    for (const [target, status, upstream] of cases) {
      await t.step(`GET ${JSON.stringify(target)} → ${status}`, async () => {
        const res = await rawRequest(gw.port, `GET ${target} HTTP/1.1`);
        assert.equal(res.status, status, res.body);
        if (upstream !== undefined) assert.equal(forwardedTarget(res), upstream);
        else assert.equal(JSON.parse(res.body).type, status === 400 ? "bad_request" : "route_not_found");
      });
    }
    await t.step("the api backend only ever saw paths under /v1/ without dot segments", () => {
      for (const target of api.targets) {
        assert.ok(target.startsWith("/v1/") && !/\/\.\.?(\/|\?|$)|%2e/i.test(target), target);
      }
      assert.deepEqual([...new Set(admin.targets)], ["/admin"]);
    });
    // Deno's fetch re-encodes ' " < > in queries (WHATWG URL), so only the http1 client is byte-exact.
    await t.step({
      name: "the query string is forwarded byte for byte",
      ignore: client === "fetch",
      fn: async () => {
        const query = "?q=%zz&a=%2x&b='\"<>`{|}^\\&c=a+b&d=%41";
        const res = await rawRequest(gw.port, `GET /api/x${query} HTTP/1.1`);
        assert.equal(forwardedTarget(res), `/v1/x${query}`);
      },
    });
  });
}

Deno.test("an invalid Host is a 400 and never reaches a backend; a valid one becomes X-Forwarded-Host", async () => {
  await using backend = startRecordingBackend();
  await using gw = await startGateway(routeConfig([{ port: backend.port }]));
  for (const host of ["evil/api", "a b", "a@b", "x/health"]) {
    const res = await rawRequest(gw.port, "GET /api/x HTTP/1.1", `Host: ${host}\r\n`);
    assert.equal(res.status, 400, host);
    assert.equal(JSON.parse(res.body).type, "bad_request");
  }
  // A Host holding "/" once moved the routed path: `Host: evil/api` + `/x` was routed as /api/x.
  const moved = await rawRequest(gw.port, "GET /x HTTP/1.1", "Host: evil/api\r\n");
  assert.equal(moved.status, 400);
  assert.equal(backend.targets.length, 0);
  const ok = await rawRequest(gw.port, "GET /api/x HTTP/1.1", "Host: gw.example:8080\r\n");
  assert.equal(ok.status, 200);
  assert.match(JSON.parse(ok.body).head, /\r\nx-forwarded-host: gw\.example:8080\r\n/);
});

for (const trusted of [false, true]) {
  Deno.test(`X-Forwarded-* and Forwarded are ${trusted ? "kept and appended for" : "replaced for"} a ${trusted ? "trusted" : "untrusted"} peer`, async () => {
    await using backend = startRecordingBackend();
    await using gw = await startGateway(
      routeConfig([{ port: backend.port }], {}, trusted ? { trusted_proxies: ["127.0.0.1/32"] } : {}),
    );
    const res = await rawRequest(
      gw.port,
      "GET /api/x HTTP/1.1",
      "Host: gw.example\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n" +
        "X-Forwarded-Host: spoofed.example\r\nForwarded: for=6.6.6.6;host=spoofed.example\r\n",
    );
    const fields = new Map(
      JSON.parse(res.body).head.split("\r\n").slice(1).map((line: string) => {
        const colon = line.indexOf(":");
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
      }),
    );
    if (trusted) {
      assert.equal(fields.get("x-forwarded-for"), "6.6.6.6, 127.0.0.1");
      assert.equal(fields.get("x-forwarded-proto"), "https");
      assert.equal(fields.get("x-forwarded-host"), "spoofed.example");
      assert.equal(fields.get("forwarded"), "for=6.6.6.6;host=spoofed.example");
    } else {
      assert.equal(fields.get("x-forwarded-for"), "127.0.0.1");
      assert.equal(fields.get("x-forwarded-proto"), "http");
      assert.equal(fields.get("x-forwarded-host"), "gw.example");
      assert.equal(fields.get("forwarded"), undefined);
    }
  });
}

Deno.test("request ids: a safe client id is kept end to end, a hostile one replaced, and logs stay one JSON line each", async () => {
  await using backend = startRecordingBackend();
  await using gw = await startGateway(routeConfig([{ port: backend.port }]));
  const kept = await rawRequest(gw.port, "GET /api/x HTTP/1.1", "Host: gw\r\nX-Request-Id: trace-42.a:b\r\n");
  assert.match(kept.head, /\r\nx-request-id: trace-42\.a:b(\r\n|$)/i);
  assert.match(JSON.parse(kept.body).head, /\r\nx-request-id: trace-42\.a:b\r\n/);
  for (const id of ["a b", "x".repeat(129), 'a"b', "é"]) {
    const res = await rawRequest(gw.port, "GET /api/x HTTP/1.1", `Host: gw\r\nX-Request-Id: ${id}\r\n`);
    const sent = /\r\nx-request-id: ([^\r]*)/i.exec(res.head)![1];
    assert.notEqual(sent, id);
    assert.match(sent, /^[0-9a-f]{16}-[0-9a-z]+$/);
  }
  // A hostile path (quotes, raw UTF-8 C1 control) lands in the access log escaped, on one line.
  const res = await rawRequest(gw.port, 'GET /nowhere/a"b\xc2\x9b[2J HTTP/1.1', "Host: gw\r\n");
  assert.equal(res.status, 404);
  const id = JSON.parse(res.body).request_id;
  await gw.waitForOutput(id);
  const line = gw.output().split("\n").find((l) => l.includes(`"request_id":"${id}"`))!;
  assert.equal(JSON.parse(line).path, "/nowhere/a%22b%C2%9B%5B2J");
});

Deno.test("random paths and methods from a client do not grow the /metrics series", async () => {
  await using backend = startRecordingBackend();
  await using gw = await startGateway(routeConfig([{ port: backend.port }]));
  const series = async () =>
    (await fetchText(`${gw.url}/metrics`)).body.split("\n").filter((l) => !l.startsWith("#")).length;
  await fetchText(`${gw.url}/nowhere`);
  await fetchText(`${gw.url}/nowhere`, { method: "PROPFIND" });
  await fetchText(`${gw.url}/api/x`);
  const before = await series();
  for (let i = 0; i < 100; i++) {
    const noise = crypto.randomUUID();
    await fetchText(`${gw.url}/${noise}/${i}`, {
      method: i % 2 ? "GET" : `X${noise.slice(0, 8).toUpperCase()}`,
    });
    await fetchText(`${gw.url}/api/${noise}`);
  }
  assert.equal(await series(), before);
});

Deno.test("HEAD follows GET, OPTIONS without a listing is a 405 with Allow, and built-ins answer HEAD", async () => {
  await using backend = startBackend((req) => new Response(req.method === "HEAD" ? null : "body"));
  await using gw = await startGateway(routeConfig([backend], { methods: ["GET"] }));
  const head = await fetch(`${gw.url}/api/x`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const options = await fetchText(`${gw.url}/api/x`, { method: "OPTIONS" });
  assert.equal(options.status, 405);
  assert.equal(options.headers.get("allow"), "GET, HEAD");
  for (const path of ["/health", "/ready", "/live", "/metrics"]) {
    const res = await fetch(`${gw.url}${path}`, { method: "HEAD" });
    assert.equal(res.status, 200, path);
    assert.equal(await res.text(), "");
  }
  // A dot-segment spelling of a built-in reaches it too.
  assert.equal((await fetchText(`${gw.url}/api/../health`)).status, 200);
});

Deno.test("a long URL is forwarded whole; one over the head limit is refused and the gateway keeps serving", async () => {
  await using backend = startRecordingBackend();
  await using gw = await startGateway(
    routeConfig([{ port: backend.port }], {}, { server: { max_header_bytes: 16384 } }),
  );
  const long = "/api/" + "a".repeat(8000) + "?q=" + "b".repeat(4000);
  const ok = await rawRequest(gw.port, `GET ${long} HTTP/1.1`);
  assert.equal(ok.status, 200);
  assert.equal(forwardedTarget(ok), long.replace("/api/", "/"));
  const tooLong = await rawRequest(gw.port, `GET /api/${"a".repeat(20000)} HTTP/1.1`);
  assert.equal(tooLong.status, 414); // URI Too Long (RFC 9110 §15.5.15), as nginx answers
  assert.equal((await rawRequest(gw.port, "GET /api/x HTTP/1.1")).status, 200);
});

Deno.test("SIGTERM drains: in-flight requests finish, new connections and idle keep-alives are refused, exit 0", async () => {
  await using slow = startBackend(async (req) => {
    if (new URL(req.url).pathname === "/slow") await new Promise((r) => setTimeout(r, 1000));
    return new Response("finished");
  });
  const gw = await startGateway(routeConfig([slow], {}, { server: { shutdown_grace_ms: 5000 } }));
  try {
    // A keep-alive connection that served one request and now sits idle.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: gw.port });
    await idle.write(new TextEncoder().encode("GET /api/fast HTTP/1.1\r\nHost: gw\r\n\r\n"));
    const buf = new Uint8Array(4096);
    assert.match(new TextDecoder().decode(buf.subarray(0, (await idle.read(buf))!)), /^HTTP\/1\.1 200/);

    const inFlight = fetchText(`${gw.url}/api/slow`);
    await new Promise((r) => setTimeout(r, 200));
    const startedAt = Date.now();
    gw.process.kill("SIGTERM");
    await gw.waitForOutput('"msg":"shutting down"');
    await assert.rejects(fetch(`${gw.url}/health`), "the listener is closed at once");
    // The idle connection is closed rather than given to a new request.
    let answer = "";
    try {
      await idle.write(new TextEncoder().encode("GET /api/fast HTTP/1.1\r\nHost: gw\r\n\r\n"));
      const n = await idle.read(buf);
      answer = n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
    } catch { /* reset: refused too */ }
    idle.close();
    assert.doesNotMatch(answer, /^HTTP\/1\.1 200/);
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body, "finished");
    assert.equal(await gw.stop(), 0);
    assert.ok(Date.now() - startedAt < 5000, "exits once drained, well within the grace period");
  } finally {
    await gw.stop("SIGKILL");
  }
});

Deno.test("SIGTERM with a request that never finishes exits 0 once the grace period is over", async () => {
  let release!: () => void;
  const hang = new Promise<void>((resolve) => release = resolve);
  await using stuck = startBackend(async () => {
    await hang;
    return new Response("too late");
  });
  const gw = await startGateway(routeConfig([stuck], {}, { server: { shutdown_grace_ms: 500 } }));
  try {
    const inFlight = fetchText(`${gw.url}/api/stuck`).catch((err) => err);
    await new Promise((r) => setTimeout(r, 200));
    const startedAt = Date.now();
    assert.equal(await gw.stop("SIGTERM"), 0);
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 450 && elapsed < 3000, `exited after ${elapsed} ms`);
    const outcome = await inFlight;
    assert.ok(
      outcome instanceof Error || outcome.status >= 500,
      "the stuck request is cut, not answered 200",
    );
  } finally {
    release();
    await gw.stop("SIGKILL");
  }
});
