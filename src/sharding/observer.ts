// What the sharding room tells as it happens, for whoever counts it (src/observability implements it);
// the room itself knows nothing of Prometheus.

export type ShardStepName = 'acquire' | 'create' | 'release' | 'drop' | 'lapse';
export type MetricRoute = 'local' | 'forwarded' | 'published' | 'unavailable';

export interface ShardingObserver {
  /** Shards held after a change. */
  shardsHeld(count: number): void;
  shardMoved(step: ShardStepName): void;
  /** How one external metric request was answered. */
  metricRouted(route: MetricRoute): void;
}

export const SILENT_SHARDING: ShardingObserver = { shardsHeld: () => undefined, shardMoved: () => undefined, metricRouted: () => undefined };
