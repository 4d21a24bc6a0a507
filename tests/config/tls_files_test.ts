import assert from "node:assert/strict";
import { readTlsFiles, sameTlsFiles } from "../../src/config/tls_files.ts";
import { validateConfig } from "../../src/config/validate.ts";

const FIRST_CERT = new URL("../upstream/http1/fixtures/tls_cert.pem", import.meta.url).pathname;
const FIRST_KEY = new URL("../upstream/http1/fixtures/tls_key.pem", import.meta.url).pathname;
const SECOND_CERT = new URL("../fixtures/tls/second_cert.pem", import.meta.url).pathname;
const SECOND_KEY = new URL("../fixtures/tls/second_key.pem", import.meta.url).pathname;

function config(server: Record<string, unknown>) {
  const result = validateConfig({
    server,
    routers: [{
      external_path: "/a",
      internal_path: "/a",
      methods: ["GET"],
      backends: [{ host: "https://127.0.0.1", port: 8443 }],
    }],
  });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.errors));
  return result.config;
}

Deno.test("readTlsFiles() reads the listener pair and the upstream roots", async () => {
  const read = readTlsFiles(config({
    tls: { cert_file: FIRST_CERT, key_file: FIRST_KEY },
    upstream_ca_files: [SECOND_CERT],
  }));
  assert.ok(read.ok, JSON.stringify(!read.ok && read.errors));
  assert.equal(read.files.listener?.cert, await Deno.readTextFile(FIRST_CERT));
  assert.equal(read.files.listener?.key, await Deno.readTextFile(FIRST_KEY));
  assert.deepEqual(read.files.upstreamCaCerts, [await Deno.readTextFile(SECOND_CERT)]);
});

Deno.test("readTlsFiles() reads nothing for a plain listener without roots", () => {
  const read = readTlsFiles(config({}));
  assert.deepEqual(read, { ok: true, files: { listener: undefined, upstreamCaCerts: undefined } });
});

Deno.test("readTlsFiles() names the field and the file of every unusable file", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "kairos-tls-files-" });
  try {
    const garbage = `${dir}/garbage.pem`;
    await Deno.writeTextFile(garbage, "not a pem file\n");
    const broken = `${dir}/broken.pem`;
    await Deno.writeTextFile(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const encrypted = `${dir}/encrypted.pem`;
    await Deno.writeTextFile(
      encrypted,
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      [
        "a missing certificate",
        { tls: { cert_file: `${dir}/none.pem`, key_file: FIRST_KEY } },
        "server.tls.cert_file",
        new RegExp(`^cannot read "${dir}/none.pem": not found$`),
      ],
      [
        "a directory as the key",
        { tls: { cert_file: FIRST_CERT, key_file: dir } },
        "server.tls.key_file",
        /^cannot read ".*": not a regular file$/,
      ],
      [
        "a certificate file without a certificate",
        { tls: { cert_file: garbage, key_file: FIRST_KEY } },
        "server.tls.cert_file",
        /garbage\.pem" does not contain a PEM certificate$/,
      ],
      [
        "a certificate that does not parse",
        { tls: { cert_file: broken, key_file: FIRST_KEY } },
        "server.tls.cert_file",
        /^cannot parse certificate 1 in ".*broken\.pem": /,
      ],
      [
        "a key file without a key",
        { tls: { cert_file: FIRST_CERT, key_file: FIRST_CERT } },
        "server.tls.key_file",
        /tls_cert\.pem" does not contain a PEM private key$/,
      ],
      [
        "an encrypted key",
        { tls: { cert_file: FIRST_CERT, key_file: encrypted } },
        "server.tls.key_file",
        /holds an encrypted private key/,
      ],
      [
        "a key of another certificate",
        { tls: { cert_file: FIRST_CERT, key_file: SECOND_KEY } },
        "server.tls.key_file",
        /second_key\.pem" is not the private key of the certificate in ".*tls_cert\.pem"/,
      ],
      [
        "a missing CA file",
        { upstream_ca_files: [SECOND_CERT, `${dir}/ca.pem`] },
        "server.upstream_ca_files[1]",
        /^cannot read ".*ca\.pem": not found$/,
      ],
      [
        "a CA file without a certificate",
        { upstream_ca_files: [garbage] },
        "server.upstream_ca_files[0]",
        /does not contain a PEM certificate$/,
      ],
    ];
    for (const [name, server, path, message] of cases) {
      await t.step(name, () => {
        const read = readTlsFiles(config(server));
        assert.ok(!read.ok, `${name} was accepted`);
        assert.equal(read.errors.length, 1, JSON.stringify(read.errors));
        assert.equal(read.errors[0].path, path);
        assert.match(read.errors[0].message, message);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sameTlsFiles() tells a renewed pair or new roots from the same files", () => {
  const read = (server: Record<string, unknown>) => {
    const result = readTlsFiles(config(server));
    assert.ok(result.ok);
    return result.files;
  };
  const first = read({ tls: { cert_file: FIRST_CERT, key_file: FIRST_KEY } });
  assert.ok(sameTlsFiles(first, read({ tls: { cert_file: FIRST_CERT, key_file: FIRST_KEY } })));
  assert.ok(!sameTlsFiles(first, read({ tls: { cert_file: SECOND_CERT, key_file: SECOND_KEY } })));
  assert.ok(!sameTlsFiles(first, read({})));
  assert.ok(
    !sameTlsFiles(
      first,
      read({ tls: { cert_file: FIRST_CERT, key_file: FIRST_KEY }, upstream_ca_files: [FIRST_CERT] }),
    ),
  );
});
