/**
 * The jose package, loaded when the first `jwt` section is compiled. It adds about 4 MiB of resident
 * memory that a gateway without JWT policies never needs.
 */
export type JoseModule = typeof import("jose");

let loaded: Promise<JoseModule> | undefined;

/** Resolves to the jose package; every caller shares one import. */
export function joseModule(): Promise<JoseModule> {
  return loaded ??= import("jose");
}
