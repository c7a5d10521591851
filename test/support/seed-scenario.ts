// The seed scenario (a MySQL Operator StatefulSet `mycluster` scaled by the blog's keda.yaml) on
// the local control plane and a throwaway MariaDB. Shared by the end-to-end test and the demo so
// both run exactly the manifests a user has: keda.yaml verbatim but for the Secret's values.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import YAML from 'yaml';
import type { MariaDb } from './mariadb.js';
import { parseYamlDocuments } from './kube.js';

const EXAMPLES = new URL('../../manifests/examples/', import.meta.url);
export const SEED_KEDA_YAML_PATH = fileURLToPath(new URL('keda.yaml', EXAMPLES));
export const SEED_STATEFULSET_YAML_PATH = fileURLToPath(new URL('statefulset.yaml', EXAMPLES));

export const SEED_TABLE_DDL = [
  'CREATE DATABASE IF NOT EXISTS testdb',
  'CREATE TABLE IF NOT EXISTS testdb.testtable (testcolumn1 INT PRIMARY KEY, testcolumn2 TEXT NOT NULL)',
];

/** The blog's query, for asserting served values against the database itself. */
export const SEED_QUERY = "SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'";

export interface SeedOptions {
  /** Replaces the scaleDown stabilizationWindowSeconds (300 in keda.yaml) so a test can wait less. */
  scaleDownStabilizationSeconds?: number;
}

/**
 * keda.yaml's three documents with the Secret's host, port and password pointing at `db`. Nothing
 * else changes unless `options` says so.
 */
export function seedKedaObjects(db: Pick<MariaDb, 'host' | 'port' | 'rootPassword'>, options: SeedOptions = {}): KubernetesObject[] {
  const objects = parseYamlDocuments(readFileSync(SEED_KEDA_YAML_PATH, 'utf8'));
  for (const object of objects) {
    if (object.kind === 'Secret') {
      const secret = object as KubernetesObject & { data: Record<string, string> };
      secret.data['mysql_host'] = base64(db.host);
      secret.data['mysql_port'] = base64(String(db.port));
      secret.data['mysql_password'] = base64(db.rootPassword);
    }
    if (object.kind === 'ScaledObject' && options.scaleDownStabilizationSeconds !== undefined) {
      const spec = (object as KubernetesObject & { spec: { advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: number } } } } } }).spec;
      spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds = options.scaleDownStabilizationSeconds;
    }
  }
  return objects;
}

/** The StatefulSet `mycluster` (Parallel, containers sidecar and mysql) and its headless Service. */
export function seedStatefulSetObjects(): KubernetesObject[] {
  return parseYamlDocuments(readFileSync(SEED_STATEFULSET_YAML_PATH, 'utf8'));
}

export function toYaml(objects: readonly KubernetesObject[]): string {
  return objects.map((o) => YAML.stringify(o)).join('---\n');
}

export async function createSeedTable(db: MariaDb): Promise<void> {
  for (const statement of SEED_TABLE_DDL) await db.query(statement);
}

/** A database user who may only read testdb, the account the README tells users to create. */
export async function createSeedReader(db: MariaDb, user: string, password: string): Promise<void> {
  await db.query(`CREATE OR REPLACE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await db.query(`GRANT SELECT ON testdb.* TO '${user}'@'%'`);
}

/** Leaves exactly rows 1..count with testcolumn2='none', as the blog's insert and delete loops did. */
export async function setSeedRowCount(db: MariaDb, count: number): Promise<void> {
  await db.query('DELETE FROM testdb.testtable WHERE testcolumn1 > ?', [count]);
  if (count < 1) return;
  const values = Array.from({ length: count }, (_, i) => `(${i + 1}, 'none')`).join(',');
  await db.query(`INSERT IGNORE INTO testdb.testtable VALUES ${values}`);
}

/** What the HPA computes for an External AverageValue metric before limits: ceil(value / target). */
export function seedMetricForRows(rows: number): number {
  return Math.ceil(rows / 6);
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
