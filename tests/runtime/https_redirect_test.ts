import assert from "node:assert/strict";
import { createLogger } from "../../src/observe/logger.ts";
import { createRedirectHandler, startHttpsRedirect } from "../../src/runtime/https_redirect.ts";

const logger = createLogger({ level: "error", format: "json", write: () => {} });

Deno.test("the redirect handler sends every request to the same host, path and query over HTTPS with 308", async (t) => {
  const to8443 = createRedirectHandler({ hostname: "127.0.0.1", port: 80, httpsPort: 8443, logger });
  const to443 = createRedirectHandler({ hostname: "127.0.0.1", port: 80, httpsPort: 443, logger });
  const cases: Array<[string, string, Record<string, string>, (r: Request) => Promise<Response>, string]> = [
    [
      "port of the TLS listener",
      "http://example.test/a/b?c=1&d",
      { host: "example.test" },
      to8443,
      "https://example.test:8443/a/b?c=1&d",
    ],
    [
      "443 is left out",
      "http://example.test:80/a",
      { host: "example.test:80" },
      to443,
      "https://example.test/a",
    ],
    [
      "Host's own port is replaced",
      "http://x/p",
      { host: "example.test:8080" },
      to443,
      "https://example.test/p",
    ],
    ["IPv6 literal", "http://[::1]:80/p", { host: "[::1]:80" }, to8443, "https://[::1]:8443/p"],
    [
      "raw spelling kept",
      "http://example.test/%7Euser/a%20b?q=%2F",
      { host: "example.test" },
      to443,
      "https://example.test/%7Euser/a%20b?q=%2F",
    ],
  ];
  for (const [name, url, headers, handler, location] of cases) {
    await t.step(name, async () => {
      const res = await handler(new Request(url, { headers }));
      assert.equal(res.status, 308);
      assert.equal(res.headers.get("location"), location);
    });
  }
  await t.step("a POST is redirected too (308 keeps the method)", async () => {
    const res = await to443(
      new Request("http://example.test/form", {
        method: "POST",
        body: "x",
        headers: { host: "example.test" },
      }),
    );
    assert.equal(res.status, 308);
  });
  await t.step("an invalid Host is 400, not a redirect to it", async () => {
    const res = await to443(new Request("http://example.test/", { headers: { host: "evil.test/x" } }));
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
  });
});

Deno.test("ACME HTTP-01 challenges are served from acme_webroot, and nothing else is", async (t) => {
  const webroot = await Deno.makeTempDir();
  await Deno.mkdir(`${webroot}/.well-known/acme-challenge`, { recursive: true });
  await Deno.writeTextFile(`${webroot}/.well-known/acme-challenge/tok_EN-1`, "tok_EN-1.thumbprint");
  await Deno.writeTextFile(`${webroot}/secret.txt`, "not for the web");
  const handler = createRedirectHandler({
    hostname: "127.0.0.1",
    port: 80,
    httpsPort: 443,
    acmeWebroot: webroot,
    logger,
  });
  try {
    await t.step("a token file is answered as text/plain", async () => {
      const res = await handler(new Request("http://example.test/.well-known/acme-challenge/tok_EN-1"));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/plain");
      assert.equal(await res.text(), "tok_EN-1.thumbprint");
    });
    await t.step("a missing token is 404", async () => {
      const res = await handler(new Request("http://example.test/.well-known/acme-challenge/nope"));
      assert.equal(res.status, 404);
      await res.body?.cancel();
    });
    await t.step("a token that is not base64url cannot climb out of the directory", async () => {
      for (const token of ["..%2F..%2Fsecret.txt", "..", "a.b", "%2e%2e"]) {
        const res = await handler(
          new Request(`http://example.test/.well-known/acme-challenge/${token}`, {
            headers: { host: "example.test" },
          }),
        );
        // Refused, or (where the URL parser resolved the dot segment away) redirected: never a file.
        assert.ok(res.status === 404 || res.status === 308, `${token}: ${res.status}`);
        await res.body?.cancel();
      }
    });
    await t.step("only GET and HEAD", async () => {
      const res = await handler(
        new Request("http://example.test/.well-known/acme-challenge/tok_EN-1", { method: "POST", body: "x" }),
      );
      assert.equal(res.status, 405);
      await res.body?.cancel();
    });
    await t.step("other paths are still redirected", async () => {
      const res = await handler(
        new Request("http://example.test/.well-known/other", { headers: { host: "example.test" } }),
      );
      assert.equal(res.status, 308);
    });
  } finally {
    await Deno.remove(webroot, { recursive: true });
  }
});

Deno.test("startHttpsRedirect() answers on its own port and a raw HTTP/1.1 request gets the Location", async () => {
  const server = startHttpsRedirect({ hostname: "127.0.0.1", port: 0, httpsPort: 9443, logger });
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/x?y=1`, { redirect: "manual" });
    assert.equal(res.status, 308);
    assert.equal(res.headers.get("location"), "https://127.0.0.1:9443/x?y=1");
    await res.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("startHttpsRedirect() answers a request without Host with 400, not a redirect to Deno's stand-in", async () => {
  const server = startHttpsRedirect({ hostname: "127.0.0.1", port: 0, httpsPort: 9443, logger });
  try {
    for (const version of ["HTTP/1.0", "HTTP/1.1"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      try {
        await conn.write(new TextEncoder().encode(`GET /x ${version}\r\nConnection: close\r\n\r\n`));
        const head = new TextDecoder().decode(await readAll(conn));
        assert.match(head, /^HTTP\/1\.[01] 400 /, `${version}: ${head}`);
        assert.doesNotMatch(head, /location/i);
      } finally {
        conn.close();
      }
    }
  } finally {
    await server.shutdown();
  }
});

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: number[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return Uint8Array.from(chunks);
    chunks.push(...buf.subarray(0, n));
  }
}
