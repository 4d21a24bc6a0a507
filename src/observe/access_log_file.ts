/**
 * The access log written to a file (`server.access_log_file`) instead of stdout, as nginx's `access_log PATH`.
 * The file is opened for appending (O_APPEND: several workers can share it, each batch of whole lines landing
 * intact), created with mode 0640 when missing, and reopened on `reopen()` (SIGUSR1, like nginx) so logrotate
 * can move it away and have the next lines go to a new file.
 */
import { writeAllSync } from "./write_all_sync.ts";

export interface AccessLogFile {
  /** Appends complete lines. Throws when the write fails (the access log drops the batch and reports it). */
  write(text: string): void;
  /** Closes the current file and opens the path again (after logrotate renamed it). */
  reopen(): void;
  close(): void;
}

const encoder = new TextEncoder();

/** Opens `path` for appending; throws an Error naming the path when it cannot be opened. */
export function openAccessLogFile(path: string): AccessLogFile {
  let file = open(path);
  return {
    write(text) {
      writeAllSync(file, encoder.encode(text));
    },
    reopen() {
      const next = open(path);
      file.close();
      file = next;
    },
    close() {
      file.close();
    },
  };
}

function open(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { append: true, create: true, mode: 0o640 });
  } catch (err) {
    throw new Error(`Cannot open the access log file ${JSON.stringify(path)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
