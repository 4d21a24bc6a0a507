import type { BodyByteCounter } from "../upstream/client.ts";
import { joinChunks } from "./body_bytes.ts";

/**
 * A request body that retries can send again. Bodies up to a limit are buffered once; larger ones
 * stream, and stay replayable only until an attempt has started reading them. It counts every byte it
 * reads from the client into `counter`, so a body sent by several attempts is counted once.
 */
export class ReplayableBody {
  #bytes: Uint8Array | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #prefix: Uint8Array[];
  readonly #counter: BodyByteCounter;
  #touched = false;

  private constructor(
    counter: BodyByteCounter,
    bytes: Uint8Array | undefined,
    reader?: ReadableStreamDefaultReader<Uint8Array>,
    prefix: Uint8Array[] = [],
  ) {
    this.#counter = counter;
    this.#bytes = bytes;
    this.#reader = reader;
    this.#prefix = prefix;
  }

  /** Buffers `stream` when it fits in `limit` bytes (by Content-Length or by reading), else streams it. */
  static async from(
    stream: ReadableStream<Uint8Array>,
    headers: Headers,
    limit: number,
    counter: BodyByteCounter,
  ): Promise<ReplayableBody> {
    const declared = headers.get("content-length");
    const length = declared === null ? NaN : Number(declared);
    const reader = stream.getReader();
    if (limit <= 0 || length > limit) return new ReplayableBody(counter, undefined, reader);
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (size <= limit) {
      const { value, done } = await reader.read();
      if (done) return new ReplayableBody(counter, joinChunks(chunks, size));
      chunks.push(value);
      size += value.byteLength;
      // Per chunk: a read that fails (the body limit's 413, a client gone) leaves what came before counted.
      counter.requestBodyBytes += value.byteLength;
    }
    // Over the limit: what was read must still go upstream, so this body can be sent once only.
    const body = new ReplayableBody(counter, undefined, reader, chunks);
    body.#touched = true;
    return body;
  }

  /** True when the whole body is held in memory. */
  get buffered(): boolean {
    return this.#bytes !== undefined;
  }

  /** True while another attempt could send the complete body. */
  get replayable(): boolean {
    return this.#bytes !== undefined || !this.#touched;
  }

  /** The body for one attempt: the buffer, or a stream over the remaining client body. */
  forAttempt(): Uint8Array | ReadableStream<Uint8Array> {
    if (this.#bytes) return this.#bytes;
    const reader = this.#reader!;
    const prefix = this.#prefix;
    this.#prefix = [];
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        this.#touched = true;
        const head = prefix.shift();
        if (head) return controller.enqueue(head);
        const { value, done } = await reader.read();
        if (done) return controller.close();
        this.#counter.requestBodyBytes += value.byteLength;
        controller.enqueue(value);
      },
      cancel: (reason) => {
        if (this.#touched) return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
  }
}
