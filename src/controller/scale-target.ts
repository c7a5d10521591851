// Finds what a scaleTargetRef points at through API discovery (any kind that serves a /scale
// subresource: Deployment, StatefulSet, a CRD declaring one) and reads and writes its replicas
// through /scale only. Discovery answers are cached per group/version for a while. The last /scale
// seen of each target is remembered, so the poll loop (every second, for hundreds of ScaledObjects)
// can decide on it without a GET per poll; anything it would write is decided on a fresh read.
import type { ScaleTargetRef } from '../api/types.js';
import type { ContainerSpec } from './credentials.js';
import { isNotFound, type KubeApi } from './kube-api.js';

export interface ResolvedTarget {
  group: string;
  version: string;
  kind: string;
  /** Plural resource name, e.g. `statefulsets`. */
  resource: string;
  namespace: string;
  name: string;
}

export interface Scale {
  /** spec.replicas of the target. */
  replicas: number;
  /** status.replicas of the target. */
  statusReplicas: number;
  selector?: string;
}

/** The target cannot be used; `field` is the part of scaleTargetRef to fix. */
export class ScaleTargetError extends Error {
  constructor(
    readonly field: string,
    readonly reason: 'ScaleTargetNotFound' | 'ScaleTargetNotScalable' | 'ScaleTargetKindUnknown',
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ScaleTargetError';
  }
}

export interface TargetObject {
  labels: Record<string, string>;
  podTemplateLabels: Record<string, string>;
  /** spec.template.spec.containers; empty for a kind without a pod template. */
  containers: ContainerSpec[];
  /** A StatefulSet's spec.serviceName. */
  serviceName?: string;
}

interface RawTarget {
  metadata?: { labels?: Record<string, string> };
  spec?: { serviceName?: string; template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: ContainerSpec[] } } };
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const DISCOVERY_TTL_MS = 5 * 60_000;

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function resourcePath(target: Pick<ResolvedTarget, 'group' | 'version' | 'resource' | 'namespace' | 'name'>): string {
  const prefix = target.group === '' ? `/api/${target.version}` : `/apis/${target.group}/${target.version}`;
  return `${prefix}/namespaces/${encodeURIComponent(target.namespace)}/${target.resource}/${encodeURIComponent(target.name)}`;
}

export class ScaleTargets {
  private readonly discovery = new Map<string, { at: number; resources: ApiResource[] | undefined }>();
  /** The newest /scale read or written per target path, and when (performance.now()). */
  private readonly seen = new Map<string, { at: number; scale: Scale }>();

  constructor(private readonly api: KubeApi) {}

  /** Maps the reference to a resource with a /scale subresource, or throws ScaleTargetError. */
  async resolve(ref: ScaleTargetRef, namespace: string, signal?: AbortSignal): Promise<ResolvedTarget> {
    const apiVersion = ref.apiVersion ?? 'apps/v1';
    const kind = ref.kind ?? 'Deployment';
    const { group, version } = splitApiVersion(apiVersion);
    const resources = await this.resources(group, version, signal);
    if (!resources) {
      throw new ScaleTargetError(
        'scaleTargetRef.apiVersion',
        'ScaleTargetKindUnknown',
        `the API server serves no ${apiVersion}. Check the apiVersion of ${kind} ${namespace}/${ref.name} (e.g. apps/v1 for a StatefulSet).`,
      );
    }
    const main = resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!main) {
      // The group may have gained the kind since we cached it (a CRD installed): ask again next time.
      this.discovery.delete(`${group}/${version}`);
      const kinds = [...new Set(resources.filter((r) => !r.name.includes('/')).map((r) => r.kind))].sort();
      throw new ScaleTargetError(
        'scaleTargetRef.kind',
        'ScaleTargetKindUnknown',
        `${apiVersion} has no kind ${kind}; its kinds are: ${kinds.join(', ')}. Fix kind or apiVersion.`,
      );
    }
    if (!resources.some((r) => r.name === `${main.name}/scale`)) {
      throw new ScaleTargetError(
        'scaleTargetRef.kind',
        'ScaleTargetNotScalable',
        `${kind} (${apiVersion}) has no /scale subresource, so it cannot be scaled. ` +
          'Point scaleTargetRef at a Deployment, a StatefulSet or a custom resource that declares a scale subresource.',
      );
    }
    return { group, version, kind, resource: main.name, namespace, name: ref.name };
  }

  /**
   * The target's /scale. With `maxAgeMs`, the last one read or written within that time is returned
   * without a request: what we wrote ourselves is known, and the HPA never moves a target to or from 0,
   * which is all the poll decides on.
   */
  async getScale(target: ResolvedTarget, signal?: AbortSignal, maxAgeMs = 0): Promise<Scale> {
    const path = resourcePath(target);
    const known = this.seen.get(path);
    if (known !== undefined && performance.now() - known.at < maxAgeMs) return known.scale;
    try {
      const scale = await this.api.request<{ spec?: { replicas?: number }; status?: { replicas?: number; selector?: string } }>(
        'get',
        `${resourcePath(target)}/scale`,
        { signal },
      );
      const read: Scale = {
        replicas: scale.spec?.replicas ?? 0,
        statusReplicas: scale.status?.replicas ?? 0,
        ...(scale.status?.selector !== undefined && { selector: scale.status.selector }),
      };
      this.seen.set(path, { at: performance.now(), scale: read });
      return read;
    } catch (error) {
      if (isNotFound(error)) this.seen.delete(path);
      throw notFoundAsTargetError(error, target);
    }
  }

  /** Drops what is remembered of the target (its ScaledObject is gone). */
  forget(target: ResolvedTarget): void {
    this.seen.delete(resourcePath(target));
  }

  async setReplicas(target: ResolvedTarget, replicas: number, signal?: AbortSignal): Promise<void> {
    try {
      const path = resourcePath(target);
      const written = await this.api.request<{ spec?: { replicas?: number }; status?: { replicas?: number; selector?: string } }>(
        'patch',
        `${path}/scale`,
        { body: { spec: { replicas } }, patchType: 'merge', signal },
      );
      this.seen.set(path, {
        at: performance.now(),
        scale: {
          replicas: written?.spec?.replicas ?? replicas,
          statusReplicas: written?.status?.replicas ?? 0,
          ...(written?.status?.selector !== undefined && { selector: written.status.selector }),
        },
      });
    } catch (error) {
      throw notFoundAsTargetError(error, target);
    }
  }

  /** What the target's object tells beyond /scale: its labels and its pod template's containers. */
  async describe(target: ResolvedTarget, signal?: AbortSignal): Promise<TargetObject> {
    try {
      const object = await this.api.request<RawTarget>('get', resourcePath(target), { signal });
      return {
        labels: object.metadata?.labels ?? {},
        podTemplateLabels: object.spec?.template?.metadata?.labels ?? {},
        containers: object.spec?.template?.spec?.containers ?? [],
        ...(object.spec?.serviceName !== undefined && { serviceName: object.spec.serviceName }),
      };
    } catch (error) {
      throw notFoundAsTargetError(error, target);
    }
  }

  private async resources(group: string, version: string, signal?: AbortSignal): Promise<ApiResource[] | undefined> {
    const key = `${group}/${version}`;
    const cached = this.discovery.get(key);
    // A miss is cached briefly too, but re-checked sooner: a CRD may be installed any minute.
    if (cached && performance.now() - cached.at < (cached.resources ? DISCOVERY_TTL_MS : 10_000)) return cached.resources;
    const path = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    let resources: ApiResource[] | undefined;
    try {
      resources = (await this.api.request<{ resources: ApiResource[] }>('get', path, { signal })).resources;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    this.discovery.set(key, { at: performance.now(), resources });
    return resources;
  }
}

function notFoundAsTargetError(error: unknown, target: ResolvedTarget): unknown {
  if (!isNotFound(error)) return error;
  return new ScaleTargetError(
    'scaleTargetRef.name',
    'ScaleTargetNotFound',
    `${target.kind} ${target.namespace}/${target.name} does not exist. Create it or fix scaleTargetRef.name.`,
  );
}
