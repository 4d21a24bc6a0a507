/**
 * Turns a jose verification failure into the short `error_description` of a 401 (RFC 6750 §3),
 * saying what was wrong without echoing token contents.
 */

/** A one-line reason for a rejected token. */
export function describeJwtError(err: unknown): string {
  const e = err as { code?: string; claim?: string; reason?: string; message?: string };
  switch (e.code) {
    case "ERR_JWT_EXPIRED":
      return "token expired";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      if (e.claim === "nbf" && e.reason === "check_failed") return "token not yet valid";
      if (e.reason === "missing") return `missing required claim "${e.claim}"`;
      return `unexpected "${e.claim}" claim value`;
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "algorithm not allowed";
    case "ERR_JOSE_NOT_SUPPORTED":
      // An algorithm the runtime lacks, or a `crit` header parameter nobody here understands.
      return "unsupported algorithm or critical header";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "signature verification failed";
    case "ERR_JWKS_NO_MATCHING_KEY":
      return "no signing key matches the token";
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return "malformed token";
    default:
      // e.g. a TypeError from a key that cannot verify the token's algorithm.
      return "token cannot be verified with the configured key";
  }
}
