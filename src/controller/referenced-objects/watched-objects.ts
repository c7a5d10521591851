// The default way of holding the Secrets and ConfigMaps credentials name: informers over every one
// in the watched namespaces (the whole cluster unless --watch-namespaces), as KEDA's operator does.
// Reads never miss; the price is memory that grows with every Secret in scope, related to a
// ScaledObject or not (bench/secret-memory.ts measures it).
import type { Reference } from '../credentials.js';
import type { InformerHandlers } from '../informers.js';
import type { WatchedCollection } from '../watch-scope.js';
import {
  decodedSecretData,
  type ConfigMapObject,
  type ObjectData,
  type ReferencedObjects,
  type SecretObject,
} from './referenced-objects.js';

/** Builds the informer(s) of a resource from its cluster-wide collection path, in the controller's scope. */
export type CollectionFactory = <T extends SecretObject | ConfigMapObject>(clusterPath: string, handlers: InformerHandlers<T>) => WatchedCollection<T>;

export function watchedObjects(collection: CollectionFactory, onChange: (ref: Reference) => void): ReferencedObjects {
  const secrets = collection<SecretObject>('/api/v1/secrets', changesOf('Secret', onChange));
  const configMaps = collection<ConfigMapObject>('/api/v1/configmaps', changesOf('ConfigMap', onChange));
  const objects: ObjectData = {
    secret: (namespace, name) => {
      const secret = secrets.get(namespace, name);
      return secret ? decodedSecretData(secret.data) : undefined;
    },
    configMap: (namespace, name) => {
      const configMap = configMaps.get(namespace, name);
      return configMap ? (configMap.data ?? {}) : undefined;
    },
  };
  return {
    read: async (read) => read(objects),
    start: async () => {
      await Promise.all([secrets.start(), configMaps.start()]);
    },
    stop: async () => {
      await Promise.all([secrets.stop(), configMaps.stop()]);
    },
    get synced() {
      return secrets.synced && configMaps.synced;
    },
  };
}

/** Only a change of `data` matters to credentials; labels or annotations changing re-queue nothing. */
function changesOf<T extends SecretObject | ConfigMapObject>(kind: 'Secret' | 'ConfigMap', onChange: (ref: Reference) => void): InformerHandlers<T> {
  const ref = (object: T): Reference => `${kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
  return {
    onChange: (object, previous) => {
      if (!previous || JSON.stringify(previous.data) !== JSON.stringify(object.data)) onChange(ref(object));
    },
    onDelete: (object) => onChange(ref(object)),
  };
}
