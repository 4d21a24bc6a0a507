/**
 * The private channel between the first process and its workers: HTTP over Unix sockets in a 0700
 * directory the first process creates. Workers serve `PUT /config` and `GET /metrics`; the first process
 * serves `GET /metrics` with every worker's series merged.
 */

/** Environment a worker starts with; KAIROS_WORKER_ID marks a process as a worker. */
export const WORKER_ENV = {
  id: "KAIROS_WORKER_ID",
  dir: "KAIROS_WORKER_DIR",
  host: "KAIROS_WORKER_HOST",
  port: "KAIROS_WORKER_PORT",
} as const;

export function primarySocketPath(dir: string): string {
  return `${dir}/primary.sock`;
}

export function workerSocketPath(dir: string, id: number): string {
  return `${dir}/worker-${id}.sock`;
}

/** An HTTP client whose every request goes to the Unix socket at `path`. */
export function socketClient(path: string): Deno.HttpClient {
  return Deno.createHttpClient({ proxy: { transport: "unix", path } } as Deno.CreateHttpClientOptions);
}

/** One request over `client`, failing after `timeoutMs`; the body is read to text. */
export async function socketCall(
  client: Deno.HttpClient,
  method: "GET" | "PUT",
  path: string,
  timeoutMs: number,
  body?: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://kairos-worker${path}`, {
    method,
    body,
    client,
    headers: body === undefined ? undefined : { "content-type": "application/json" },
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: response.status, text: await response.text() };
}
