import { expect } from 'chai';
import { TargetWatches, type ResourceWatch, type WatchedResource } from '../../src/controller/target-watches.js';

const WIDGETS: WatchedResource = { group: 'example.com', version: 'v1', resource: 'widgets', kind: 'Widget' };
const GADGETS: WatchedResource = { group: 'example.com', version: 'v1', resource: 'gadgets', kind: 'Gadget' };
const STATEFULSETS: WatchedResource = { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet' };

/** Watches that record what was done to them, so the bookkeeping can be read back. */
function recorder() {
  const log: string[] = [];
  const enqueued: string[] = [];
  let listed: () => void = () => undefined;
  const firstList = new Promise<void>((resolve) => (listed = resolve));
  const watches = new TargetWatches({
    watchOf: (r): ResourceWatch => ({
      start: () => {
        log.push(`start ${r.resource}`);
        return firstList;
      },
      stop: () => {
        log.push(`stop ${r.resource}`);
        return Promise.resolve();
      },
    }),
    alwaysWatched: (r) => r.group === 'apps',
    enqueue: (key) => enqueued.push(key),
  });
  return { log, enqueued, watches, listed: () => listed() };
}

describe('TargetWatches', () => {
  it('watches a resource once for all its ScaledObjects and stops when the last one lets go', async () => {
    const { log, watches } = recorder();
    await watches.watch('ns/a', { ...WIDGETS });
    await watches.watch('ns/b', { ...WIDGETS });
    await watches.watch('ns/a', { ...WIDGETS });
    expect(watches.watchedResources()).to.deep.equal(['example.com/v1/widgets']);
    await watches.release('ns/a');
    expect(log).to.deep.equal(['start widgets']);
    await watches.release('ns/b');
    expect(log).to.deep.equal(['start widgets', 'stop widgets']);
    expect(watches.watchedResources()).to.deep.equal([]);
  });

  it('moves a ScaledObject whose target changed kind, and leaves StatefulSets to the watch that always runs', async () => {
    const { log, watches } = recorder();
    await watches.watch('ns/a', WIDGETS);
    await watches.watch('ns/a', GADGETS);
    await watches.watch('ns/a', STATEFULSETS);
    expect(log).to.deep.equal(['start widgets', 'stop widgets', 'start gadgets', 'stop gadgets']);
    expect(watches.watchedResources()).to.deep.equal([]);
  });

  it('looks again at the ScaledObjects that began watching before the first list was in', async () => {
    const { enqueued, watches, listed } = recorder();
    await watches.watch('ns/a', WIDGETS);
    await watches.watch('ns/b', WIDGETS);
    expect(enqueued).to.deep.equal([]);
    listed();
    await new Promise((resolve) => setImmediate(resolve));
    expect(enqueued.sort()).to.deep.equal(['ns/a', 'ns/b']);
  });

  it('stops every watch at once', async () => {
    const { log, watches } = recorder();
    await watches.watch('ns/a', WIDGETS);
    await watches.watch('ns/b', GADGETS);
    await watches.stopAll();
    expect(log.filter((l) => l.startsWith('stop')).sort()).to.deep.equal(['stop gadgets', 'stop widgets']);
    expect(watches.watchedResources()).to.deep.equal([]);
  });
});
