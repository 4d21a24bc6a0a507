/**
 * Load balancers: pick a backend of a route's pool per attempt. A strategy only chooses among
 * available backends (healthy, circuit not open); health and breakers live elsewhere (Caddy's shape).
 */
import type { LbStrategy } from "../config/schema.ts";
import type { BackendState } from "./backend_state.ts";
import { ipHash } from "./balancers/ip_hash.ts";
import { leastConnections } from "./balancers/least_connections.ts";
import { randomChoice } from "./balancers/random_choice.ts";
import { roundRobin } from "./balancers/round_robin.ts";
import { smoothWeighted } from "./balancers/smooth_weighted.ts";

export interface Balancer {
  readonly strategy: LbStrategy;
  /**
   * An available backend for this attempt, or undefined when none is. `exclude` (the backend that just
   * failed) is avoided unless it is the only available one.
   */
  pick(clientIp: string, exclude?: BackendState): BackendState | undefined;
}

/**
 * A strategy's choice among available backends other than `exclude`; undefined when there is none.
 * Must not allocate.
 */
export type BackendChooser = (
  clientIp: string,
  exclude: BackendState | undefined,
) => BackendState | undefined;

export interface BalancerOptions {
  /** Random source in [0, 1) for `random` (tests inject a seeded one). */
  readonly random?: () => number;
  /**
   * This route's weights, one per backend; defaults to each state's `weight`. Pass them when a backend
   * is shared by routes with different weights, since the shared state holds only the last one.
   */
  readonly weights?: readonly number[];
}

/** Builds the balancer for one pool; all tables (weights, hash ring) are computed here, once. */
export function createBalancer(
  strategy: LbStrategy,
  backends: readonly BackendState[],
  options: BalancerOptions = {},
): Balancer {
  const weights = options.weights ?? backends.map((b) => b.weight);
  if (weights.length !== backends.length) {
    throw new RangeError(
      `Cannot build ${strategy} balancer as every backend needs a weight: got ${backends.length} backends and ${weights.length} weights`,
    );
  }
  for (const w of weights) {
    if (!Number.isInteger(w) || w < 1) {
      throw new RangeError(`Cannot build ${strategy} balancer as weights must be integers >= 1: got ${w}`);
    }
  }
  const choose = chooserFor(strategy, backends, weights, options.random ?? Math.random);
  return {
    strategy,
    pick: function pick(clientIp, exclude) {
      // Only when nothing else is available does a retry go back to the backend that just failed.
      return choose(clientIp, exclude) ?? (exclude === undefined ? undefined : choose(clientIp, undefined));
    },
  };
}

function chooserFor(
  strategy: LbStrategy,
  backends: readonly BackendState[],
  weights: readonly number[],
  random: () => number,
): BackendChooser {
  switch (strategy) {
    case "round_robin":
      return roundRobin(backends);
    case "weighted":
      return smoothWeighted(backends, weights);
    case "least_connections":
      return leastConnections(backends, weights);
    case "random":
      return randomChoice(backends, random);
    case "ip_hash":
      return ipHash(backends, weights);
  }
}
