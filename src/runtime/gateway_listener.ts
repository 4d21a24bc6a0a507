/**
 * The gateway port: one `Deno.serve` listener, plain or TLS (HTTP/2 and HTTP/1.1 by ALPN). A new certificate
 * is served the way nginx does it on a reload: a new listener with the new pair binds the same address, and
 * the old one stops accepting and drains (requests in flight finish on it; upgraded WebSockets live on).
 */
import { type CertifiedKey, sameCertifiedKey } from "../config/tls_files.ts";
import type { Logger } from "../observe/logger.ts";
import { formatListenAddress } from "./listen_address.ts";
import { setListenerNoDelay } from "./tcp_nodelay.ts";
import type { GatewayHandler } from "./request_handler.ts";

export interface GatewayListenerOptions {
  readonly hostname: string;
  readonly port: number;
  /** Other worker processes bind the same port (SO_REUSEPORT whatever the TLS setting). */
  readonly shared: boolean;
  /** Deno.serve compresses responses the client accepts compressed (server.compression). */
  readonly compression: boolean;
  readonly handler: GatewayHandler;
  readonly onError: (err: unknown) => Response;
  readonly logger: Logger;
  /** Fields for the `listening` log line. */
  readonly describe: () => Record<string, unknown>;
}

/**
 * Whether a second listener can bind the port while the first still holds it. That takes SO_REUSEPORT, which
 * Deno offers on Linux behind --unstable-net; without the flag Deno exits the process on `reusePort` rather
 * than throwing, and the unstable `Deno.listenDatagram` is defined exactly when the flag is on.
 */
export function canReplaceListeners(): boolean {
  return Deno.build.os === "linux" &&
    typeof (Deno as { listenDatagram?: unknown }).listenDatagram === "function";
}

/** Owns the listening server(s) of the gateway port. Binding happens in the constructor (throws if it cannot). */
export class GatewayListener {
  readonly #options: GatewayListenerOptions;
  readonly #reusePort: boolean;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #tls: CertifiedKey | undefined;
  readonly #draining = new Set<Promise<void>>();
  #closing = false;

  constructor(options: GatewayListenerOptions, tls: CertifiedKey | undefined) {
    this.#options = options;
    // A TLS listener binds with SO_REUSEPORT so that a certificate rotation can bind its successor on the same
    // address before the old one closes: no window in which connections are refused, and no restart that
    // would cut requests in flight. A plain listener never needs a successor, so it keeps the kernel's
    // "address in use" check against a second gateway started on the same port by mistake.
    this.#reusePort = options.shared || (tls !== undefined && canReplaceListeners());
    if (this.#reusePort && !options.shared && options.port !== 0) {
      // SO_REUSEPORT would let this bind share a port another process already serves: check it is free first,
      // so a second gateway on the port still fails at start with "address in use".
      Deno.listen({ hostname: options.hostname, port: options.port }).close();
    }
    this.#server = this.#serve(options.port, tls, (addr) =>
      options.logger.info("listening", {
        address: formatListenAddress(addr.hostname, addr.port),
        tls: tls !== undefined,
        ...options.describe(),
      }));
    this.#tls = tls;
    if (tls !== undefined) this.#noDelay();
  }

  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** The pair the current listener serves (undefined: plain HTTP). */
  get tls(): CertifiedKey | undefined {
    return this.#tls;
  }

  /**
   * Serves a changed pair from a new listener on the same address and drains the old one. Synchronous, so the
   * caller can swap its snapshot in the same step; throws (and changes nothing) when the new listener cannot
   * start. Without SO_REUSEPORT the pair waits for a restart (logged). Turning TLS on or off is not done here:
   * it takes a restart, and so does a pair that arrives once shutdown() has begun (no new port while draining).
   */
  replace(tls: CertifiedKey | undefined): void {
    if (this.#closing) return;
    if (this.#tls === undefined || tls === undefined || sameCertifiedKey(this.#tls, tls)) return;
    if (!this.#reusePort) {
      this.#options.logger.warn("the new certificate takes effect at the next restart", {
        reason: "serving it without a restart needs SO_REUSEPORT (Linux, with --unstable-net)",
      });
      return;
    }
    const previous = this.#server;
    const { hostname, port } = previous.addr;
    this.#server = this.#serve(port, tls, () => {});
    this.#tls = tls;
    this.#noDelay();
    this.#options.logger.info("certificate replaced: new connections get it, the old listener drains", {
      address: formatListenAddress(hostname, port),
    });
    // Connections that reached the old socket's accept queue in the instant before it closes are reset,
    // unless the kernel moves them (net.ipv4.tcp_migrate_req=1, Linux 5.14+).
    const drained: Promise<void> = previous.shutdown().then(
      () =>
        this.#options.logger.debug("old listener drained", { address: formatListenAddress(hostname, port) }),
      (err) => this.#options.logger.warn("old listener did not drain cleanly", { error: String(err) }),
    ).finally(() => this.#draining.delete(drained));
    this.#draining.add(drained);
  }

  /** Stops accepting and resolves once the requests in flight, on this and on replaced listeners, are done. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    await Promise.all([this.#server.shutdown(), ...this.#draining]);
  }

  /** TCP_NODELAY on the TLS listener's sockets (tcp_nodelay.ts says why), or a warning saying what it costs. */
  #noDelay(): void {
    const { hostname, port } = this.#server.addr;
    const outcome = setListenerNoDelay(port);
    const address = formatListenAddress(hostname, port);
    if (outcome.ok) {
      this.#options.logger.debug("TCP_NODELAY set on the TLS listener", {
        address,
        sockets: outcome.sockets,
      });
      return;
    }
    this.#options.logger.warn(
      "HTTP/1.1 clients of the TLS listener wait about 40 ms per response: Deno leaves Nagle's algorithm on " +
        "and Kairos could not set TCP_NODELAY (HTTP/2 clients are not affected)",
      { address, reason: outcome.reason },
    );
  }

  #serve(
    port: number,
    tls: CertifiedKey | undefined,
    onListen: (addr: Deno.NetAddr) => void,
  ): Deno.HttpServer<Deno.NetAddr> {
    const { hostname, handler, onError, compression } = this.#options;
    const base = {
      hostname,
      port,
      reusePort: this.#reusePort,
      automaticCompression: compression,
      onListen,
      onError,
    };
    return tls === undefined
      ? Deno.serve(base, handler)
      : Deno.serve({ ...base, cert: tls.cert, key: tls.key }, handler);
  }
}
