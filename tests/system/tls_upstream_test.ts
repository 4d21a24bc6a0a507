/**
 * Whole-process trust of a private CA for https backends (`server.upstream_ca_files`), with both upstream
 * clients: requests, wss dials and health checks fail against a self-signed backend until a reload adds its
 * certificate to the roots.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { fetchText, type Gateway, sample, startGateway, until } from "./harness.ts";

const SECOND = {
  cert: new URL("../fixtures/tls/second_cert.pem", import.meta.url).pathname,
  key: new URL("../fixtures/tls/second_key.pem", import.meta.url).pathname,
};

/** An HTTPS (and wss) backend on 127.0.0.1 whose certificate no default root vouches for. */
function secureBackend() {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(SECOND.cert),
    key: Deno.readTextFileSync(SECOND.key),
    onListen() {},
  }, (request) => {
    if (request.headers.get("upgrade") === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (e) => socket.send(`secure ${e.data}`);
      return response;
    }
    return new Response("secure backend");
  });
  return { port: server.addr.port, [Symbol.asyncDispose]: () => server.shutdown() };
}

function config(client: string, apiPort: number, checkedPort: number, caFiles?: string[]) {
  const route = (path: string, protocol: string, host: string, port: number, extra = {}) => ({
    external_path: `${path}/{*rest}`,
    internal_path: "/{rest}",
    methods: ["GET"],
    protocol,
    backends: [{ host, port, ...extra }],
  });
  return {
    version: 1,
    server: { upstream_client: client, ...(caFiles ? { upstream_ca_files: caFiles } : {}) },
    routers: [
      route("/api", "http", "https://127.0.0.1", apiPort),
      route("/ws", "websocket", "wss://127.0.0.1", apiPort),
      {
        ...route("/checked", "http", "https://127.0.0.1", checkedPort, { health_check_path: "/health" }),
        health_check: { interval_ms: 100, timeout_ms: 1000, unhealthy_threshold: 1, healthy_threshold: 1 },
      },
    ],
  };
}

/** Opens a WebSocket through the gateway and returns the echo of "hi", or the failure. */
async function wsEcho(gw: Gateway): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws/x`);
  try {
    return await new Promise<string>((resolve) => {
      ws.onopen = () => ws.send("hi");
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => resolve("failed");
    });
  } finally {
    if (ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise((resolve) => ws.onclose = resolve);
      ws.close();
      await closed;
    }
  }
}

async function backendUp(gw: Gateway, port: number): Promise<number | undefined> {
  const metrics = await fetchText(`${gw.url}/metrics`);
  return sample(metrics.body, `kairos_backend_up{backend="https://127.0.0.1:${port}"}`);
}

for (const client of ["http1", "fetch"]) {
  Deno.test(`a self-signed https backend gets 502 until upstream_ca_files trusts it, then 200 (${client})`, async (t) => {
    await using api = secureBackend();
    await using checked = secureBackend();
    await using gw = await startGateway(config(client, api.port, checked.port));

    await t.step(
      "without the CA: requests 502, wss dials fail, health checks mark the backend down",
      async () => {
        const answer = await fetchText(`${gw.url}/api/x`);
        assert.equal(answer.status, 502, answer.body);
        assert.equal(await wsEcho(gw), "failed");
        await until(async () => (await backendUp(gw, checked.port)) === 0, 5000, "the health check to fail");
      },
    );

    await t.step("a reload that adds the CA file makes all three trust it", async () => {
      const text = JSON.stringify(config(client, api.port, checked.port, [SECOND.cert]));
      await Deno.writeTextFile(gw.configPath, text);
      gw.process.kill("SIGHUP");
      await gw.waitForOutput('"msg":"config reloaded"', 10_000);
      const answer = await fetchText(`${gw.url}/api/x`);
      assert.deepEqual([answer.status, answer.body], [200, "secure backend"]);
      assert.equal(await wsEcho(gw), "secure hi");
      await until(async () => (await backendUp(gw, checked.port)) === 1, 5000, "the health check to pass");
    });
  });
}

Deno.test("a gateway started with upstream_ca_files trusts the backend from the first request", async () => {
  await using api = secureBackend();
  await using checked = secureBackend();
  await using gw = await startGateway(config("http1", api.port, checked.port, [SECOND.cert]));
  const answer = await fetchText(`${gw.url}/api/x`);
  assert.deepEqual([answer.status, answer.body], [200, "secure backend"]);
});

Deno.test("a JWKS endpoint behind the private CA is trusted through upstream_ca_files, and a reload adds it", async () => {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  let fetches = 0;
  const idp = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(SECOND.cert),
    key: Deno.readTextFileSync(SECOND.key),
    onListen() {},
  }, () => {
    fetches++;
    return Response.json({ keys: [jwk] });
  });
  await using _idp = { [Symbol.asyncDispose]: () => idp.shutdown() };
  await using api = secureBackend();
  const jwtConfig = (caFiles?: string[]) => ({
    version: 1,
    server: caFiles ? { upstream_ca_files: caFiles } : {},
    jwt: { jwks_url: `https://127.0.0.1:${idp.addr.port}/jwks.json`, jwks_cooldown_ms: 0 },
    routers: [{
      external_path: "/secure",
      internal_path: "/s",
      methods: ["GET"],
      auth_required: true,
      backends: [{ host: "http://127.0.0.1", port: 9 }],
    }, {
      external_path: "/api/{*rest}",
      internal_path: "/{rest}",
      methods: ["GET"],
      backends: [{ host: "https://127.0.0.1", port: api.port }],
    }],
  });
  await using gw = await startGateway(jwtConfig());
  const token = await new SignJWT({ sub: "u", exp: Math.floor(Date.now() / 1000) + 300 })
    .setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(privateKey);
  const call = async () =>
    (await fetchText(`${gw.url}/secure`, { headers: { authorization: `Bearer ${token}` } })).status;
  // The key set cannot be fetched (unknown issuer): the token cannot be verified.
  assert.notEqual(await call(), 502);
  assert.equal(fetches, 0, "no TLS handshake succeeded");
  await Deno.writeTextFile(gw.configPath, JSON.stringify(jwtConfig([SECOND.cert])));
  gw.process.kill("SIGHUP");
  await gw.waitForOutput('"msg":"config reloaded"', 10_000);
  // Verified now, so the request reaches the (absent) backend: 502, not an authentication error.
  assert.equal(await call(), 502);
  assert.ok(fetches >= 1);
});

Deno.test("with upstream_http2 the fetch client speaks HTTP/2 to an https backend that offers it; else HTTP/1.1", async () => {
  // Over HTTP/2 a request has no Host field, only :authority (Deno puts it in the URL).
  const backend = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(SECOND.cert),
    key: Deno.readTextFileSync(SECOND.key),
    onListen() {},
  }, (request) => new Response(request.headers.has("host") ? "HTTP/1.1" : "HTTP/2"));
  await using _backend = { [Symbol.asyncDispose]: () => backend.shutdown() };
  const cases: Array<[string, boolean, string]> = [
    ["fetch", true, "HTTP/2"],
    ["fetch", false, "HTTP/1.1"],
    ["http1", true, "HTTP/1.1"],
  ];
  for (const [client, http2, version] of cases) {
    await using gw = await startGateway({
      version: 1,
      server: { upstream_client: client, upstream_http2: http2, upstream_ca_files: [SECOND.cert] },
      routers: [{
        external_path: "/api/{*rest}",
        internal_path: "/{rest}",
        methods: ["GET"],
        backends: [{ host: "https://127.0.0.1", port: backend.addr.port }],
      }],
    });
    const answer = await fetchText(`${gw.url}/api/x`);
    assert.deepEqual([answer.status, answer.body], [200, version], `${client}, upstream_http2 ${http2}`);
  }
});
