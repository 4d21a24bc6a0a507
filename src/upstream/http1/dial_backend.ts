import { UpstreamError, type UpstreamTarget } from "../client.ts";

/**
 * Opens a connection to a backend within `timeoutMs`: TCP with Nagle off, plus TLS for `https:` (SNI from the
 * hostname, ALPN `http/1.1`, handshake completed so certificate errors surface here). Rejects with UpstreamError
 * "connect", "connect_timeout" or "aborted", never sent.
 */
export async function dialBackend(
  target: UpstreamTarget,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  caCerts: string[] | undefined,
): Promise<Deno.Conn> {
  // URL hostnames keep IPv6 brackets; TLS server names must not have them.
  const hostname = target.hostname.startsWith("[") ? target.hostname.slice(1, -1) : target.hostname;
  const controller = new AbortController();
  let tls: Deno.TlsConn | null = null;
  let timedOut = false;
  // Deno.startTls and handshake() take no signal: closing the socket is how we interrupt them.
  const stop = () => {
    controller.abort();
    try {
      tls?.close();
    } catch { /* already closed */ }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, timeoutMs);
  signal?.addEventListener("abort", stop);
  let tcp: Deno.TcpConn | null = null;
  try {
    tcp = await Deno.connect({ hostname, port: target.port, signal: controller.signal });
    tcp.setNoDelay(true);
    if (target.protocol === "http:") return tcp;
    tls = await Deno.startTls(tcp, { hostname, caCerts, alpnProtocols: ["http/1.1"] });
    tcp = null;
    if (controller.signal.aborted) throw new Error("stopped");
    await tls.handshake();
    return tls;
  } catch (err) {
    try {
      (tls ?? tcp)?.close();
    } catch { /* already closed */ }
    if (timedOut) {
      throw new UpstreamError(
        "connect_timeout",
        `Cannot reach backend "${target.key}": connect timed out after ${timeoutMs} ms`,
        false,
        { cause: err },
      );
    }
    if (signal?.aborted) {
      throw new UpstreamError(
        "aborted",
        `Cannot reach backend "${target.key}": the client went away while connecting`,
        false,
        { cause: err },
      );
    }
    throw new UpstreamError("connect", `Cannot reach backend "${target.key}": ${describe(err, tls)}`, false, {
      cause: err,
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
}

function describe(err: unknown, tls: Deno.TlsConn | null): string {
  if (err instanceof Deno.errors.ConnectionRefused) return "connection refused";
  const message = err instanceof Error ? err.message : String(err);
  return tls !== null ? `TLS handshake failed: ${message}` : message;
}
