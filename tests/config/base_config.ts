/** A minimal valid canonical config for tests, plus a builder that patches its only route. */

export type RawRoute = Record<string, unknown>;

/** One http route to one backend; `route` fields override the defaults, `top` adds top-level keys. */
export function configWith(route: RawRoute = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    routers: [{
      external_path: "/api/{id}",
      internal_path: "/v1/{id}",
      methods: ["GET"],
      backends: [{ host: "http://127.0.0.1", port: 8080 }],
      ...route,
    }],
    ...top,
  };
}

/** Several routes, each built from `configWith`'s default route plus its own fields. */
export function configWithRoutes(
  routes: RawRoute[],
  top: Record<string, unknown> = {},
): Record<string, unknown> {
  const base = configWith().routers as RawRoute[];
  return { version: 1, routers: routes.map((r) => ({ ...base[0], ...r })), ...top };
}
