// Where reconcile reads the Secrets and ConfigMaps that credentials name (TriggerAuthentication
// secretTargetRef/configMapTargetRef and the target's env and envFrom), behind one interface with
// two ways of holding them:
//   - watched-objects.ts (the default): every Secret and ConfigMap in the watched namespaces, listed
//     and watched; reads are cache reads.
//   - named-objects.ts (--restrict-secret-access): only the ones a ScaledObject names, each fetched
//     by name and then watched by name; nothing is ever listed. A read of a name not fetched yet
//     is a miss: the misses are fetched and the read runs again, within the same reconcile.
// Either way a change to an object calls `onChange` with its Reference, and the controller
// re-queues the ScaledObjects that read it.
import type { Lookup } from '../credentials.js';
import type { KubeObject } from '../informers.js';

export interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export interface ConfigMapObject extends KubeObject {
  data?: Record<string, string>;
}

/** The Secrets (decoded from base64) and ConfigMaps as this process holds them. */
export type ObjectData = Pick<Lookup, 'secret' | 'configMap'>;

export interface ReferencedObjects {
  /**
   * Runs `read` (synchronous, pure) against the objects held here and returns what it returns or
   * throws; what it read that had to be fetched first is fetched before it runs for the last time.
   */
  read<T>(read: (objects: ObjectData) => T, signal: AbortSignal): Promise<T>;
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly synced: boolean;
}

/** A Secret's `data` as the API gives it (base64), decoded to text. */
export function decodedSecretData(data: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [key, value] of Object.entries(data ?? {})) decoded[key] = Buffer.from(value, 'base64').toString('utf8');
  return decoded;
}
