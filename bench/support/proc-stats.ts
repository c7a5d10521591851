// CPU time and memory of a process from /proc (Linux), for the figures of a process we did not
// start in this one (kube-apiserver) or that runs beside it (queryscaler).

import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export interface ProcessSample {
  /** User plus system CPU time used so far, in seconds. */
  cpuSeconds: number;
  rssBytes: number;
  /** Peak resident set size (VmHWM). */
  peakRssBytes: number;
  at: number;
}

export async function sampleProcess(pid: number): Promise<ProcessSample> {
  const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
  // The command name in parentheses may hold spaces; the fields after it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM'), at: performance.now() };
}

/** CPU used between two samples, as a share of one core (1 = one core busy the whole time). */
export function cpuShare(before: ProcessSample, after: ProcessSample): number {
  return (after.cpuSeconds - before.cpuSeconds) / ((after.at - before.at) / 1000);
}

/** The pid of the first process whose command line contains every one of `parts`. */
export async function findPid(parts: readonly string[]): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (parts.every((p) => cmdline.includes(p))) return Number(entry);
  }
  return undefined;
}
