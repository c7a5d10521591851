// Loaded into a queryscaler process by bench/secret-memory.ts, compiled, before its main module
// (node --expose-gc --import dist/bench/support/memory-probe.js dist/src/main.js): on SIGUSR2 it runs
// two full garbage collections and writes process.memoryUsage() to the file $QUERYSCALER_MEMORY_PROBE,
// so that a memory figure is what the process holds, not garbage waiting for a collection. Nothing
// of it is in src/ or in the image.
import { writeFileSync } from 'node:fs';

const target = process.env.QUERYSCALER_MEMORY_PROBE;
const gc = (globalThis as { gc?: () => void }).gc;
if (target === undefined || gc === undefined) {
  throw new Error('memory-probe needs node --expose-gc and QUERYSCALER_MEMORY_PROBE=<file>');
}
process.on('SIGUSR2', () => {
  gc();
  gc();
  writeFileSync(target, JSON.stringify(process.memoryUsage()));
});
