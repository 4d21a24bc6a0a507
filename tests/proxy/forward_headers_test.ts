import assert from "node:assert/strict";
import { buildUpstreamHeaders, copyEndToEnd, isHopByHop } from "../../src/proxy/forward_headers.ts";

const info = { peerIp: "10.0.0.9", peerTrusted: false, requestId: "req-1", preserveHost: false };

Deno.test("buildUpstreamHeaders() removes hop-by-hop headers and those named in Connection", () => {
  const out = buildUpstreamHeaders(
    new Headers({
      connection: "close, x-private",
      "x-private": "secret",
      "keep-alive": "timeout=5",
      te: "trailers",
      upgrade: "h2c",
      "proxy-authorization": "Basic abc",
      "transfer-encoding": "chunked",
      "upgrade-insecure-requests": "1",
      accept: "*/*",
    }),
    info,
  );
  for (const name of ["connection", "x-private", "keep-alive", "te", "upgrade", "proxy-authorization"]) {
    assert.equal(out.get(name), null, name);
  }
  // kairos-rs strips by prefix and loses this one; it is an end-to-end header.
  assert.equal(out.get("upgrade-insecure-requests"), "1");
  assert.equal(out.get("accept"), "*/*");
});

Deno.test("buildUpstreamHeaders() replaces an untrusted peer's X-Forwarded-* and appends for a trusted one", () => {
  const client = new Headers({
    host: "api.example.com",
    "x-forwarded-for": "1.2.3.4",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "spoofed.example",
  });
  const untrusted = buildUpstreamHeaders(client, info);
  assert.equal(untrusted.get("x-forwarded-for"), "10.0.0.9");
  assert.equal(untrusted.get("x-forwarded-proto"), "http");
  assert.equal(untrusted.get("x-forwarded-host"), "api.example.com");
  // The proxy step sets the chosen backend's Host; nothing is copied from the client.
  assert.equal(untrusted.get("host"), null);
  assert.equal(untrusted.get("x-request-id"), "req-1");

  const trusted = buildUpstreamHeaders(client, { ...info, peerTrusted: true });
  assert.equal(trusted.get("x-forwarded-for"), "1.2.3.4, 10.0.0.9");
  assert.equal(trusted.get("x-forwarded-proto"), "https");
  assert.equal(trusted.get("x-forwarded-host"), "spoofed.example");
});

Deno.test("buildUpstreamHeaders() keeps the client's Host with preserveHost", () => {
  const out = buildUpstreamHeaders(new Headers({ host: "public.example" }), {
    ...info,
    preserveHost: true,
  });
  assert.equal(out.get("host"), "public.example");
});

Deno.test("buildUpstreamHeaders() says https for a TLS listener and takes an HTTP/2 request's authority as its Host", () => {
  const out = buildUpstreamHeaders(new Headers(), { ...info, proto: "https", authority: "api.example:8443" });
  assert.equal(out.get("x-forwarded-proto"), "https");
  assert.equal(out.get("x-forwarded-host"), "api.example:8443");
  const kept = buildUpstreamHeaders(new Headers(), {
    ...info,
    proto: "https",
    authority: "api.example:8443",
    preserveHost: true,
  });
  assert.equal(kept.get("host"), "api.example:8443");
  // A trusted proxy in front still decides.
  const behind = buildUpstreamHeaders(new Headers({ "x-forwarded-proto": "http" }), {
    ...info,
    peerTrusted: true,
    proto: "https",
  });
  assert.equal(behind.get("x-forwarded-proto"), "http");
});

Deno.test("buildUpstreamHeaders() keeps repeated headers", () => {
  const client = new Headers();
  client.append("accept-language", "en");
  client.append("accept-language", "fr");
  assert.equal(buildUpstreamHeaders(client, info).get("accept-language"), "en, fr");
});

Deno.test("copyEndToEnd() leaves out hop-by-hop fields and those Connection names, keeping every Set-Cookie", () => {
  const original = new Headers({
    connection: "x-trace",
    "x-trace": "1",
    "keep-alive": "5",
    "content-type": "text/plain",
  });
  original.append("set-cookie", "a=1");
  original.append("set-cookie", "b=2");
  const headers = new Headers();
  copyEndToEnd(original, headers);
  assert.equal(original.get("keep-alive"), "5", "the original is left alone");
  assert.equal(headers.get("connection"), null);
  assert.equal(headers.get("x-trace"), null);
  assert.equal(headers.get("keep-alive"), null);
  assert.equal(headers.get("content-type"), "text/plain");
  assert.deepEqual(headers.getSetCookie(), ["a=1", "b=2"]);
  assert.ok(isHopByHop("transfer-encoding"));
  assert.ok(!isHopByHop("content-length"));
});

Deno.test("copyEndToEnd() adds defaults the backend did not send, never overriding its own", () => {
  const backend = new Headers({ "x-frame-options": "SAMEORIGIN", "content-type": "text/plain" });
  const copy = new Headers();
  copyEndToEnd(backend, copy, ["x-frame-options", "DENY", "x-content-type-options", "nosniff"]);
  assert.equal(copy.get("x-frame-options"), "SAMEORIGIN");
  assert.equal(copy.get("x-content-type-options"), "nosniff");
  assert.equal(copy.get("content-type"), "text/plain");
});

Deno.test("copyEndToEnd() tells sent defaults from missing ones past the 31 it tracks with bits", () => {
  const defaults: string[] = [];
  for (let i = 0; i < 40; i++) defaults.push(`x-default-${i}`, "ours");
  const backend = new Headers({
    "x-default-0": "theirs",
    "x-default-29": "theirs",
    "x-default-35": "theirs",
  });
  for (const list of [defaults.slice(0, 62), defaults]) {
    const copy = new Headers();
    copyEndToEnd(backend, copy, list);
    assert.equal(copy.get("x-default-0"), "theirs");
    assert.equal(copy.get("x-default-29"), "theirs");
    assert.equal(copy.get("x-default-1"), "ours");
    assert.equal(copy.get("x-default-28"), "ours");
    if (list.length > 62) {
      assert.equal(copy.get("x-default-35"), "theirs");
      assert.equal(copy.get("x-default-39"), "ours");
    }
  }
});
