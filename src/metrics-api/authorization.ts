// May this user do this? Asked of kube-apiserver with a SubjectAccessReview, as every aggregated API
// server does (delegated authorization), with the same attributes kube-apiserver derives from the
// path, so one RBAC rule covers both hops. Answers are cached briefly: the HPA asks every 15 s per
// metric and the aggregator probes discovery constantly.

import type { V1SubjectAccessReviewSpec, V1SubjectAccessReviewStatus } from '@kubernetes/client-node';
import { safeDecode, type UserInfo } from './authentication.js';
import { EXTERNAL_METRICS_GROUP, EXTERNAL_METRICS_VERSION } from './discovery.js';

export type RequestAttributes =
  | { kind: 'resource'; verb: string; group: string; version: string; namespace?: string; resource: string; name?: string }
  | { kind: 'nonResource'; verb: string; path: string };

export interface AccessDecision {
  allowed: boolean;
  /** The authorizer's reason, if it gave one. */
  reason: string;
}

const GROUP_VERSION_PREFIX = `/apis/${EXTERNAL_METRICS_GROUP}/${EXTERNAL_METRICS_VERSION}/`;

/**
 * apiserver's RequestInfoFactory for our group: `/namespaces/<ns>/<metric>` is a resource request
 * for resource <metric> with no name, so a GET is verb "list" (not "get"); anything else is a
 * non-resource request whose verb is the lower-cased HTTP method.
 */
export function requestAttributes(method: string, path: string, query: Readonly<Record<string, unknown>> = {}): RequestAttributes {
  const lowerMethod = method.toLowerCase();
  if (!path.startsWith(GROUP_VERSION_PREFIX)) {
    return { kind: 'nonResource', verb: lowerMethod, path };
  }
  const parts = path.slice(GROUP_VERSION_PREFIX.length).split('/').filter((p) => p !== '').map(safeDecode);
  let namespace: string | undefined;
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    namespace = parts[1];
    parts.splice(0, 2);
  }
  const [resource = '', name] = parts;
  const base = { kind: 'resource' as const, group: EXTERNAL_METRICS_GROUP, version: EXTERNAL_METRICS_VERSION, resource };
  return {
    ...base,
    verb: resourceVerb(lowerMethod, name !== undefined, query['watch'] === 'true' || query['watch'] === '1'),
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
  };
}

function resourceVerb(method: string, hasName: boolean, watch: boolean): string {
  switch (method) {
    case 'get':
    case 'head':
      if (watch) return 'watch';
      return hasName ? 'get' : 'list';
    case 'post':
      return 'create';
    case 'put':
      return 'update';
    case 'patch':
      return 'patch';
    case 'delete':
      return hasName ? 'delete' : 'deletecollection';
    default:
      return method;
  }
}

/** The 403 message, worded as kube-apiserver words its own. */
export function forbiddenMessage(user: UserInfo, attributes: RequestAttributes, reason: string): string {
  const what =
    attributes.kind === 'resource'
      ? `cannot ${attributes.verb} resource "${attributes.resource}" in API group "${attributes.group}"${attributes.namespace === undefined ? ' at the cluster scope' : ` in the namespace "${attributes.namespace}"`}`
      : `cannot ${attributes.verb} path "${attributes.path}"`;
  return `user "${user.username}" ${what}${reason === '' ? '' : `: ${reason}`}`;
}

export function subjectAccessReviewSpec(user: UserInfo, attributes: RequestAttributes): V1SubjectAccessReviewSpec {
  const spec: V1SubjectAccessReviewSpec = { user: user.username, groups: user.groups, extra: user.extra };
  if (attributes.kind === 'nonResource') {
    spec.nonResourceAttributes = { path: attributes.path, verb: attributes.verb };
  } else {
    spec.resourceAttributes = {
      verb: attributes.verb,
      group: attributes.group,
      version: attributes.version,
      resource: attributes.resource,
      ...(attributes.namespace === undefined ? {} : { namespace: attributes.namespace }),
      ...(attributes.name === undefined ? {} : { name: attributes.name }),
    };
  }
  return spec;
}

export type ReviewFunction = (spec: V1SubjectAccessReviewSpec) => Promise<V1SubjectAccessReviewStatus | undefined>;

export interface AccessCacheOptions {
  /** How long an answer (allow or deny) is reused. Default 10 s. */
  ttlMs?: number;
  /** Bound on remembered answers; the oldest go first. Default 1024. */
  maxEntries?: number;
  now?: () => number;
}

interface CachedDecision {
  expiresAt: number;
  decision: Promise<AccessDecision>;
}

/** SubjectAccessReviews with a short-lived cache; concurrent identical questions share one review. */
export class CachedAuthorizer {
  private readonly cache = new Map<string, CachedDecision>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly review: ReviewFunction,
    options: AccessCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 1024;
    this.now = options.now ?? Date.now;
  }

  /** Rejects when the review itself fails (API server unreachable, RBAC missing); such failures are not cached. */
  decide(user: UserInfo, attributes: RequestAttributes): Promise<AccessDecision> {
    const key = JSON.stringify([user.username, [...user.groups].sort(), sortedEntries(user.extra), attributes]);
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.expiresAt > now) return hit.decision;

    const decision = this.review(subjectAccessReviewSpec(user, attributes)).then((status) => ({
      allowed: status?.allowed === true && status.denied !== true,
      reason: status?.reason ?? status?.evaluationError ?? '',
    }));
    this.remember(key, { expiresAt: now + this.ttlMs, decision });
    decision.catch(() => {
      if (this.cache.get(key)?.decision === decision) this.cache.delete(key);
    });
    return decision;
  }

  get size(): number {
    return this.cache.size;
  }

  private remember(key: string, entry: CachedDecision): void {
    this.cache.delete(key);
    if (this.cache.size >= this.maxEntries) {
      const now = this.now();
      for (const [k, v] of this.cache) if (v.expiresAt <= now) this.cache.delete(k);
      while (this.cache.size >= this.maxEntries) {
        const oldest = this.cache.keys().next();
        if (oldest.done === true) break;
        this.cache.delete(oldest.value);
      }
    }
    this.cache.set(key, entry);
  }
}

function sortedEntries(record: Readonly<Record<string, readonly string[]>>): Array<[string, readonly string[]]> {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
