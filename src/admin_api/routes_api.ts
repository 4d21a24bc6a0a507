/**
 * `/api/routes…` with kairos-rs's paths, bodies, response shapes and statuses, except that a change is
 * applied at once through the store (the same path as a file reload) and persisted, and the reply says so.
 * A route is named by its `external_path`: `GET /api/routes/api/users/{id}` (braces may be %-encoded).
 */
import { canonicalHostPattern } from "../routing/host_router.ts";
import { formatProblems } from "../config/problems.ts";
import type { ConfigProblem } from "../config/problems.ts";
import { ConfigChangeError } from "../runtime/config_change_error.ts";
import { ApiError } from "./api_error.ts";
import {
  type AdminApp,
  type AdminContext,
  type AdminDeps,
  appliedFields,
  appliedMessage,
  jsonWithEtag,
  who,
} from "./admin_context.ts";
import { keepIgnoredKeys, restoreRedacted } from "./document_edits.ts";
import { redactSecrets } from "./redact_secrets.ts";
import { readBody } from "./request_body.ts";

type Obj = Record<string, unknown>;

const PREFIX = "/api/routes";
// `/api/routes/` names the route `/`; a bare `/api/routes` is the collection (Hono's `/*` would match both).
const ONE_ROUTE = `${PREFIX}/:tail{.*}`;

function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Mounts the routes endpoints on `app`. */
export function mountRoutesApi(app: AdminApp, deps: AdminDeps): void {
  const { store } = deps;
  const routesOf = (draft: Obj): unknown[] => {
    if (!Array.isArray(draft.routers)) draft.routers = [];
    return draft.routers as unknown[];
  };
  // A route is named by its external_path and, where several routes share it, `?host=` (virtual hosts)
  // and `?method=` (one path, different methods per route).
  const indexOf = (path: string, sel: Selector) =>
    findRoute(store.config.routers, path, sel.host, sel.method);

  app.get(PREFIX, (c) => {
    const routes = store.config.routers;
    return jsonWithEtag(c, 200, {
      success: true,
      message: `Found ${routes.length} routes`,
      routes: redactSecrets(routes),
    }, store.version);
  });

  app.post(`${PREFIX}/validate`, async (c) => {
    const body = (await readBody(c.req.raw)).value;
    const route = isObject(body) && "route" in body ? body.route : body;
    const path = isObject(route) ? route.external_path : undefined;
    const document = structuredClone(store.document) as Obj;
    const routes = routesOf(document);
    const index = typeof path === "string" && isObject(route)
      ? sameNameIndex(store.config.routers, path, route.hosts, route.methods)
      : -1;
    const at = index >= 0 ? index : routes.length;
    routes[at] = route;
    let result;
    try {
      result = store.validate(restoreRedacted(document, store.document));
    } catch (err) {
      if (!(err instanceof ConfigChangeError)) throw err;
      result = { ok: false as const, errors: [...err.errors], warnings: [] };
    }
    if (result.ok) return c.json({ valid: true, warnings: relative(result.warnings, at) });
    const errors = relative(result.errors, at);
    return c.json({
      valid: false,
      error: formatProblems(errors),
      errors,
      warnings: relative(result.warnings, at),
    });
  });

  app.get(ONE_ROUTE, (c) => {
    const path = routePath(c);
    const sel = selector(c);
    const route = store.config.routers[indexOf(path, sel)];
    if (!route) throw new ApiError(404, `Route not found: ${describe(path, sel.host, sel.method)}`);
    return jsonWithEtag(
      c,
      200,
      { success: true, message: "Route found", route: redactSecrets(route) },
      store.version,
    );
  });

  app.post(PREFIX, async (c) => {
    const route = (await readBody(c.req.raw)).value;
    if (!isObject(route)) throw new ApiError(400, "Route validation failed: expected a JSON object");
    const path = route.external_path;
    const clash = () =>
      typeof path === "string" && sameNameIndex(store.config.routers, path, route.hosts, route.methods) >= 0;
    if (clash()) throw new ApiError(409, `Route already exists: ${path}`);
    // Checked again inside the update: the check above runs before earlier queued changes land, so a
    // concurrent POST of the same path would otherwise fail as a duplicate (400) rather than 409.
    let at = -1;
    const result = await routeChange(
      () => at,
      store.update((draft) => {
        if (clash()) throw new ApiError(409, `Route already exists: ${path}`);
        at = routesOf(draft).push(route) - 1;
        return restoreRedacted(draft, store.document);
      }, { who: who(c), action: "route.create", target: String(path), ifMatch: c.req.header("if-match") }),
    );
    const applied = store.config.routers[at];
    return jsonWithEtag(c, 201, {
      success: true,
      message: appliedMessage("Route created", result),
      route: redactSecrets(applied),
      ...appliedFields(result),
      warnings: relative(result.warnings, at),
    }, result.version);
  });

  app.put(ONE_ROUTE, async (c) => {
    const path = routePath(c);
    const route = (await readBody(c.req.raw)).value;
    if (!isObject(route)) throw new ApiError(400, "Route validation failed: expected a JSON object");
    if (route.external_path === undefined) route.external_path = path;
    if (route.external_path !== path) throw new ApiError(400, "Route external_path must match URL parameter");
    const sel = selector(c);
    if (indexOf(path, sel) < 0) {
      throw new ApiError(404, `Route not found: ${describe(path, sel.host, sel.method)}`);
    }
    let index = -1;
    const result = await routeChange(
      () => index,
      store.update((draft) => {
        const routes = routesOf(draft);
        index = indexOf(path, sel);
        if (index < 0) {
          throw new ConfigChangeError(404, `Route not found: ${describe(path, sel.host, sel.method)}`);
        }
        routes[index] = keepIgnoredKeys(route, routes[index]);
        return restoreRedacted(draft, store.document);
      }, { who: who(c), action: "route.update", target: path, ifMatch: c.req.header("if-match") }),
    );
    const applied = store.config.routers[index];
    return jsonWithEtag(c, 200, {
      success: true,
      message: appliedMessage("Route updated", result),
      route: redactSecrets(applied),
      ...appliedFields(result),
      warnings: relative(result.warnings, index),
    }, result.version);
  });

  app.delete(ONE_ROUTE, async (c) => {
    const path = routePath(c);
    const sel = selector(c);
    if (indexOf(path, sel) < 0) {
      throw new ApiError(404, `Route not found: ${describe(path, sel.host, sel.method)}`);
    }
    const result = await store.update((draft) => {
      const index = indexOf(path, sel);
      if (index < 0) {
        throw new ConfigChangeError(404, `Route not found: ${describe(path, sel.host, sel.method)}`);
      }
      routesOf(draft).splice(index, 1);
    }, { who: who(c), action: "route.delete", target: path, ifMatch: c.req.header("if-match") });
    return jsonWithEtag(
      c,
      200,
      { success: true, message: appliedMessage("Route deleted", result), ...appliedFields(result) },
      result.version,
    );
  });
}

interface NamedRoute {
  readonly external_path: string;
  readonly hosts?: readonly string[];
  readonly methods?: readonly string[];
}

/**
 * The index of the route named by `path`, `host` and `method`, or -1. With `host`, the routes whose `hosts`
 * name it; without, the routes for every host (no `hosts`), else all on the path (kairos-rs names routes by
 * path alone). `method` picks among routes that share a path with different methods. Several left → 409.
 */
export function findRoute(
  routes: readonly NamedRoute[],
  path: string,
  host?: string | null,
  method?: string | null,
): number {
  let candidates: number[] = [];
  if (host) {
    const name = canonicalHostPattern(host);
    routes.forEach((r, i) => {
      if (r.external_path === path && r.hosts?.some((h) => canonicalHostPattern(h) === name)) {
        candidates.push(i);
      }
    });
  } else {
    routes.forEach((r, i) => {
      if (r.external_path === path && !r.hosts?.length) candidates.push(i);
    });
    if (candidates.length === 0) {
      routes.forEach((r, i) => {
        if (r.external_path === path) candidates.push(i);
      });
    }
  }
  if (method) {
    const wanted = method.toUpperCase();
    candidates = candidates.filter((i) => routes[i].methods?.includes(wanted) ?? false);
  }
  if (candidates.length <= 1) return candidates.length === 1 ? candidates[0] : -1;
  const listed = candidates.map((i) => {
    const r = routes[i];
    const hosts = r.hosts?.length ? ` on ${r.hosts.join(", ")}` : "";
    return `routers[${i}] (${r.methods?.join(", ") ?? "no methods"}${hosts})`;
  });
  const hint = host || !candidates.some((i) => routes[i].hosts?.length) ? "?method=" : "?host= or ?method=";
  throw new ApiError(
    409,
    `Several routes serve ${describe(path, host, method)}: ${listed.join(", ")}; name one with ${hint}`,
  );
}

/**
 * The route a new one would duplicate: same path, both for every host or sharing a host name, and a method
 * in common (routes may share a path and host with different methods).
 */
function sameNameIndex(
  routes: readonly NamedRoute[],
  path: string,
  hosts: unknown,
  methods: unknown,
): number {
  const names = Array.isArray(hosts)
    ? hosts.filter((h) => typeof h === "string").map(canonicalHostPattern)
    : [];
  // A body without a usable method list fails validation anyway; until then it clashes with any method.
  const wanted = Array.isArray(methods) && methods.length > 0 && methods.every((m) => typeof m === "string")
    ? methods.map((m: string) => m.toUpperCase())
    : undefined;
  return routes.findIndex((r) => {
    if (r.external_path !== path) return false;
    if (wanted !== undefined && r.methods !== undefined && !r.methods.some((m) => wanted.includes(m))) {
      return false;
    }
    const theirs = r.hosts ?? [];
    if (names.length === 0 || theirs.length === 0) return names.length === 0 && theirs.length === 0;
    return theirs.some((h) => names.includes(canonicalHostPattern(h)));
  });
}

function describe(path: string, host?: string | null, method?: string | null): string {
  return `${path}${host ? ` for host ${host}` : ""}${method ? ` for method ${method.toUpperCase()}` : ""}`;
}

/** `?host=` and `?method=`: which of the routes on one path a request means. */
interface Selector {
  readonly host: string | undefined;
  readonly method: string | undefined;
}

function selector(c: AdminContext): Selector {
  return { host: c.req.query("host"), method: c.req.query("method") };
}

/** The route named by the URL after `/api/routes` (kairos-rs: `"/" + tail`), %-decoded. */
function routePath(c: AdminContext): string {
  const raw = new URL(c.req.url).pathname.slice(PREFIX.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, `Cannot decode the route path ${JSON.stringify(raw)}: invalid %-encoding`);
  }
}

/**
 * Words a refused route change like kairos-rs ("Route validation failed: …"), paths relative to the route
 * (the replies' warnings are made relative the same way).
 * `index` is read after the change ran: where the route was in the document the store validated.
 */
async function routeChange<T>(index: () => number, change: Promise<T>): Promise<T> {
  try {
    return await change;
  } catch (err) {
    if (err instanceof ConfigChangeError && err.status === 400) {
      const errors = relative(err.errors, index());
      throw new ConfigChangeError(400, `Route validation failed: ${formatProblems(errors)}`, errors, {
        cause: err,
      });
    }
    throw err;
  }
}

/** Rewrites `routers[i].x` to `x` for the route under edit; other problems keep their full path. */
function relative(problems: readonly ConfigProblem[], index: number): ConfigProblem[] {
  const prefix = `routers[${index}]`;
  return problems.map((p) => {
    if (p.path === prefix) return { ...p, path: "" };
    if (p.path.startsWith(`${prefix}.`)) return { ...p, path: p.path.slice(prefix.length + 1) };
    return p;
  });
}
