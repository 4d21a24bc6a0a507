/**
 * The command line of a worker process: this process's own argv (from /proc/self/cmdline, so `deno run`
 * flags and permissions, or a compiled binary's arguments, carry over exactly), minus the flags that
 * must stay with the first process: file watching (`--watch`) and the inspector (one port each).
 */

const PRIMARY_ONLY = /^--(watch|watch-hmr|watch-exclude|inspect|inspect-brk|inspect-wait)(=|$)/;

/** Program and arguments that start this same gateway again. */
export function workerCommand(cmdline = Deno.readTextFileSync("/proc/self/cmdline")): {
  program: string;
  args: string[];
} {
  const argv = cmdline.split("\0");
  if (argv[argv.length - 1] === "") argv.pop();
  if (argv.length === 0) throw new Error("Cannot start workers: /proc/self/cmdline is empty");
  return { program: Deno.execPath(), args: argv.slice(1).filter((arg) => !PRIMARY_ONLY.test(arg)) };
}
