import assert from "node:assert/strict";
import { mergeWorkerMetrics } from "../../src/observe/metrics_merge.ts";

const A = `# HELP kairos_requests_total Requests.
# TYPE kairos_requests_total counter
kairos_requests_total 3
# HELP kairos_route_requests_total Requests by route.
# TYPE kairos_route_requests_total counter
kairos_route_requests_total{route="/a",status="2xx"} 2
`;
const B = `# HELP kairos_requests_total Requests.
# TYPE kairos_requests_total counter
kairos_requests_total 5
# HELP kairos_only_b Only in b.
# TYPE kairos_only_b gauge
kairos_only_b{} 1
# HELP kairos_route_requests_total Requests by route.
# TYPE kairos_route_requests_total counter
kairos_route_requests_total{route="/a",status="2xx"} 4
`;

Deno.test("mergeWorkerMetrics() labels each sample with its worker and keeps each family together", () => {
  const merged = mergeWorkerMetrics([{ worker: "0", text: A }, { worker: "1", text: B }]);
  assert.equal(
    merged,
    `# HELP kairos_requests_total Requests.
# TYPE kairos_requests_total counter
kairos_requests_total{worker="0"} 3
kairos_requests_total{worker="1"} 5
# HELP kairos_route_requests_total Requests by route.
# TYPE kairos_route_requests_total counter
kairos_route_requests_total{worker="0",route="/a",status="2xx"} 2
kairos_route_requests_total{worker="1",route="/a",status="2xx"} 4
# HELP kairos_only_b Only in b.
# TYPE kairos_only_b gauge
kairos_only_b{worker="1"} 1
`,
  );
});

Deno.test("mergeWorkerMetrics() of nothing is empty, of one worker only adds the label", () => {
  assert.equal(mergeWorkerMetrics([]), "");
  const one = mergeWorkerMetrics([{ worker: "0", text: A }]);
  assert.equal(one.split("\n").filter((l) => l.startsWith("# TYPE")).length, 2);
  assert.match(one, /^kairos_requests_total\{worker="0"\} 3$/m);
});
