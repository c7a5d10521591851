// Turns a trigger's authenticationRef and the target's container environment into the plain
// parameters a scaler takes, as KEDA's resolver does. Pure: Secrets, ConfigMaps and
// TriggerAuthentications come through a Lookup, backed by the informer caches in the controller and
// by objects read once (or from files) in `queryscaler explain`, which so resolves exactly as the
// controller does. Every failure names the field to fix and the object it looked at; no message
// ever carries a value it read.
import type { AuthenticationRef, ScaledObject, ScaleTrigger, TriggerAuthentication } from '../api/types.js';
import type { ResolvedTriggerCredentials } from './scaler-set.js';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface EnvFromSource {
  prefix?: string;
  secretRef?: { name: string; optional?: boolean };
  configMapRef?: { name: string; optional?: boolean };
}

export interface ContainerSpec {
  name: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
}

/** The objects credentials are read from, already decoded (Secret data is base64 in the API). */
export interface Lookup {
  secret(namespace: string, name: string): Readonly<Record<string, string>> | undefined;
  configMap(namespace: string, name: string): Readonly<Record<string, string>> | undefined;
  triggerAuthentication(namespace: string, name: string): TriggerAuthentication | undefined;
  clusterTriggerAuthentication(name: string): TriggerAuthentication | undefined;
  /** Namespaces holding a TriggerAuthentication of this name, to point at a wrong-namespace reference. */
  triggerAuthenticationNamespaces(name: string): string[];
}

/** A credential cannot be resolved; `field` is where the user fixes it. */
export class CredentialError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'CredentialError';
  }
}

export interface TargetDescription {
  kind: string;
  namespace: string;
  name: string;
}

/** Every object a ScaledObject's credentials were read from, so a change to one re-queues it. */
export type Reference =
  | `Secret/${string}/${string}`
  | `ConfigMap/${string}/${string}`
  | `TriggerAuthentication/${string}/${string}`
  | `ClusterTriggerAuthentication/${string}`;

export class References {
  readonly refs = new Set<Reference>();
  add(ref: Reference): void {
    this.refs.add(ref);
  }
}

/**
 * The container whose environment `*FromEnv` parameters read: envSourceContainerName, or the first
 * container. A name that matches nothing is an error listing the names that would.
 */
export function selectContainer(target: TargetDescription, containers: readonly ContainerSpec[], envSourceContainerName?: string): ContainerSpec {
  const names = containers.map((c) => c.name);
  if (envSourceContainerName === undefined) {
    const first = containers[0];
    if (!first) {
      throw new CredentialError(
        'scaleTargetRef',
        `${target.kind} ${target.namespace}/${target.name} has no containers in its pod template, so there is no environment to read *FromEnv parameters from.`,
      );
    }
    return first;
  }
  const found = containers.find((c) => c.name === envSourceContainerName);
  if (!found) {
    throw new CredentialError(
      'scaleTargetRef.envSourceContainerName',
      `${target.kind} ${target.namespace}/${target.name} has no container named "${envSourceContainerName}"; ` +
        `its containers are: ${names.length > 0 ? names.join(', ') : '(none)'}. ` +
        'Set envSourceContainerName to one of them (or leave it out to use the first).',
    );
  }
  return found;
}

/**
 * A container's environment as the kubelet would build it from `envFrom` then `env` (later wins):
 * literal values, and values from Secrets and ConfigMaps. Entries the controller cannot know
 * (fieldRef, resourceFieldRef) are left out.
 */
export function containerEnv(
  container: ContainerSpec,
  target: TargetDescription,
  lookup: Lookup,
  references = new References(),
): Record<string, string> {
  const env: Record<string, string> = {};
  const where = `${target.kind} ${target.namespace}/${target.name} container "${container.name}"`;
  for (const [i, source] of (container.envFrom ?? []).entries()) {
    const kind = source.secretRef ? 'Secret' : source.configMapRef ? 'ConfigMap' : undefined;
    const ref = source.secretRef ?? source.configMapRef;
    if (!kind || !ref) continue;
    references.add(`${kind}/${target.namespace}/${ref.name}`);
    const data = kind === 'Secret' ? lookup.secret(target.namespace, ref.name) : lookup.configMap(target.namespace, ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new CredentialError(
        'scaleTargetRef',
        `${where}: envFrom[${i}] names ${kind} ${target.namespace}/${ref.name}, which does not exist. Create it or fix the name.`,
      );
    }
    for (const [key, value] of Object.entries(data)) env[`${source.prefix ?? ''}${key}`] = value;
  }
  for (const [i, variable] of (container.env ?? []).entries()) {
    if (variable.value !== undefined) {
      env[variable.name] = variable.value;
      continue;
    }
    const secretRef = variable.valueFrom?.secretKeyRef;
    const configMapRef = variable.valueFrom?.configMapKeyRef;
    const kind = secretRef ? 'Secret' : configMapRef ? 'ConfigMap' : undefined;
    const ref = secretRef ?? configMapRef;
    if (!kind || !ref) {
      // A variable with neither value nor a Secret/ConfigMap source is empty to the kubelet too.
      if (!variable.valueFrom) env[variable.name] = '';
      continue;
    }
    references.add(`${kind}/${target.namespace}/${ref.name}`);
    const data = kind === 'Secret' ? lookup.secret(target.namespace, ref.name) : lookup.configMap(target.namespace, ref.name);
    const value = data?.[ref.key];
    if (value === undefined) {
      if (ref.optional) continue;
      throw new CredentialError(
        'scaleTargetRef',
        data
          ? `${where}: env[${i}] (${variable.name}) reads key "${ref.key}" of ${kind} ${target.namespace}/${ref.name}, which has no such key; its keys are: ${keyList(data)}.`
          : `${where}: env[${i}] (${variable.name}) reads ${kind} ${target.namespace}/${ref.name}, which does not exist. Create it or fix the name.`,
      );
    }
    env[variable.name] = value;
  }
  return env;
}

/** Whether this trigger reads the container environment (any `*FromEnv` metadata key). */
export function readsContainerEnv(trigger: ScaleTrigger): boolean {
  return Object.keys(trigger.metadata ?? {}).some((key) => key.endsWith('FromEnv'));
}

export interface AuthContext {
  /** The ScaledObject's namespace. */
  namespace: string;
  /** Where ClusterTriggerAuthentications read their Secrets and ConfigMaps. */
  clusterNamespace: string;
  triggerIndex: number;
  lookup: Lookup;
  /** The environment of a container of the target, for TriggerAuthentication `env` entries. */
  envOf: (containerName: string | undefined) => Readonly<Record<string, string>>;
  references?: References;
}

/** The (Cluster)TriggerAuthentication a trigger names, resolved into parameter -> value. */
export function resolveAuthParams(ref: AuthenticationRef | undefined, context: AuthContext): Record<string, string> {
  if (!ref) return {};
  const { lookup, namespace, triggerIndex } = context;
  const references = context.references ?? new References();
  const field = `triggers[${triggerIndex}].authenticationRef`;
  const cluster = ref.kind === 'ClusterTriggerAuthentication';
  let auth: TriggerAuthentication | undefined;
  if (cluster) {
    references.add(`ClusterTriggerAuthentication/${ref.name}`);
    auth = lookup.clusterTriggerAuthentication(ref.name);
    if (!auth) {
      throw new CredentialError(`${field}.name`, `ClusterTriggerAuthentication "${ref.name}" not found. Create it or fix the name.`);
    }
  } else {
    references.add(`TriggerAuthentication/${namespace}/${ref.name}`);
    auth = lookup.triggerAuthentication(namespace, ref.name);
    if (!auth) {
      const elsewhere = lookup.triggerAuthenticationNamespaces(ref.name).filter((ns) => ns !== namespace);
      throw new CredentialError(
        `${field}.name`,
        `TriggerAuthentication "${ref.name}" not found in namespace ${namespace}` +
          (elsewhere.length > 0 ? ` (one exists in namespace ${elsewhere.join(', ')})` : '') +
          '. A TriggerAuthentication must be in the same namespace as the ScaledObject; ' +
          'to share one across namespaces use kind: ClusterTriggerAuthentication.',
      );
    }
  }
  const sourceNamespace = cluster ? context.clusterNamespace : namespace;
  const authName = `${cluster ? 'ClusterTriggerAuthentication' : 'TriggerAuthentication'} ${cluster ? '' : `${namespace}/`}${ref.name}`;
  const params: Record<string, string> = {};

  for (const [i, entry] of (auth.spec.secretTargetRef ?? []).entries()) {
    references.add(`Secret/${sourceNamespace}/${entry.name}`);
    params[entry.parameter] = keyOf('Secret', lookup.secret(sourceNamespace, entry.name), sourceNamespace, entry, `${authName} spec.secretTargetRef[${i}]`);
  }
  for (const [i, entry] of (auth.spec.configMapTargetRef ?? []).entries()) {
    references.add(`ConfigMap/${sourceNamespace}/${entry.name}`);
    params[entry.parameter] = keyOf(
      'ConfigMap',
      lookup.configMap(sourceNamespace, entry.name),
      sourceNamespace,
      entry,
      `${authName} spec.configMapTargetRef[${i}]`,
    );
  }
  for (const [i, entry] of (auth.spec.env ?? []).entries()) {
    const env = context.envOf(entry.containerName);
    const value = env[entry.name];
    if (value === undefined) {
      throw new CredentialError(
        `${field}`,
        `${authName}: spec.env[${i}] (parameter "${entry.parameter}") reads environment variable ${entry.name}, ` +
          `which the target's container${entry.containerName ? ` "${entry.containerName}"` : ''} does not set. ` +
          'Add it to the container or fix the name.',
      );
    }
    params[entry.parameter] = value;
  }
  const unsupported = Object.keys(auth.spec).filter((key) => !SUPPORTED_AUTH_SOURCES.has(key));
  if (Object.keys(params).length === 0 && unsupported.length > 0) {
    // KEDA's other providers (podIdentity, hashiCorpVault, ...) are accepted so manifests apply, but
    // without any source this autoscaler reads the trigger would fail later with a baffling
    // "access denied"; say here what is missing.
    throw new CredentialError(
      `${field}.name`,
      `${authName} gets its parameters only from ${unsupported.join(', ')}, which queryscaler does not support; ` +
        'give them with secretTargetRef, configMapTargetRef or env.',
    );
  }
  return params;
}

const SUPPORTED_AUTH_SOURCES = new Set(['secretTargetRef', 'configMapTargetRef', 'env']);

export interface TriggerCredentialsInput {
  so: ScaledObject;
  target: TargetDescription;
  /** The target's pod template containers, whose environment `*FromEnv` parameters and `env` entries read. */
  containers: readonly ContainerSpec[];
  lookup: Lookup;
  /** Where ClusterTriggerAuthentications read their Secrets and ConfigMaps. */
  clusterNamespace: string;
  /** Filled with every object looked at, found or not, even when resolution fails. */
  references: References;
}

/** Every trigger's parameters from its authenticationRef, and the environment of those that read it. Throws CredentialError. */
export function resolveTriggerCredentials(input: TriggerCredentialsInput): ResolvedTriggerCredentials[] {
  const { so, target, lookup, references } = input;
  const envs = new Map<string, Record<string, string>>();
  const envOf = (containerName: string | undefined): Record<string, string> => {
    const container = selectContainer(target, input.containers, containerName ?? so.spec.scaleTargetRef.envSourceContainerName);
    let env = envs.get(container.name);
    if (!env) {
      env = containerEnv(container, target, lookup, references);
      envs.set(container.name, env);
    }
    return env;
  };
  // A name given but matching no container is reported even when no trigger reads the environment.
  if (so.spec.scaleTargetRef.envSourceContainerName !== undefined) envOf(undefined);
  return so.spec.triggers.map((trigger, triggerIndex) => ({
    authParams: resolveAuthParams(trigger.authenticationRef, {
      namespace: target.namespace,
      clusterNamespace: input.clusterNamespace,
      triggerIndex,
      lookup,
      envOf,
      references,
    }),
    resolvedEnv: readsContainerEnv(trigger) ? envOf(undefined) : {},
  }));
}

/** A Secret's data as plain text: the API holds it base64-encoded. */
export function decodedSecretData(data: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) decoded[k] = Buffer.from(v, 'base64').toString('utf8');
  return decoded;
}

function keyOf(
  kind: 'Secret' | 'ConfigMap',
  data: Readonly<Record<string, string>> | undefined,
  namespace: string,
  entry: { parameter: string; name: string; key: string },
  where: string,
): string {
  if (!data) {
    throw new CredentialError(
      where,
      `parameter "${entry.parameter}" names ${kind} ${namespace}/${entry.name}, which does not exist. ` +
        `Create it in namespace ${namespace} or fix the name.`,
    );
  }
  const value = data[entry.key];
  if (value === undefined) {
    throw new CredentialError(
      where,
      `parameter "${entry.parameter}" reads key "${entry.key}" of ${kind} ${namespace}/${entry.name}, which has no such key; ` +
        `its keys are: ${keyList(data)}. Add the key or fix the key name.`,
    );
  }
  return value;
}

function keyList(data: Readonly<Record<string, string>>): string {
  const keys = Object.keys(data).sort();
  return keys.length > 0 ? keys.join(', ') : '(none)';
}
