// The coordination.k8s.io/v1 Lease objects replicas coordinate through: one member Lease per
// replica (renewed; says where its peers reach it) and one Lease per shard (names its holder).
// Names, labels and bodies only; the coordinator does the I/O.

export const LEASE_ROLE_LABEL = 'queryscaler.dev/lease';
export const PEER_ADDRESS_ANNOTATION = 'queryscaler.dev/peer-address';
export const SHARD_COUNT_ANNOTATION = 'queryscaler.dev/shard-count';

export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** A replica's identity becomes part of a Lease name, so it must be a DNS subdomain itself. */
const IDENTITY_PATTERN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const MAX_IDENTITY_LENGTH = 200;

export function identityProblem(identity: string): string | undefined {
  if (identity.length > MAX_IDENTITY_LENGTH) return `is ${identity.length} characters long; at most ${MAX_IDENTITY_LENGTH} fit in a Lease name`;
  if (!IDENTITY_PATTERN.test(identity)) return 'must be lower-case letters, digits, "-" and ".", starting and ending with a letter or digit (it becomes part of a Lease name)';
  return undefined;
}

export function leasesPath(namespace: string): string {
  return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
}

export function memberLeaseName(identity: string): string {
  return `queryscaler-member-${identity}`;
}

export function shardLeaseName(shard: number): string {
  return `queryscaler-shard-${shard}`;
}

/** The shard a shard Lease's name stands for, or undefined for any other name. */
export function shardOfLeaseName(name: string): number | undefined {
  const match = /^queryscaler-shard-(\d+)$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function memberLease(input: {
  namespace: string;
  identity: string;
  peerAddress: string;
  shardCount: number;
  leaseDurationSeconds: number;
  now: Date;
  resourceVersion?: string;
  acquireTime?: string;
}): Lease {
  const now = microTime(input.now);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: memberLeaseName(input.identity),
      namespace: input.namespace,
      ...(input.resourceVersion !== undefined && { resourceVersion: input.resourceVersion }),
      labels: { 'app.kubernetes.io/name': 'queryscaler', [LEASE_ROLE_LABEL]: 'member' },
      annotations: { [PEER_ADDRESS_ANNOTATION]: input.peerAddress, [SHARD_COUNT_ANNOTATION]: String(input.shardCount) },
    },
    spec: {
      holderIdentity: input.identity,
      leaseDurationSeconds: input.leaseDurationSeconds,
      acquireTime: input.acquireTime ?? now,
      renewTime: now,
    },
  };
}

/** A shard Lease naming `holder` ("" frees it), as a swap of `previous` when there is one. */
export function shardLease(input: {
  namespace: string;
  shard: number;
  holder: string;
  leaseDurationSeconds: number;
  now: Date;
  previous?: Lease;
}): Lease {
  const now = microTime(input.now);
  const previousHolder = input.previous?.spec?.holderIdentity ?? '';
  const transitions = input.previous?.spec?.leaseTransitions ?? 0;
  const taken = input.holder !== '' && input.holder !== previousHolder;
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: shardLeaseName(input.shard),
      namespace: input.namespace,
      ...(input.previous?.metadata.resourceVersion !== undefined && { resourceVersion: input.previous.metadata.resourceVersion }),
      labels: { 'app.kubernetes.io/name': 'queryscaler', [LEASE_ROLE_LABEL]: 'shard' },
    },
    spec: {
      holderIdentity: input.holder,
      leaseDurationSeconds: input.leaseDurationSeconds,
      ...(input.holder !== '' && { acquireTime: input.holder === previousHolder ? (input.previous?.spec?.acquireTime ?? now) : now }),
      renewTime: now,
      leaseTransitions: taken ? transitions + 1 : transitions,
    },
  };
}
