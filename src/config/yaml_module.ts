/**
 * The yaml package, loaded on first use. It adds about 8 MiB of resident memory, which a gateway configured
 * with JSON (the common case, and kairos-rs's only format) never needs.
 */
export type YamlModule = typeof import("yaml");

let loaded: Promise<YamlModule> | undefined;

/** Resolves to the yaml package; every caller shares one import. */
export function yamlModule(): Promise<YamlModule> {
  return loaded ??= import("yaml");
}
