// Run with `deno bench tests/routing/route_table_bench.ts`: matching 1,000 routes should cost about as
// much as matching 1, since the trie never scans the route list.
import { compileRouteTable, type RouteEntry } from "../../src/routing/route_table.ts";

/** `count` services, each with a static, a param, a pattern and a catch-all route. */
function routes(count: number): RouteEntry<number>[] {
  const out: RouteEntry<number>[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ pattern: `/svc${i}/health`, methods: ["GET"], value: i });
    out.push({ pattern: `/svc${i}/users/{id}/posts/{post}`, methods: ["GET"], value: i });
    out.push({ pattern: `/svc${i}/items/item-{id}.json`, methods: ["GET"], value: i });
    out.push({ pattern: `/svc${i}/files/{*rest}`, methods: ["GET"], value: i });
  }
  return out;
}

const large = compileRouteTable(routes(250));
const [health, posts, _items, files] = routes(1);
const last = 249;

for (
  const [label, single, path, lastPath] of [
    ["static", health, "/svc0/health", `/svc${last}/health`],
    ["param", posts, "/svc0/users/42/posts/7", `/svc${last}/users/42/posts/7`],
    ["catch-all", files, "/svc0/files/a/b/c", `/svc${last}/files/a/b/c`],
  ] as const
) {
  const small = compileRouteTable([single]);
  Deno.bench(`${label}: 1 route`, { group: label, baseline: true }, () => {
    small.match("GET", path);
  });
  Deno.bench(`${label}: 1,000 routes`, { group: label }, () => {
    large.match("GET", lastPath);
  });
}
