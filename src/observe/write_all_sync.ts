/** A synchronous writer such as `Deno.stdout` or `Deno.stderr`. */
export interface SyncWriter {
  writeSync(p: Uint8Array): number;
}

/** Writes every byte of `bytes`: a single `writeSync` may write fewer bytes than asked. */
export function writeAllSync(file: SyncWriter, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += file.writeSync(bytes.subarray(offset));
}
