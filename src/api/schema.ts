// The openAPIV3Schema of each keda.sh kind, read from the CRD files in crds/ so that the API server and
// our own validator (validation.ts) check objects against the same text. Nothing here re-declares it.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** The subset of a Kubernetes structural schema that we read; other keywords pass through untouched. */
export interface OpenApiV3Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, OpenApiV3Schema>;
  additionalProperties?: OpenApiV3Schema | boolean;
  items?: OpenApiV3Schema;
  required?: string[];
  enum?: unknown[];
  anyOf?: OpenApiV3Schema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: { rule: string; message?: string; fieldPath?: string }[];
  [keyword: string]: unknown;
}

export type KedaKind = 'ScaledObject' | 'TriggerAuthentication' | 'ClusterTriggerAuthentication';

export const CRD_FILES: Readonly<Record<KedaKind, string>> = {
  ScaledObject: 'keda.sh_scaledobjects.yaml',
  TriggerAuthentication: 'keda.sh_triggerauthentications.yaml',
  ClusterTriggerAuthentication: 'keda.sh_clustertriggerauthentications.yaml',
};

interface CrdDocument {
  kind?: unknown;
  spec?: {
    names?: { kind?: unknown };
    versions?: { name?: unknown; schema?: { openAPIV3Schema?: OpenApiV3Schema } }[];
  };
}

/**
 * The directory holding package.json, found by walking up from `from`. The same code runs as
 * src/api/schema.ts (tsx) and as dist/src/api/schema.js (tsc), so a fixed `../..` would be wrong for one.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}; crds/ must ship next to package.json`);
    dir = parent;
  }
}

export function crdPath(kind: KedaKind): string {
  return join(packageRoot(), 'crds', CRD_FILES[kind]);
}

/** Parses one CRD file and returns the v1alpha1 schema, checking the file holds the kind we expect. */
export function schemaFromCrdText(text: string, kind: KedaKind, source: string): OpenApiV3Schema {
  const doc = parse(text) as CrdDocument | null;
  if (doc?.kind !== 'CustomResourceDefinition' || doc.spec?.names?.kind !== kind) {
    throw new Error(`${source} is not the CustomResourceDefinition of ${kind}`);
  }
  const schema = doc.spec.versions?.find((v) => v.name === 'v1alpha1')?.schema?.openAPIV3Schema;
  if (schema === undefined) throw new Error(`${source} has no v1alpha1 openAPIV3Schema`);
  return schema;
}

const loaded = new Map<KedaKind, OpenApiV3Schema>();

/** The v1alpha1 openAPIV3Schema of `kind`, read once per process. */
export function openApiSchema(kind: KedaKind): OpenApiV3Schema {
  let schema = loaded.get(kind);
  if (schema === undefined) {
    const path = crdPath(kind);
    schema = schemaFromCrdText(readFileSync(path, 'utf8'), kind, path);
    loaded.set(kind, schema);
  }
  return schema;
}
