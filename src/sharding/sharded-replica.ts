// One replica of several: the shard coordinator that decides what it owns, the forwarder that
// answers metric requests for what it does not, and the owner's side of that forwarding. Built
// from a kubeconfig and the serving certificate every replica shares; queryscaler.ts wires it in.

import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ScaledObject } from '../api/types.js';
import { KubeApi } from '../controller/kube-api.js';
import type { QueryscalerMetrics } from '../observability/prometheus-metrics.js';
import { parseQuantity } from '../quantity.js';
import type { MetricRequest, MetricSource } from '../metric-cache/types.js';
import { MetricForwarder, peerRequestHandler, peerTrust } from './metric-forwarding.js';
import { ShardCoordinator, type LeaseTiming } from './shard-coordinator.js';

export interface ShardingOptions {
  /** Namespace of the Leases (queryscaler's own). */
  namespace: string;
  /** Unique per process: part of its member Lease's name. */
  identity: string;
  /** Where the other replicas reach this one's metrics API, e.g. https://10.1.2.3:6443. */
  peerAddress: string;
  shardCount: number;
  timing?: Partial<LeaseTiming>;
}

export interface ShardedReplica {
  coordinator: ShardCoordinator;
  /** Answers any metric request: from this replica's cache when it owns the object, else from the owner. */
  metricSource: MetricSource;
  /** The owner's side of forwarding, for the metrics API server to call before its own routes. */
  peerRequests: (req: IncomingMessage, res: ServerResponse) => boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The Lease client's own rate: a few writes a second at most, never queued behind the controller's. */
const LEASE_API_QPS = 20;
const LEASE_API_BURST = 40;

export function shardedReplica(options: {
  kubeConfig: KubeConfig;
  sharding: ShardingOptions;
  serving: { certPem: string; keyPem: string; caPem: string };
  /** This replica's own cache. */
  local: MetricSource;
  /** The ScaledObject as the controller's cache holds it. */
  scaledObject: (namespace: string, name: string) => ScaledObject | undefined;
  logger: Logger;
  /** Where the Lease requests are counted (queryscaler_kube_api_requests_total). */
  metrics?: QueryscalerMetrics;
}): ShardedReplica {
  const { sharding, logger } = options;
  const leaseApi = new KubeApi(options.kubeConfig, { qps: LEASE_API_QPS, burst: LEASE_API_BURST, ...(options.metrics && { metrics: options.metrics }) });
  const coordinator = new ShardCoordinator({
    api: leaseApi,
    namespace: sharding.namespace,
    identity: sharding.identity,
    peerAddress: sharding.peerAddress,
    shardCount: sharding.shardCount,
    ...(sharding.timing && { timing: sharding.timing }),
    logger: logger.child({ component: 'sharding' }),
    ...(options.metrics && { observer: options.metrics.sharding }),
  });
  const trust = peerTrust(options.serving);
  const forwarder = new MetricForwarder({
    identity: sharding.identity,
    ownerOf: (key) => coordinator.ownerOf(key),
    local: options.local,
    trust,
    lastPublished: (request) => publishedValue(options.scaledObject(request.namespace, request.scaledObject), request),
    logger: logger.child({ component: 'forwarding' }),
    ...(options.metrics && { observer: options.metrics.sharding }),
  });
  return {
    coordinator,
    metricSource: forwarder.serve,
    peerRequests: peerRequestHandler({ trust, local: options.local }),
    start: () => coordinator.start(),
    stop: async () => {
      await coordinator.stop();
      forwarder.close();
      leaseApi.close();
    },
  };
}

/**
 * The value the owner last published for this metric: status.value, which holds the first
 * trigger's current reading (and a word such as "failing" when there is none, which is not served).
 */
export function publishedValue(so: ScaledObject | undefined, request: MetricRequest): { value: number; timestamp: Date } | undefined {
  const status = so?.status;
  const first = status?.externalMetricNames?.[0];
  if (status?.value === undefined || first === undefined || first.toLowerCase() !== request.metricName.toLowerCase()) return undefined;
  let value: number;
  try {
    value = parseQuantity(status.value);
  } catch {
    return undefined;
  }
  const time = Date.parse(status.lastMetricTime ?? '');
  return { value, timestamp: Number.isNaN(time) ? new Date() : new Date(time) };
}
