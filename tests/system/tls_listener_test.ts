/**
 * Whole-process HTTPS on the gateway port (`server.tls`): HTTP/1.1 and HTTP/2 to a plain backend, the
 * built-in endpoints, wss, certificate rotation on SIGHUP with a request in flight, a broken renewal that
 * keeps the old certificate, and a missing file refused by `validate` and `serve`.
 */
import assert from "node:assert/strict";
import { freePort, type Gateway, runKairos, startBackend, startGateway } from "./harness.ts";

const FIRST = {
  cert: new URL("../upstream/http1/fixtures/tls_cert.pem", import.meta.url).pathname,
  key: new URL("../upstream/http1/fixtures/tls_key.pem", import.meta.url).pathname,
};
const SECOND = {
  cert: new URL("../fixtures/tls/second_cert.pem", import.meta.url).pathname,
  key: new URL("../fixtures/tls/second_key.pem", import.meta.url).pathname,
};
const FIRST_CERT = await Deno.readTextFile(FIRST.cert);
const SECOND_CERT = await Deno.readTextFile(SECOND.cert);

/** The pair copied into a temp directory, as certbot's live/ directory would hold it. */
async function liveFiles(pair: { cert: string; key: string }) {
  const dir = await Deno.makeTempDir({ prefix: "kairos-tls-" });
  const files = { dir, cert: `${dir}/fullchain.pem`, key: `${dir}/privkey.pem` };
  await Deno.copyFile(pair.cert, files.cert);
  await Deno.copyFile(pair.key, files.key);
  return files;
}

function tlsConfig(files: { cert: string; key: string }, routers: unknown[]) {
  return { version: 1, server: { tls: { cert_file: files.cert, key_file: files.key } }, routers };
}

function httpRoute(port: number) {
  return {
    external_path: "/api/{*rest}",
    internal_path: "/{rest}",
    methods: ["GET"],
    backends: [{ host: "http://127.0.0.1", port }],
  };
}

/** One GET on a new connection trusting only `cert`: status and body, or the failure's message. */
async function get(
  gw: Gateway,
  path: string,
  cert: string,
  options: { http2?: boolean } = {},
): Promise<{ status: number; body: string } | { failed: string }> {
  const client = Deno.createHttpClient({ caCerts: [cert], http2: options.http2 ?? true });
  try {
    const response = await fetch(`https://127.0.0.1:${gw.port}${path}`, { client });
    return { status: response.status, body: await response.text() };
  } catch (err) {
    return { failed: String((err as Error).cause ?? err) };
  } finally {
    client.close();
  }
}

/** `kairos <args>` to its end; stdout and stderr together. */
async function run(args: string[]): Promise<{ code: number; output: string }> {
  const out = await runKairos(args);
  return { code: out.code, output: out.stdout + out.stderr };
}

/** Resolves once `text` occurs `count` times in the gateway's output. */
function waitForCount(gw: Gateway, text: string, count: number): Promise<void> {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return gw.waitForOutput(new RegExp(`(?:${escaped}[\\s\\S]*){${count}}`), 10_000);
}

Deno.test("an HTTPS listener serves HTTP/1.1, HTTP/2, built-in endpoints and wss, with X-Forwarded-Proto https", async (t) => {
  const seen: Array<{ proto: string | null; host: string | null }> = [];
  await using backend = startBackend((request) => {
    seen.push({
      proto: request.headers.get("x-forwarded-proto"),
      host: request.headers.get("x-forwarded-host"),
    });
    if (request.headers.get("upgrade") === "websocket") {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onmessage = (e) => socket.send(`echo ${e.data}`);
      return response;
    }
    return new Response("plain backend");
  });
  const files = await liveFiles(FIRST);
  await using gw = await startGateway(tlsConfig(files, [
    httpRoute(backend.port),
    {
      external_path: "/ws/{*rest}",
      internal_path: "/{rest}",
      methods: ["GET"],
      protocol: "websocket",
      backends: [{ host: "ws://127.0.0.1", port: backend.port }],
    },
  ]));
  const authority = `127.0.0.1:${gw.port}`;
  // Deno leaves Nagle on for TLS; Kairos sets TCP_NODELAY on the listener (tcp_nodelay.ts) or warns.
  assert.doesNotMatch(gw.output(), /could not set TCP_NODELAY/);

  for (const http2 of [false, true]) {
    await t.step(`${http2 ? "HTTP/2" : "HTTP/1.1"} through Deno's fetch`, async () => {
      seen.length = 0;
      assert.deepEqual(await get(gw, "/api/x", FIRST_CERT, { http2 }), {
        status: 200,
        body: "plain backend",
      });
      // Over HTTP/2 the client sends :authority and no Host; X-Forwarded-Host still carries it.
      assert.deepEqual(seen, [{ proto: "https", host: authority }]);
    });
  }

  await t.step("curl negotiates HTTP/2 and HTTP/1.1 by ALPN", async (t) => {
    const curl = await new Deno.Command("curl", { args: ["--version"], stdout: "null", stderr: "null" })
      .output()
      .then(() => true, () => false);
    if (!curl) {
      // CI must prove it; elsewhere, say why the step is skipped.
      assert.notEqual(Deno.env.get("CI"), "true", "curl is required in CI for the HTTP/2 version check");
      console.warn("skipped: curl is not installed, so the negotiated HTTP version cannot be observed");
      return;
    }
    for (const [flag, version] of [["--http2", "2"], ["--http1.1", "1.1"]]) {
      await t.step(flag, async () => {
        seen.length = 0;
        const out = await new Deno.Command("curl", {
          args: [
            "-sS",
            flag,
            "--cacert",
            FIRST.cert,
            "-w",
            "\n%{http_version}",
            `https://${authority}/api/x`,
          ],
          signal: AbortSignal.timeout(10_000),
        }).output();
        const [body, negotiated] = new TextDecoder().decode(out.stdout).split("\n");
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        assert.equal(body, "plain backend");
        assert.equal(negotiated, version);
        assert.deepEqual(seen, [{ proto: "https", host: authority }]);
      });
    }
  });

  await t.step("/health, /ready and /live answer over TLS", async () => {
    for (const path of ["/health", "/ready", "/live"]) {
      const answer = await get(gw, path, FIRST_CERT);
      assert.ok("status" in answer && answer.status === 200, `${path}: ${JSON.stringify(answer)}`);
    }
  });

  await t.step("a wss client reaches the websocket route", async () => {
    seen.length = 0;
    const client = Deno.createHttpClient({ caCerts: [FIRST_CERT] });
    const ws = new WebSocket(`wss://${authority}/ws/chat`, { client });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        ws.onopen = () => ws.send("hello");
        ws.onmessage = (e) => resolve(String(e.data));
        ws.onerror = (e) => reject(new Error((e as ErrorEvent).message));
      });
      assert.equal(reply, "echo hello");
      assert.deepEqual(seen, [{ proto: "https", host: authority }]);
    } finally {
      const closed = new Promise((resolve) => ws.onclose = resolve);
      ws.close();
      await closed;
      client.close();
    }
  });
  await Deno.remove(files.dir, { recursive: true });
});

Deno.test("SIGHUP after a renewal serves the new certificate while a request in flight finishes on the old listener", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => arrived = resolve);
  await using backend = startBackend(async (request) => {
    if (request.url.endsWith("/slow")) {
      arrived();
      await released;
    }
    return new Response("answer");
  });
  const files = await liveFiles(FIRST);
  await using gw = await startGateway(tlsConfig(files, [httpRoute(backend.port)]));
  try {
    assert.deepEqual(await get(gw, "/api/x", FIRST_CERT), { status: 200, body: "answer" });
    // A client that trusts only the second certificate cannot talk to the first.
    assert.ok("failed" in await get(gw, "/api/x", SECOND_CERT));

    const slow = get(gw, "/api/slow", FIRST_CERT, { http2: false });
    await arrival;
    await Deno.copyFile(SECOND.cert, files.cert);
    await Deno.copyFile(SECOND.key, files.key);
    gw.process.kill("SIGHUP");
    await gw.waitForOutput("certificate replaced", 10_000);

    // The old socket closes just after the log line; within a bounded wait the new pair is what answers.
    const deadline = Date.now() + 3000;
    while ("failed" in await get(gw, "/api/x", SECOND_CERT)) {
      assert.ok(Date.now() < deadline, `the second certificate was not served:\n${gw.output()}`);
    }
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await get(gw, "/api/x", SECOND_CERT), { status: 200, body: "answer" });
      assert.ok("failed" in await get(gw, "/api/x", FIRST_CERT), "a new connection got the old certificate");
    }
    release();
    assert.deepEqual(await slow, { status: 200, body: "answer" });
  } finally {
    release();
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("a reload with a broken key keeps the old certificate serving and names the key file", async (t) => {
  await using backend = startBackend(() => new Response("answer"));
  const files = await liveFiles(FIRST);
  await using gw = await startGateway(tlsConfig(files, [httpRoute(backend.port)]));
  const cases: Array<[string, () => Promise<void>, RegExp]> = [
    [
      "a key file that holds no key",
      () => Deno.writeTextFile(files.key, "renewal went wrong\n"),
      /server\.tls\.key_file.*privkey\.pem\\" does not contain a PEM private key/,
    ],
    [
      "the key of another certificate",
      () => Deno.copyFile(SECOND.key, files.key),
      /server\.tls\.key_file.*privkey\.pem\\" is not the private key of the certificate/,
    ],
  ];
  try {
    for (const [index, [name, breakIt, problem]] of cases.entries()) {
      await t.step(name, async () => {
        await breakIt();
        gw.process.kill("SIGHUP");
        await waitForCount(gw, '"trigger":"signal"', index + 1);
        assert.match(gw.output(), problem);
        assert.ok(!gw.output().includes("certificate replaced"));
        assert.deepEqual(await get(gw, "/api/x", FIRST_CERT), { status: 200, body: "answer" });
      });
    }
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("validate and serve refuse a config whose certificate file is missing, naming server.tls.cert_file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-tls-" });
  try {
    const missing = `${dir}/missing.pem`;
    const path = `${dir}/config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        ...tlsConfig({ cert: missing, key: FIRST.key }, [httpRoute(9)]),
        admin: { enabled: false },
      }),
    );
    const problem = `server.tls.cert_file: cannot read "${missing}": not found`;
    const validate = await run(["validate", "-c", path]);
    assert.equal(validate.code, 1, validate.output);
    assert.ok(validate.output.includes(problem), validate.output);
    const serve = await run(["serve", "-c", path, "--host", "127.0.0.1", "--port", "0"]);
    assert.equal(serve.code, 1, serve.output);
    assert.ok(serve.output.includes(problem), serve.output);
    assert.ok(!serve.output.includes('"msg":"listening"'), serve.output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "with two workers, each reads the renewed files on SIGHUP and serves the new certificate",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using backend = startBackend(() => new Response("answer"));
    const files = await liveFiles(FIRST);
    await using gw = await startGateway(tlsConfig(files, [httpRoute(backend.port)]), {
      args: ["--workers", "2"],
    });
    try {
      await gw.waitForOutput(/"msg":"listening","worker":1/);
      // New connections, so the kernel spreads them over both workers.
      const all = async (cert: string) => {
        const answers = [];
        for (let i = 0; i < 20; i++) answers.push(await get(gw, "/api/x", cert));
        return answers;
      };
      assert.deepEqual(await all(FIRST_CERT), Array(20).fill({ status: 200, body: "answer" }));
      const metrics = await get(gw, "/metrics", FIRST_CERT);
      assert.ok("body" in metrics && /kairos_requests_total\{worker="1"\} [1-9]/.test(metrics.body));

      await Deno.copyFile(SECOND.cert, files.cert);
      await Deno.copyFile(SECOND.key, files.key);
      gw.process.kill("SIGHUP");
      await gw.waitForOutput(/certificate replaced[^\n]*"worker":1/, 10_000);
      await waitForCount(gw, "certificate replaced", 2);
      const deadline = Date.now() + 3000;
      while ((await all(SECOND_CERT)).some((answer) => "failed" in answer)) {
        assert.ok(Date.now() < deadline, `a worker kept the old certificate:\n${gw.output()}`);
      }
      assert.ok(
        (await all(FIRST_CERT)).every((answer) => "failed" in answer),
        "a worker served the old pair",
      );
    } finally {
      await Deno.remove(files.dir, { recursive: true });
    }
  },
});

Deno.test("redirect_http_port answers plain HTTP with a 308 to the HTTPS port, and serves ACME challenges", async () => {
  await using backend = startBackend(() => new Response("over tls"));
  const files = await liveFiles(FIRST);
  const webroot = `${files.dir}/webroot`;
  await Deno.mkdir(`${webroot}/.well-known/acme-challenge`, { recursive: true });
  await Deno.writeTextFile(`${webroot}/.well-known/acme-challenge/token-1`, "token-1.key");
  const redirectPort = freePort();
  const config = tlsConfig(files, [httpRoute(backend.port)]);
  config.server.tls = {
    ...config.server.tls,
    redirect_http_port: redirectPort,
    acme_webroot: webroot,
  } as never;
  try {
    await using gw = await startGateway(config);
    await gw.waitForOutput('"msg":"redirecting plain HTTP to HTTPS"');
    const plain = await fetch(`http://127.0.0.1:${redirectPort}/api/x?y=1`, { redirect: "manual" });
    await plain.body?.cancel();
    assert.equal(plain.status, 308);
    const location = plain.headers.get("location");
    assert.equal(location, `https://127.0.0.1:${gw.port}/api/x?y=1`);
    // Following it reaches the backend over TLS.
    assert.deepEqual(await get(gw, new URL(location!).pathname, FIRST_CERT), {
      status: 200,
      body: "over tls",
    });
    const challenge = await fetch(`http://127.0.0.1:${redirectPort}/.well-known/acme-challenge/token-1`);
    assert.deepEqual([challenge.status, await challenge.text()], [200, "token-1.key"]);
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("validate refuses acme_webroot without a redirect port to serve it on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-tls-" });
  try {
    const path = `${dir}/config.json`;
    const config = tlsConfig(FIRST, [httpRoute(9)]);
    config.server.tls = { ...config.server.tls, acme_webroot: dir } as never;
    await Deno.writeTextFile(path, JSON.stringify(config));
    const validate = await run(["validate", "-c", path]);
    assert.equal(validate.code, 1, validate.output);
    assert.match(validate.output, /server\.tls\.acme_webroot: is served on the plain-HTTP redirect port/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with drain_delay_ms the redirect port keeps answering after SIGTERM until the delay is over", async () => {
  await using backend = startBackend(() => new Response("over tls"));
  const files = await liveFiles(FIRST);
  const redirectPort = freePort();
  const config = tlsConfig(files, [httpRoute(backend.port)]);
  config.server = {
    ...config.server,
    drain_delay_ms: 1500,
    tls: { ...config.server.tls, redirect_http_port: redirectPort },
  } as never;
  try {
    await using gw = await startGateway(config);
    await gw.waitForOutput('"msg":"redirecting plain HTTP to HTTPS"');
    gw.process.kill("SIGTERM");
    await gw.waitForOutput('"msg":"shutting down"');
    // Like the TLS port, the plain port must not refuse connections while load balancers move away.
    const plain = await fetch(`http://127.0.0.1:${redirectPort}/api/x`, { redirect: "manual" });
    await plain.body?.cancel();
    assert.equal(plain.status, 308);
    assert.equal(await gw.stop(), 0);
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});
