/**
 * A backend broke an HTTP/1.1 framing rule. Internal to the http1 client: the exchange turns it into an
 * `UpstreamError` of kind "protocol" naming the backend, and never reuses the connection.
 */
export class ProtocolViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolViolation";
  }
}
