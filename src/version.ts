// queryscaler's version as package.json holds it (the manifests' image tag is the same; a test
// keeps the two equal), for keda_build_info and --version.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './api/schema.js';

let version: string | undefined;

export function queryscalerVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
