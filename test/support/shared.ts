// One control plane and one MariaDB per test run, started on first use and stopped by the global
// teardown (global-fixtures.ts). Pure-function tests never touch them, so they never start there.

import type { ControlPlane } from './control-plane.js';
import type { MariaDb } from './mariadb.js';

let controlPlane: Promise<ControlPlane> | undefined;
let mariaDb: Promise<MariaDb> | undefined;

export function sharedControlPlane(): Promise<ControlPlane> {
  controlPlane ??= import('./control-plane.js').then((m) => m.startControlPlane());
  return controlPlane;
}

/** The shared control plane if some test started it, without starting it. */
export function startedControlPlane(): Promise<ControlPlane> | undefined {
  return controlPlane;
}

export function sharedMariaDb(): Promise<MariaDb> {
  mariaDb ??= import('./mariadb.js').then((m) => m.startMariaDb());
  return mariaDb;
}

export async function stopShared(): Promise<void> {
  const started = [controlPlane, mariaDb].filter((p): p is Promise<ControlPlane> | Promise<MariaDb> => p !== undefined);
  controlPlane = undefined;
  mariaDb = undefined;
  await Promise.allSettled(started.map(async (p) => (await p).stop()));
}
