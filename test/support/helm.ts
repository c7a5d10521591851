// helm for tests: the binary tools/build-helm.sh builds from the Go module proxy (once, cached outside
// the repo), run with its own throwaway config, cache and data directories so no test reads or writes
// the user's ~/.config/helm. Also: the chart rendered into objects, and `kubectl kustomize`.

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import YAML from 'yaml';
import type { ControlPlane } from './control-plane.js';
import type { CommandResult } from './kube.js';

export const CHART = fileURLToPath(new URL('../../charts/queryscaler/', import.meta.url));
const BUILD_SCRIPT = fileURLToPath(new URL('../../tools/build-helm.sh', import.meta.url));
/** A first build takes about 3 minutes on 2 cores; a cached one answers at once. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

let binary: Promise<string> | undefined;
let home: string | undefined;

/** The path of the pinned helm, built on first use. */
export function helmBinary(): Promise<string> {
  binary ??= run('bash', [BUILD_SCRIPT], BUILD_TIMEOUT_MS).then((result) => {
    if (result.code !== 0) throw new Error(`tools/build-helm.sh failed (exit ${result.code}): ${result.stderr}`);
    return result.stdout.trim().split('\n').at(-1) ?? '';
  });
  return binary;
}

/** Runs helm, against the test control plane when `cp` is given; never throws for a non-zero exit. */
export async function helm(args: string[], cp?: ControlPlane, timeoutMs = 120_000): Promise<CommandResult> {
  home ??= mkdtempSync(path.join(tmpdir(), 'queryscaler-helm-'));
  const env = {
    ...process.env,
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  const result = await run(await helmBinary(), [...(cp ? ['--kubeconfig', cp.kubeconfigPath] : []), ...args], timeoutMs, env);
  return { ...result, stderr: withoutClientGoLog(result.stderr) };
}

// client-go inside helm logs in klog's format to the same stderr ("I1207 22:49:56.566083   15268
// reflector.go:664] ... watch ended with error" when a watch of its own is cut at exit); those lines
// come and go with timing and are not helm's answer, which the tests compare exactly.
const KLOG_LINE = /^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s+\d+ [^\]\s]+:\d+\] .*(?:\n|$)/gm;

function withoutClientGoLog(stderr: string): string {
  return stderr.replace(KLOG_LINE, '');
}

/** `helm template` of the chart as release `queryscaler` in `namespace`, CRDs included, parsed. */
export async function renderChart(namespace: string, valueArgs: string[] = []): Promise<KubernetesObject[]> {
  const rendered = await helm(['template', 'queryscaler', CHART, '--namespace', namespace, '--include-crds', ...valueArgs]);
  if (rendered.code !== 0) throw new Error(`helm template ${valueArgs.join(' ')}: ${rendered.stderr}`);
  return parseDocuments(rendered.stdout);
}

/** `kubectl kustomize <dir>`, parsed. */
export async function kustomize(dir: string): Promise<KubernetesObject[]> {
  const built = await run('kubectl', ['kustomize', dir], 60_000);
  if (built.code !== 0) throw new Error(`kubectl kustomize ${dir}: ${built.stderr}`);
  return parseDocuments(built.stdout);
}

function parseDocuments(text: string): KubernetesObject[] {
  return YAML.parseAllDocuments(text)
    .map((document) => document.toJS() as KubernetesObject | null)
    .filter((object): object is KubernetesObject => object !== null);
}

function run(command: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, ...(env && { env }) }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`${command} ${args.join(' ')}: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}
