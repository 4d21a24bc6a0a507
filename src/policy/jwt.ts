/**
 * JWT verification with jose, compiled once per `jwt` section: HS256/384/512 with `secret`; RS*, PS*,
 * ES256/384 and EdDSA with `public_key` (PEM) or `jwks_url`. Only the configured algorithms are
 * accepted (default: HS* for a secret, the key's family for a PEM, every asymmetric one for a JWKS),
 * so `alg: none` and algorithm confusion (an HS token checked against an RSA key) fail. `issuer` and
 * `audience` are checked only when configured (kairos-rs demanded `""` when they were omitted).
 * Verified tokens are remembered for up to a minute (1,024 per jwt section), so a client's repeated
 * requests skip the signature check; expiry is still checked on every request, and a newly fetched
 * JWKS drops what was verified with the previous one.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import type { JWSHeaderParameters, JWTPayload, JWTVerifyOptions } from "jose";
import { joseModule } from "./jose_module.ts";
import type { JwtConfig } from "../config/policy_schema.ts";
import type { JwksCache, JwksKeyFunction, JwksKeys } from "./jwks_cache.ts";
import { PolicyConfigError } from "./policy_config_error.ts";

export { createJwksCache, type JwksCache, JwksUnavailableError } from "./jwks_cache.ts";

/** Verifies a compact JWT; rejects with a jose error (or JwksUnavailableError) when it is not valid. */
export type JwtVerifier = (token: string) => Promise<JWTPayload>;

/** The largest token accepted; longer ones are refused before any parsing. */
export const MAX_TOKEN_BYTES = 8192;

const HMAC = ["HS256", "HS384", "HS512"] as const;
const RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] as const;
const ASYMMETRIC = [...RSA, "ES256", "ES384", "EdDSA"] as const;
const CACHE_MAX = 1024;
const CACHE_TTL_MS = 60_000;
// RFC 7515 §7.1: three base64url segments, unpadded (the signature is empty only for `alg: none`, which
// jose then refuses by name). jose's decoder would also take `+`, `/` and `=`, spelling one token many ways.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

type CachedToken = { payload: JWTPayload; until: number; notBefore: number; generation: number };

/** Compiles a verifier for `config` (config path `path`); throws PolicyConfigError for unusable keys. */
export function compileJwtVerifier(
  config: JwtConfig,
  path: string,
  jwks: JwksCache,
  log?: (level: "warn" | "info", msg: string, fields?: Record<string, unknown>) => void,
): JwtVerifier {
  const secret = config.secret ? new TextEncoder().encode(config.secret) : undefined;
  if (config.public_key && config.jwks_url) {
    throw new PolicyConfigError(path, 'Cannot use both "public_key" and "jwks_url"; keep one');
  }
  const publicKey = config.public_key ? parsePublicKey(config.public_key, `${path}.public_key`) : undefined;
  const remote: JwksKeys | undefined = config.jwks_url
    ? jwks.keys(config.jwks_url, {
      cacheMs: config.jwks_cache_ms,
      cooldownMs: config.jwks_cooldown_ms,
      timeoutMs: config.jwks_timeout_ms,
      log,
    })
    : undefined;
  if (!secret && !publicKey && !remote) {
    throw new PolicyConfigError(path, 'expected a key: "secret", "public_key" or "jwks_url"');
  }
  const publicAlgs: readonly string[] = publicKey ? familyAlgorithms(publicKey) : remote ? ASYMMETRIC : [];
  if (publicKey && publicAlgs.length === 0) {
    throw new PolicyConfigError(
      `${path}.public_key`,
      `Cannot use a ${publicKey.asymmetricKeyType} key: expected RSA, EC P-256/P-384 or Ed25519`,
    );
  }
  const usable = new Set<string>([...(secret ? HMAC : []), ...publicAlgs]);
  const algorithms = config.algorithms ?? [...usable];
  config.algorithms?.forEach((alg, i) => {
    if (!usable.has(alg)) {
      const need = alg.startsWith("HS")
        ? 'a "secret"'
        : publicKey
        ? "a different public_key"
        : 'a "public_key" or "jwks_url"';
      throw new PolicyConfigError(`${path}.algorithms[${i}]`, `algorithm ${alg} needs ${need}`);
    }
  });

  const options: JWTVerifyOptions = {
    algorithms,
    clockTolerance: config.clock_skew_seconds,
    requiredClaims: config.require_exp
      ? [...new Set([...config.required_claims, "exp"])]
      : config.required_claims,
  };
  if (config.issuer) options.issuer = config.issuer;
  const audience = config.audience;
  if (audience && audience.length > 0) options.audience = audience;
  const skewMs = config.clock_skew_seconds * 1000;

  // jose checks `algorithms` before asking for a key, so each branch sees only allowed algorithms.
  const getKey = (header: JWSHeaderParameters, token: Parameters<JwksKeyFunction>[1]) => {
    if (header.alg?.startsWith("HS")) return secret!;
    return publicKey ?? remote!(header, token);
  };
  const cache = new Map<string, CachedToken>();
  void joseModule(); // start loading now, so the first request does not wait for it

  return async function verifyJwt(token: string): Promise<JWTPayload> {
    const now = Date.now();
    // A new JWKS (rotation, revocation) invalidates what was verified with the old one.
    const generation = remote ? remote.generation : 0;
    const hit = cache.get(token);
    if (hit && now < hit.until && now >= hit.notBefore && hit.generation === generation) return hit.payload;
    if (!COMPACT_JWS.test(token)) throw new (await joseModule()).errors.JWSInvalid("Invalid Compact JWS");
    const { payload } = await verifyWithCandidates(token, getKey, options);
    remember(
      cache,
      token,
      { payload, until: 0, notBefore: 0, generation: remote ? remote.generation : 0 },
      now,
      skewMs,
    );
    return payload;
  };
}

async function verifyWithCandidates(
  token: string,
  getKey: (header: JWSHeaderParameters, token: Parameters<JwksKeyFunction>[1]) => unknown,
  options: JWTVerifyOptions,
) {
  const { jwtVerify } = await joseModule();
  try {
    return await jwtVerify(token, getKey as Parameters<typeof jwtVerify>[1], options);
  } catch (err) {
    // A JWKS with several keys fitting a kid-less token: jose hands the candidates over; try each.
    if ((err as { code?: string }).code !== "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw err;
    for await (const key of err as AsyncIterable<CryptoKey>) {
      try {
        return await jwtVerify(token, key, options);
      } catch (inner) {
        if ((inner as { code?: string }).code !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") throw inner;
      }
    }
    throw err;
  }
}

function remember(
  cache: Map<string, CachedToken>,
  token: string,
  entry: CachedToken,
  now: number,
  skewMs: number,
) {
  const { exp, nbf } = entry.payload;
  entry.until = Math.min(typeof exp === "number" ? exp * 1000 + skewMs : Infinity, now + CACHE_TTL_MS);
  entry.notBefore = typeof nbf === "number" ? nbf * 1000 - skewMs : -Infinity;
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(token, entry);
}

/** Parses a PEM public key (SPKI or PKCS#1 or an X.509 certificate). */
export function parsePublicKey(pem: string, path: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new PolicyConfigError(path, `Cannot read the public key: ${(err as Error).message}`);
  }
}

/** The algorithms a public key can verify. */
export function familyAlgorithms(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return RSA;
    case "rsa-pss":
      return RSA.filter((alg) => alg.startsWith("PS"));
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === "prime256v1" ? ["ES256"] : curve === "secp384r1" ? ["ES384"] : [];
    }
    case "ed25519":
      return ["EdDSA"];
    default:
      return [];
  }
}
