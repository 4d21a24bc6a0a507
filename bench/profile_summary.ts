/** Prints the hottest functions of a V8 .cpuprofile by self time (and inclusive time for ours). */
const file = Deno.args[0];
if (!file) throw new TypeError("Cannot summarise as no .cpuprofile was given: usage profile_summary.ts FILE");
interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const profile = JSON.parse(await Deno.readTextFile(file)) as {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
};
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
const byName = new Map<string, number>();
for (const node of profile.nodes) {
  const f = node.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(src|main)/, "$1")}:${f.lineNumber + 1}` : "(native)";
  const key = `${f.functionName || "(anonymous)"} ${where}`;
  byName.set(key, (byName.get(key) ?? 0) + (self.get(node.id) ?? 0));
}
const rows = [...byName].sort((a, b) => b[1] - a[1]).slice(0, Number(Deno.args[1] ?? 40));
for (const [name, us] of rows) console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${name}`);
