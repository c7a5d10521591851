// The objects of the many-ScaledObjects scenario, shared by bench/scale-objects.ts and
// test/integration/scale.test.ts: one Secret and TriggerAuthentication, and per index a StatefulSet
// `app-<i>` with `originalReplicas` replicas and a ScaledObject `so-<i>` shaped like the seed's
// keda.yaml (pollingInterval 1, cooldown 10, min 1, max 10, restoreToOriginalReplicaCount) but
// scaling down without a stabilization window, so the HPA moves the target within one sync.
// Pure: options in, objects out.

import type { KubernetesObject } from '@kubernetes/client-node';
import { SEED_QUERY } from '../../test/support/seed-scenario.js';

export const SCALE_SECRET = 'scale-db';
export const SCALE_TRIGGER_AUTH = 'scale-db-auth';

export interface ScaleDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface ScaleFixtureOptions {
  namespace: string;
  /** `seed`: every ScaledObject runs the seed query; `distinct`: each its own (same value, different text). */
  mode: 'seed' | 'distinct';
  originalReplicas: number;
  pollingIntervalSeconds?: number;
}

export function statefulSetName(index: number): string {
  return `app-${index}`;
}

export function scaledObjectName(index: number): string {
  return `so-${index}`;
}

/** The seed query, or for `distinct` the seed query made textually unique (same value, its own statement). */
export function scaleQuery(mode: ScaleFixtureOptions['mode'], index: number): string {
  return mode === 'seed' ? SEED_QUERY : `${SEED_QUERY} AND ${index} = ${index}`;
}

export function credentialObjects(namespace: string, db: ScaleDatabase): KubernetesObject[] {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: SCALE_SECRET, namespace },
    stringData: { host: db.host, port: String(db.port), db: 'testdb', user: db.user, password: db.password },
  };
  const auth = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: SCALE_TRIGGER_AUTH, namespace },
    spec: {
      secretTargetRef: [
        { parameter: 'host', name: SCALE_SECRET, key: 'host' },
        { parameter: 'port', name: SCALE_SECRET, key: 'port' },
        { parameter: 'dbName', name: SCALE_SECRET, key: 'db' },
        { parameter: 'username', name: SCALE_SECRET, key: 'user' },
        { parameter: 'password', name: SCALE_SECRET, key: 'password' },
      ],
    },
  };
  return [secret, auth];
}

/** A StatefulSet with a pod template that is never run (no kubelet): only its replica count matters. */
export function statefulSetObject(namespace: string, index: number, replicas: number): KubernetesObject {
  const labels = { app: statefulSetName(index) };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: statefulSetName(index), namespace },
    spec: {
      replicas,
      serviceName: statefulSetName(index),
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', 'infinity'] }] },
      },
    },
  } as KubernetesObject;
}

export function scaledObjectObject(options: ScaleFixtureOptions, index: number): KubernetesObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: scaledObjectName(index), namespace: options.namespace },
    spec: {
      pollingInterval: options.pollingIntervalSeconds ?? 1,
      cooldownPeriod: 10,
      minReplicaCount: 1,
      maxReplicaCount: 10,
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: statefulSetName(index) },
      advanced: {
        restoreToOriginalReplicaCount: true,
        horizontalPodAutoscalerConfig: {
          behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } },
        },
      },
      triggers: [
        {
          type: 'mysql',
          metadata: { queryValue: '3', query: scaleQuery(options.mode, index) },
          authenticationRef: { name: SCALE_TRIGGER_AUTH },
        },
      ],
    },
  } as KubernetesObject;
}

/** Runs `work` over `items` with at most `concurrency` at a time; rejects with the first failure. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  });
  await Promise.all(lanes);
}
