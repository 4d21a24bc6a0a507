/**
 * The files a config names for TLS: the gateway listener's certificate and key (`server.tls`) and the extra
 * roots trusted for https/wss backends (`server.upstream_ca_files`). They are read at start, by
 * `kairos validate` and on every reload, so a renewed certificate is picked up by a reload; every problem is
 * a ConfigProblem on the field that names the file.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describeReadError } from "./load.ts";
import { type ConfigProblem, formatPath, formatProblems } from "./problems.ts";
import type { Config } from "./schema.ts";

/** A certificate chain and its private key, as PEM text (what `Deno.serve({ cert, key })` takes). */
export interface CertifiedKey {
  readonly cert: string;
  readonly key: string;
}

/** What the TLS files of one config hold. */
export interface TlsFiles {
  /** The gateway listener's pair (`server.tls`), or undefined for plain HTTP. */
  readonly listener: CertifiedKey | undefined;
  /** One PEM text per `server.upstream_ca_files` entry, or undefined when there are none. */
  readonly upstreamCaCerts: readonly string[] | undefined;
}

export type TlsFilesResult =
  | { ok: true; files: TlsFiles }
  | { ok: false; errors: ConfigProblem[] };

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PRIVATE_KEY = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/;
// PKCS#8 EncryptedPrivateKeyInfo, or a traditional OpenSSL key with a Proc-Type header (RFC 1421 §4.6.1.1).
const ENCRYPTED_KEY = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,\s*ENCRYPTED/;

/**
 * Reads and checks the TLS files `config` names. Synchronous (a reload reads a few KiB and swaps in the same
 * step); never throws: each problem names its JSON path and the file.
 */
export function readTlsFiles(config: Config): TlsFilesResult {
  const errors: ConfigProblem[] = [];
  const tls = config.server.tls;
  let listener: CertifiedKey | undefined;
  if (tls !== undefined) {
    const certPath = ["server", "tls", "cert_file"];
    const keyPath = ["server", "tls", "key_file"];
    const cert = readPem(tls.cert_file, certPath, errors);
    const key = readPem(tls.key_file, keyPath, errors);
    const certs = cert === undefined ? undefined : parseCertificates(cert, tls.cert_file, certPath, errors);
    const privateKey = key === undefined ? undefined : parsePrivateKey(key, tls.key_file, keyPath, errors);
    if (cert !== undefined && key !== undefined && certs !== undefined && privateKey !== undefined) {
      // rustls would refuse the pair when the listener binds; saying so here also covers `kairos validate`.
      if (!certs[0].checkPrivateKey(privateKey)) {
        errors.push({
          path: formatPath(keyPath),
          message: `${JSON.stringify(tls.key_file)} is not the private key of the certificate in ` +
            `${JSON.stringify(tls.cert_file)} (a renewal that replaced only one of them?)`,
        });
      }
      listener = { cert, key };
    }
  }
  const caFiles = config.server.upstream_ca_files ?? [];
  const upstreamCaCerts: string[] = [];
  caFiles.forEach((file, i) => {
    const path = ["server", "upstream_ca_files", i];
    const text = readPem(file, path, errors);
    if (text !== undefined && parseCertificates(text, file, path, errors) !== undefined) {
      upstreamCaCerts.push(text);
    }
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, files: { listener, upstreamCaCerts: caFiles.length > 0 ? upstreamCaCerts : undefined } };
}

/** `readTlsFiles()` for callers that cannot go on without the files: throws TypeError listing the problems. */
export function readTlsFilesOrThrow(config: Config): TlsFiles {
  const read = readTlsFiles(config);
  if (!read.ok) {
    throw new TypeError(`Cannot use the TLS files the config names:\n${formatProblems(read.errors)}`);
  }
  return read.files;
}

/** Whether two readings hold the same listener pair and the same roots. */
export function sameTlsFiles(a: TlsFiles, b: TlsFiles): boolean {
  return sameCertifiedKey(a.listener, b.listener) && sameCaCerts(a.upstreamCaCerts, b.upstreamCaCerts);
}

/** Whether two pairs are the same certificate and key (both undefined: both plain). */
export function sameCertifiedKey(a: CertifiedKey | undefined, b: CertifiedKey | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.cert === b.cert && a.key === b.key);
}

/** Whether two lists of roots are the same files' contents, in the same order. */
export function sameCaCerts(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((text, i) => text === b[i]);
}

function readPem(file: string, path: (string | number)[], errors: ConfigProblem[]): string | undefined {
  const fail = (reason: string) => {
    errors.push({ path: formatPath(path), message: `cannot read ${JSON.stringify(file)}: ${reason}` });
    return undefined;
  };
  try {
    if (!Deno.statSync(file).isFile) return fail("not a regular file");
    return new TextDecoder("utf-8", { fatal: true }).decode(Deno.readFileSync(file));
  } catch (err) {
    return fail(describeReadError(err));
  }
}

function parseCertificates(
  text: string,
  file: string,
  path: (string | number)[],
  errors: ConfigProblem[],
): X509Certificate[] | undefined {
  const blocks = text.match(CERTIFICATE);
  if (blocks === null) {
    errors.push({
      path: formatPath(path),
      message: `${JSON.stringify(file)} does not contain a PEM certificate`,
    });
    return undefined;
  }
  const certs: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      certs.push(new X509Certificate(block));
    } catch (err) {
      errors.push({
        path: formatPath(path),
        message: `cannot parse certificate ${i + 1} in ${JSON.stringify(file)}: ${(err as Error).message}`,
      });
      return undefined;
    }
  }
  return certs;
}

function parsePrivateKey(
  text: string,
  file: string,
  path: (string | number)[],
  errors: ConfigProblem[],
): ReturnType<typeof createPrivateKey> | undefined {
  const fail = (message: string) => {
    errors.push({ path: formatPath(path), message });
    return undefined;
  };
  if (ENCRYPTED_KEY.test(text)) {
    return fail(
      `${JSON.stringify(file)} holds an encrypted private key; Kairos needs it unencrypted ` +
        `(openssl pkey -in ${file} -out plain.pem), readable by the kairos user only`,
    );
  }
  const block = text.match(PRIVATE_KEY);
  if (block === null) return fail(`${JSON.stringify(file)} does not contain a PEM private key`);
  try {
    return createPrivateKey(block[0]);
  } catch (err) {
    return fail(`cannot parse the private key in ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
}
