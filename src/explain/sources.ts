// Where `queryscaler explain` reads a ScaledObject and what it points at: the cluster of a
// kubeconfig (through the controller's KubeApi and ScaleTargets, so a target resolves as it does
// for the controller), or manifest files (offline: no cluster at all). Both hand credentials to
// the controller's resolveTriggerCredentials; only where the objects come from differs.
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { KEDA_API_VERSION, type ScaledObject, type TriggerAuthentication } from '../api/types.js';
import {
  CredentialError,
  decodedSecretData,
  References,
  resolveTriggerCredentials,
  type ContainerSpec,
  type Lookup,
  type Reference,
} from '../controller/credentials.js';
import { hpaMinReplicas } from '../controller/scale-decision.js';
import { isForbidden, isNotFound, KubeApi, KubeApiError } from '../controller/kube-api.js';
import { ScaleTargets, ScaleTargetError, splitApiVersion } from '../controller/scale-target.js';
import type { ResolvedTriggerCredentials } from '../controller/scaler-set.js';
import { scalingSettings } from '../api/defaults.js';
import { EXIT_CODES, ExplainError, type ScaledObjectSource, type TargetWithContainers } from './explain.js';
import { plural } from './render.js';

const KEDA_PATH = `/apis/${KEDA_API_VERSION}`;

interface ObjectStore {
  secrets: Map<string, Record<string, string>>;
  configMaps: Map<string, Record<string, string>>;
  triggerAuthentications: Map<string, TriggerAuthentication>;
  clusterTriggerAuthentications: Map<string, TriggerAuthentication>;
}

function emptyStore(): ObjectStore {
  return { secrets: new Map(), configMaps: new Map(), triggerAuthentications: new Map(), clusterTriggerAuthentications: new Map() };
}

function storeLookup(store: ObjectStore, taNamespaces: (name: string) => string[]): Lookup {
  return {
    secret: (namespace, name) => store.secrets.get(`${namespace}/${name}`),
    configMap: (namespace, name) => store.configMaps.get(`${namespace}/${name}`),
    triggerAuthentication: (namespace, name) => store.triggerAuthentications.get(`${namespace}/${name}`),
    clusterTriggerAuthentication: (name) => store.clusterTriggerAuthentications.get(name),
    triggerAuthenticationNamespaces: taNamespaces,
  };
}

function credentialFailure(error: unknown, hint = ''): never {
  if (error instanceof CredentialError) throw new ExplainError(EXIT_CODES.invalid, `${error.message}${hint}`);
  throw error;
}

export interface ClusterSourceOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  clusterTriggerAuthenticationNamespace: string;
}

/** The ScaledObject and what it points at, read from the cluster with the kubeconfig's credentials. */
export function clusterSource(options: ClusterSourceOptions): ScaledObjectSource {
  const api = new KubeApi(options.kubeConfig);
  const targets = new ScaleTargets(api);
  const where = `the cluster of ${options.kubeConfig.getCurrentCluster()?.server ?? 'the kubeconfig'}`;
  const call = async <T>(what: string, read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      if (error instanceof ExplainError || error instanceof ScaleTargetError) throw error;
      if (isForbidden(error)) throw new ExplainError(EXIT_CODES.cluster, `reading ${what} was refused: ${error.message}; your kubeconfig's user needs get on it`);
      if (error instanceof KubeApiError) throw new ExplainError(EXIT_CODES.cluster, `reading ${what} failed: ${error.message}`);
      throw new ExplainError(EXIT_CODES.cluster, `cannot reach ${where} to read ${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const getOrUndefined = async <T>(what: string, path: string): Promise<T | undefined> =>
    call(what, async () => {
      try {
        return await api.request<T>('get', path);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });

  return {
    async scaledObject() {
      const { namespace, name } = options;
      const so = await getOrUndefined<ScaledObject>(`ScaledObject ${namespace}/${name}`, `${KEDA_PATH}/namespaces/${encodeURIComponent(namespace)}/scaledobjects/${encodeURIComponent(name)}`);
      if (so === undefined) {
        throw new ExplainError(EXIT_CODES.invalid, `ScaledObject ${namespace}/${name} not found in ${where}; kubectl get scaledobjects -n ${namespace} lists those there are`);
      }
      return so;
    },
    async target(so, needReadyPods) {
      const namespace = so.metadata.namespace ?? options.namespace;
      try {
        const target = await call('the scale target', () => targets.resolve(so.spec.scaleTargetRef, namespace));
        const scale = await call(`the /scale of ${target.kind} ${namespace}/${target.name}`, () => targets.getScale(target));
        const object = await call(`${target.kind} ${namespace}/${target.name}`, () => targets.describe(target));
        let readyPods: number | undefined;
        if (needReadyPods && scale.selector !== undefined) {
          const pods = await call(`the pods of ${target.kind} ${namespace}/${target.name}`, () =>
            api.request<{ items: Array<{ status?: { phase?: string; conditions?: Array<{ type: string; status: string }> } }> }>(
              'list',
              `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${encodeURIComponent(scale.selector ?? '')}`,
            ),
          );
          readyPods = pods.items.filter((p) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
        }
        return {
          kind: target.kind,
          namespace,
          name: target.name,
          specReplicas: scale.replicas,
          statusReplicas: scale.statusReplicas,
          ...(readyPods !== undefined && { readyPods }),
          assumptions: [],
          containers: object.containers,
        };
      } catch (error) {
        if (error instanceof ScaleTargetError) throw new ExplainError(EXIT_CODES.invalid, `ScaledObject ${namespace}/${so.metadata.name}: ${error.message}`);
        throw error;
      }
    },
    async credentials(so, target) {
      // The resolver reads from a Lookup that answers at once; each round fetches what the last one
      // looked for and did not have, until it succeeds or fails on an object that truly is not there.
      const store = emptyStore();
      const fetched = new Set<Reference>();
      const taNamespaces = new Map<string, string[]>();
      for (;;) {
        const references = new References();
        try {
          return resolveTriggerCredentials({
            so,
            target,
            containers: target.containers,
            lookup: storeLookup(store, (name) => taNamespaces.get(name) ?? []),
            clusterNamespace: options.clusterTriggerAuthenticationNamespace,
            references,
          });
        } catch (error) {
          const missing = [...references.refs].filter((ref) => !fetched.has(ref));
          if (!(error instanceof CredentialError) || missing.length === 0) credentialFailure(error);
          for (const ref of missing) {
            fetched.add(ref);
            await fetchReference(ref, store, taNamespaces, getOrUndefined, call, api);
          }
        }
      }
    },
    async hpaStatus(namespace, name) {
      const hpa = await getOrUndefined<{ status?: { currentReplicas?: number; desiredReplicas?: number } }>(
        `HorizontalPodAutoscaler ${namespace}/${name}`,
        `/apis/autoscaling/v2/namespaces/${encodeURIComponent(namespace)}/horizontalpodautoscalers/${encodeURIComponent(name)}`,
      );
      if (hpa === undefined) return undefined;
      return {
        ...(hpa.status?.currentReplicas !== undefined && { currentReplicas: hpa.status.currentReplicas }),
        ...(hpa.status?.desiredReplicas !== undefined && { desiredReplicas: hpa.status.desiredReplicas }),
      };
    },
    close: () => api.close(),
  };
}

async function fetchReference(
  ref: Reference,
  store: ObjectStore,
  taNamespaces: Map<string, string[]>,
  getOrUndefined: <T>(what: string, path: string) => Promise<T | undefined>,
  call: <T>(what: string, read: () => Promise<T>) => Promise<T>,
  api: KubeApi,
): Promise<void> {
  const [kind = '', first = '', second] = ref.split('/');
  const key = second === undefined ? first : `${first}/${second}`;
  const namespaced = (plural: string): string => `namespaces/${encodeURIComponent(first)}/${plural}/${encodeURIComponent(second ?? '')}`;
  switch (kind) {
    case 'Secret': {
      const secret = await getOrUndefined<{ data?: Record<string, string> }>(`Secret ${key}`, `/api/v1/${namespaced('secrets')}`);
      if (secret !== undefined) store.secrets.set(key, decodedSecretData(secret.data));
      return;
    }
    case 'ConfigMap': {
      const configMap = await getOrUndefined<{ data?: Record<string, string> }>(`ConfigMap ${key}`, `/api/v1/${namespaced('configmaps')}`);
      if (configMap !== undefined) store.configMaps.set(key, configMap.data ?? {});
      return;
    }
    case 'TriggerAuthentication': {
      const auth = await getOrUndefined<TriggerAuthentication>(`TriggerAuthentication ${key}`, `${KEDA_PATH}/${namespaced('triggerauthentications')}`);
      if (auth !== undefined) {
        store.triggerAuthentications.set(key, auth);
        return;
      }
      // For the controller's hint that one of this name lives in another namespace.
      const name = second ?? '';
      const others = await call(`TriggerAuthentications named ${name}`, () =>
        api.request<{ items: TriggerAuthentication[] }>('list', `${KEDA_PATH}/triggerauthentications?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`),
      ).catch(() => ({ items: [] as TriggerAuthentication[] }));
      taNamespaces.set(name, others.items.map((t) => t.metadata.namespace ?? '').sort());
      return;
    }
    case 'ClusterTriggerAuthentication': {
      const auth = await getOrUndefined<TriggerAuthentication>(`ClusterTriggerAuthentication ${key}`, `${KEDA_PATH}/clustertriggerauthentications/${encodeURIComponent(key)}`);
      if (auth !== undefined) store.clusterTriggerAuthentications.set(key, auth);
      return;
    }
  }
}

export interface ManifestFile {
  path: string;
  text: string;
}

export interface FileSourceOptions {
  files: readonly ManifestFile[];
  /** -n: the namespace of objects that name none, and where to look for the ScaledObject. */
  namespace?: string;
  /** so/<name>, when the files hold more than one ScaledObject. */
  name?: string;
  clusterTriggerAuthenticationNamespace: string;
}

interface ManifestObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: { replicas?: number; template?: { spec?: { containers?: ContainerSpec[] } } };
}

/** The ScaledObject and its Secrets, ConfigMaps, TriggerAuthentications and target from manifest files: no cluster. */
export function fileSource(options: FileSourceOptions): ScaledObjectSource {
  const objects: ManifestObject[] = [];
  for (const file of options.files) {
    for (const document of parseAllDocuments(file.text)) {
      if (document.errors.length > 0) throw new ExplainError(EXIT_CODES.usage, `${file.path} is not valid YAML: ${document.errors[0]?.message ?? ''}`);
      const object = document.toJS() as unknown;
      if (object === null || object === undefined) continue;
      if (typeof object !== 'object' || Array.isArray(object)) throw new ExplainError(EXIT_CODES.usage, `${file.path} holds a YAML document that is not a Kubernetes object`);
      objects.push(object as ManifestObject);
    }
  }
  const namespaceOf = (o: ManifestObject, fallback: string): string => o.metadata?.namespace ?? fallback;
  const scaledObjects = objects.filter((o) => o.kind === 'ScaledObject');
  const where = options.files.map((f) => f.path).join(', ');
  const holds = options.files.length === 1 ? 'holds' : 'hold';
  const chosen = (): ManifestObject => {
    const candidates = scaledObjects.filter(
      (o) => (options.name === undefined || o.metadata?.name === options.name) && (options.namespace === undefined || namespaceOf(o, options.namespace) === options.namespace),
    );
    if (candidates.length === 1 && candidates[0] !== undefined) return candidates[0];
    if (candidates.length === 0) {
      const asked = options.name === undefined ? 'no ScaledObject' : `no ScaledObject ${options.name}${options.namespace === undefined ? '' : ` in namespace ${options.namespace}`}`;
      const found = scaledObjects.map((o) => o.metadata?.name ?? '(unnamed)').join(', ');
      throw new ExplainError(EXIT_CODES.invalid, `${where} ${holds} ${asked}${found === '' ? '' : `, only ScaledObject ${found}`}`);
    }
    throw new ExplainError(EXIT_CODES.usage, `${where} ${holds} ${candidates.length} ScaledObjects (${candidates.map((o) => o.metadata?.name ?? '').join(', ')}); name one: so/<name>`);
  };
  const so = structuredClone(chosen()) as unknown as ScaledObject;
  const namespace = so.metadata?.namespace ?? options.namespace ?? 'default';
  if (so.metadata !== undefined) so.metadata.namespace = namespace;

  const store = emptyStore();
  for (const o of objects) {
    const key = `${namespaceOf(o, namespace)}/${o.metadata?.name ?? ''}`;
    if (o.kind === 'Secret') store.secrets.set(key, { ...decodedSecretData(o.data), ...o.stringData });
    if (o.kind === 'ConfigMap') store.configMaps.set(key, o.data ?? {});
    if (o.kind === 'TriggerAuthentication') store.triggerAuthentications.set(key, o as unknown as TriggerAuthentication);
    if (o.kind === 'ClusterTriggerAuthentication') store.clusterTriggerAuthentications.set(o.metadata?.name ?? '', o as unknown as TriggerAuthentication);
  }
  const taNamespaces = (name: string): string[] =>
    [...store.triggerAuthentications.keys()].filter((key) => key.endsWith(`/${name}`)).map((key) => key.slice(0, key.indexOf('/'))).sort();
  let targetInFiles = false;

  return {
    scaledObject: () => Promise.resolve(so),
    target(scaledObject) {
      const ref = scaledObject.spec.scaleTargetRef;
      const kind = ref.kind ?? 'Deployment';
      const { group } = splitApiVersion(ref.apiVersion ?? 'apps/v1');
      const found = objects.find(
        (o) => o.kind === kind && o.metadata?.name === ref.name && namespaceOf(o, namespace) === namespace && splitApiVersion(o.apiVersion ?? '').group === group,
      );
      targetInFiles = found !== undefined;
      const assumed = hpaMinReplicas(scalingSettings(scaledObject.spec).minReplicaCount);
      const replicas = found?.spec?.replicas ?? (found === undefined ? assumed : 1);
      return Promise.resolve({
        kind,
        namespace,
        name: ref.name,
        specReplicas: replicas,
        statusReplicas: replicas,
        readyPods: replicas,
        assumptions:
          found === undefined
            ? [`${kind} ${namespace}/${ref.name} is not in ${where}: assumed at ${assumed} replicas; give --current-replicas`]
            : [`${plural(replicas, 'pod')}, running and ready, as the ${kind}'s spec.replicas in the files says`],
        containers: found?.spec?.template?.spec?.containers ?? [],
      } satisfies TargetWithContainers);
    },
    credentials(scaledObject, target) {
      try {
        return Promise.resolve(
          resolveTriggerCredentials({
            so: scaledObject,
            target,
            containers: target.containers,
            lookup: storeLookup(store, taNamespaces),
            clusterNamespace: options.clusterTriggerAuthenticationNamespace,
            references: new References(),
          }),
        );
      } catch (error) {
        credentialFailure(error, targetInFiles ? '' : ` (offline, the target's containers are read from its manifest: add it with --file)`);
      }
    },
    close: () => undefined,
  };
}

/**
 * --set k=v: parameter k of every trigger is v. Where the metadata sets k, it is replaced there;
 * otherwise k is given as an authentication parameter, which a scaler reads before `kFromEnv`.
 */
export function withParameters(source: ScaledObjectSource, parameters: Readonly<Record<string, string>>): ScaledObjectSource {
  const entries = Object.entries(parameters);
  if (entries.length === 0) return source;
  let inMetadata: Array<Set<string>> = [];
  return {
    ...source,
    async scaledObject() {
      const so = structuredClone(await source.scaledObject());
      inMetadata = (so.spec?.triggers ?? []).map((trigger) => {
        const replaced = new Set<string>();
        for (const [name, value] of entries) {
          if (trigger.metadata?.[name] === undefined) continue;
          trigger.metadata[name] = value;
          replaced.add(name);
        }
        return replaced;
      });
      return so;
    },
    async credentials(so, target): Promise<ResolvedTriggerCredentials[]> {
      const resolved = await source.credentials(so, target);
      return resolved.map((c, i) => ({
        ...c,
        authParams: { ...c.authParams, ...Object.fromEntries(entries.filter(([name]) => !inMetadata[i]?.has(name))) },
      }));
    },
  };
}
