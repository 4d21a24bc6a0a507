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

// Inclusive time of Kairos's own functions (self + everything they call), to see which step costs what.
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const inclusive = new Map<number, number>();
const inclusiveOf = (id: number): number => {
  const known = inclusive.get(id);
  if (known !== undefined) return known;
  const node = byId.get(id)!;
  const sum = (self.get(id) ?? 0) + (node.children ?? []).reduce((acc, child) => acc + inclusiveOf(child), 0);
  inclusive.set(id, sum);
  return sum;
};
const ours = new Map<string, number>();
const onStack = new Set<string>();
const walk = (id: number) => {
  const node = byId.get(id)!;
  const f = node.callFrame;
  const key = /\/(src|main)/.test(f.url)
    ? `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(src|main)/, "$1")}:${f.lineNumber + 1}`
    : undefined;
  // Count a function once per stack, so recursion and re-entry do not double its time.
  const fresh = key !== undefined && !onStack.has(key);
  if (fresh) {
    ours.set(key, (ours.get(key) ?? 0) + inclusiveOf(id));
    onStack.add(key);
  }
  for (const child of node.children ?? []) walk(child);
  if (fresh) onStack.delete(key);
};
walk(profile.nodes[0].id);
console.log("\ninclusive, Kairos functions:");
const top = [...ours].sort((a, b) => b[1] - a[1]).slice(0, Number(Deno.args[2] ?? 30));
for (const [name, us] of top) console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${name}`);
