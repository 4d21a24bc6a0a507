/**
 * server.compression: responses the backend sent uncompressed are compressed for clients that accept it, once
 * (a backend's own encoding passes through untouched), and nothing is compressed when it is off (the default).
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { routeConfig, startBackend, startGateway } from "./harness.ts";

const JSON_BODY = JSON.stringify({
  items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })),
});

function backend() {
  return startBackend(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/pre") {
      // Already gzip-encoded by the backend.
      const gz = new Response(new Blob([JSON_BODY]).stream().pipeThrough(new CompressionStream("gzip")));
      return new Response(await gz.arrayBuffer(), {
        headers: { "content-type": "application/json", "content-encoding": "gzip" },
      });
    }
    return new Response(JSON_BODY, { headers: { "content-type": "application/json" } });
  });
}

/** Raw bytes and headers as the gateway sent them (curl does not decode without --compressed). */
async function rawGet(url: string, acceptEncoding: string): Promise<{ headers: string; body: Uint8Array }> {
  const dir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("curl", {
      args: ["-sS", "-D", `${dir}/h`, "-o", `${dir}/b`, "-H", `accept-encoding: ${acceptEncoding}`, url],
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return {
      headers: (await Deno.readTextFile(`${dir}/h`)).toLowerCase(),
      body: await Deno.readFile(`${dir}/b`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const hasCurl = await new Deno.Command("curl", { args: ["--version"] }).output().then(
  (o) => o.success,
  () => false,
);
if (!hasCurl && Deno.env.get("CI") !== "true") {
  console.warn("skipping compression tests: curl is not installed");
}

Deno.test({
  name:
    "server.compression gzips an uncompressed backend answer once and leaves a backend's own encoding alone",
  ignore: !hasCurl && Deno.env.get("CI") !== "true",
  async fn() {
    await using be = backend();
    await using gw = await startGateway(routeConfig([be], {}, { server: { compression: true } }));
    const plain = await rawGet(`${gw.url}/api/data`, "gzip");
    assert.match(plain.headers, /^content-encoding: gzip\r?$/m);
    assert.match(plain.headers, /^vary: .*accept-encoding/m);
    assert.ok(plain.body.length < JSON_BODY.length / 2, `compressed to ${plain.body.length} bytes`);
    assert.equal(new TextDecoder().decode(gunzipSync(plain.body)), JSON_BODY);

    const pre = await rawGet(`${gw.url}/api/pre`, "gzip");
    assert.match(pre.headers, /^content-encoding: gzip\r?$/m);
    assert.equal(new TextDecoder().decode(gunzipSync(pre.body)), JSON_BODY, "compressed once, not twice");

    const identity = await rawGet(`${gw.url}/api/data`, "identity");
    assert.doesNotMatch(identity.headers, /^content-encoding:/m);
    assert.equal(new TextDecoder().decode(identity.body), JSON_BODY);
  },
});

Deno.test({
  name: "responses are not compressed when server.compression is off (the default)",
  ignore: !hasCurl && Deno.env.get("CI") !== "true",
  async fn() {
    await using be = backend();
    await using gw = await startGateway(routeConfig([be]));
    const res = await rawGet(`${gw.url}/api/data`, "gzip, br");
    assert.doesNotMatch(res.headers, /^content-encoding:/m);
    assert.equal(new TextDecoder().decode(res.body), JSON_BODY);
  },
});
