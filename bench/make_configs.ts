/**
 * Writes the benchmark's gateway configs into a directory and prints the JWT the policies case sends:
 *   gateway.json           one /api route, two backends, round robin (the harness's example)
 *   gateway-1k.json        the same plus 999 other routes, so matching cost with many routes shows
 *   gateway-policies.json  the same route with JWT HS256, a rate limit that never triggers, one header transformation
 *   gateway-fetch.json     gateway.json on the fetch upstream client
 * Usage: deno run -A bench/make_configs.ts OUT_DIR
 */
import { SignJWT } from "jose";

const out = Deno.args[0];
if (!out) {
  throw new TypeError("Cannot write configs as no output directory was given: usage make_configs.ts DIR");
}
const base = JSON.parse(
  await Deno.readTextFile(new URL("./harness/conf/gateway.example.json", import.meta.url)),
);
delete base._comment;
const server = { access_log: false, upstream_client: "http1" };
// Several gateways run side by side: none may claim the admin port.
base.admin = { enabled: false };
const secret = "kairos-benchmark-secret-0123456789abcdef";

const write = (name: string, config: unknown) =>
  Deno.writeTextFile(`${out}/${name}`, JSON.stringify(config, null, 2));
await write("gateway.json", { ...base, server });
await write("gateway-fetch.json", { ...base, server: { ...server, upstream_client: "fetch" } });

const many = Array.from({ length: 999 }, (_, i) => ({
  external_path: i % 2 ? `/svc${i}/users/{id}/orders/{order}` : `/svc${i}/static/health`,
  internal_path: i % 2 ? `/v1/users/{id}/orders/{order}` : "/health",
  methods: ["GET"],
  backends: base.routers[0].backends,
}));
await write("gateway-1k.json", { ...base, server, routers: [...many, ...base.routers] });

const [api, ...rest] = base.routers;
await write("gateway-policies.json", {
  ...base,
  server,
  jwt: { secret, algorithms: ["HS256"] },
  rate_limit: {
    algorithm: "token_bucket",
    requests_per_window: 10_000_000,
    window_ms: 1000,
    burst: 0,
    key: "ip",
  },
  routers: [{
    ...api,
    auth_required: true,
    request_transformation: { headers: [{ action: "set", name: "X-Gateway", value: "kairos" }] },
  }, ...rest],
});

const token = await new SignJWT({ sub: "bench-user" })
  .setProtectedHeader({ alg: "HS256" })
  .setIssuedAt()
  .setExpirationTime("2h")
  .sign(new TextEncoder().encode(secret));
console.log(token);
