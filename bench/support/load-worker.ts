// The parent's side of the load client (load-client.ts): it runs in a worker thread, so the
// client's work is not counted as the server's, and answers one cell at a time.

import { Worker } from 'node:worker_threads';
import type { CellResult, WorkerMessage } from './load-client.js';

/**
 * The load client in a worker thread. A worker does not inherit the `--import tsx` loader, so it
 * starts from a line of JavaScript that registers tsx in the worker and then imports the client.
 */
export function startLoadClient(): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./load-client.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, { eval: true });
}

export function awaitWorkerMessage(worker: Worker, kind: 'ready', interrupted: AbortSignal): Promise<void>;
export function awaitWorkerMessage(worker: Worker, kind: 'done', interrupted: AbortSignal): Promise<CellResult>;
export function awaitWorkerMessage(worker: Worker, kind: 'ready' | 'done', interrupted: AbortSignal): Promise<CellResult | void> {
  return new Promise((resolve, reject) => {
    const settle = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      interrupted.removeEventListener('abort', onAbort);
    };
    const onMessage = (message: WorkerMessage): void => {
      settle();
      if (message.kind === 'failed') reject(new Error(`the load client failed: ${message.error}`));
      else if (message.kind !== kind) reject(new Error(`the load client said "${message.kind}" while the benchmark waited for "${kind}"`));
      else resolve(message.kind === 'done' ? message.result : undefined);
    };
    const onError = (error: Error): void => {
      settle();
      reject(new Error(`the load client worker crashed: ${error.message}`, { cause: error }));
    };
    const onExit = (code: number): void => {
      settle();
      reject(new Error(`the load client worker exited with code ${code} while the benchmark waited for "${kind}"`));
    };
    const onAbort = (): void => {
      settle();
      reject(interrupted.reason as Error);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    interrupted.addEventListener('abort', onAbort, { once: true });
  });
}

