// What every benchmark does around its measurements: start MariaDB and the control plane, stop
// everything it started, newest first, also after an error or Ctrl-C, and say why it stopped.
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../test/support/control-plane.js';
import { startMariaDb, type MariaDb } from '../../test/support/mariadb.js';

/** What has to be stopped, newest first; each step runs even when an earlier one failed. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<void> | void }> = [];

  /** Adds a step; the returned function runs it early (when done with before the end) and drops it. */
  add(what: string, run: () => Promise<void> | void): () => Promise<void> {
    const step = { what, run };
    this.steps.push(step);
    return async () => {
      const at = this.steps.indexOf(step);
      if (at >= 0) this.steps.splice(at, 1);
      await step.run();
    };
  }

  async runAll(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (error) {
        console.error(`cleanup: stopping ${step.what} failed: ${errorText(error)}`);
      }
    }
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `benchmark` with a Cleanup and a signal that aborts on SIGINT/SIGTERM, then cleans up.
 * Sets the exit code: 130 when interrupted, 1 on an error.
 */
export async function runBenchmark(benchmark: (cleanup: Cleanup, interrupted: AbortSignal) => Promise<void>): Promise<void> {
  const cleanup = new Cleanup();
  const interrupted = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`${signal}: stopping the benchmark and everything it started`);
    process.exitCode = 130;
    interrupted.abort(new Error(`interrupted by ${signal}`));
  };
  // `on`, not `once`, and kept until cleanup is done: the control plane's own signal handler kills
  // its processes and then re-raises the signal if nobody else listens, which would end this process
  // before the cleanup below stops MariaDB and the rest.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await benchmark(cleanup, interrupted.signal);
  } catch (error) {
    // An interruption is no failure to explain; anything else gets its stack.
    if (interrupted.signal.aborted) console.error(errorText(error));
    else console.error(error);
    process.exitCode ??= 1;
  } finally {
    await cleanup.runAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** MariaDB and the control plane, started side by side; each is stopped by `cleanup` even if the other failed. */
export async function startTestBed(cleanup: Cleanup, controlPlane: ControlPlaneOptions = {}): Promise<{ db: MariaDb; cp: ControlPlane }> {
  console.log('starting MariaDB and the control plane (etcd, kube-apiserver, kube-controller-manager)...');
  const [dbStart, cpStart] = await Promise.allSettled([startMariaDb(), startControlPlane(controlPlane)]);
  if (dbStart.status === 'fulfilled') cleanup.add('MariaDB', () => dbStart.value.stop());
  if (cpStart.status === 'fulfilled') cleanup.add('the control plane', () => cpStart.value.stop());
  if (dbStart.status === 'rejected') throw new Error(`starting MariaDB failed: ${errorText(dbStart.reason)}`, { cause: dbStart.reason });
  if (cpStart.status === 'rejected') throw new Error(`starting the control plane failed: ${errorText(cpStart.reason)}`, { cause: cpStart.reason });
  return { db: dbStart.value, cp: cpStart.value };
}
