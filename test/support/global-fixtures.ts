import { stopShared } from './shared.js';

export async function mochaGlobalTeardown(): Promise<void> {
  await stopShared();
}
