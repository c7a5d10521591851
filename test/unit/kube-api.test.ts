import { expect } from 'chai';
import { informerBackoffMs } from '../../src/controller/informers.js';
import { resourceOfPath, TokenBucket } from '../../src/controller/kube-api.js';

describe('resourceOfPath (the request counter label)', () => {
  const cases: Array<[string, string]> = [
    ['/apis/apps/v1/namespaces/ns/statefulsets/mycluster/scale', 'statefulsets/scale'],
    ['/apis/keda.sh/v1alpha1/namespaces/ns/scaledobjects/so/status', 'scaledobjects/status'],
    ['/apis/keda.sh/v1alpha1/scaledobjects', 'scaledobjects'],
    ['/api/v1/namespaces/ns/secrets/s', 'secrets'],
    ['/api/v1/secrets?watch=true', 'secrets'],
    ['/api/v1/namespaces/ns', 'namespaces'],
    ['/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers', 'horizontalpodautoscalers'],
    ['/apis/apps/v1', 'discovery'],
  ];
  for (const [path, want] of cases) {
    it(`${path} -> ${want}`, () => expect(resourceOfPath(path)).to.equal(want));
  }
});

describe('informerBackoffMs', () => {
  const cases: Array<{ failures: number; random: number; want: number }> = [
    { failures: 1, random: 0, want: 125 },
    { failures: 1, random: 1, want: 250 },
    { failures: 3, random: 0.5, want: 750 },
    { failures: 20, random: 1, want: 30_000 },
    { failures: 20, random: 0, want: 15_000 },
  ];
  for (const c of cases) {
    it(`failure ${c.failures}, random ${c.random} -> ${c.want} ms`, () => {
      expect(informerBackoffMs(c.failures, 250, 30_000, () => c.random)).to.equal(c.want);
    });
  }
});

describe('TokenBucket', () => {
  it('lets a burst through at once, then paces at qps', async () => {
    const bucket = new TokenBucket(20, 3);
    const start = performance.now();
    await Promise.all([bucket.take(), bucket.take(), bucket.take()]);
    expect(performance.now() - start).to.be.below(20);
    await bucket.take();
    await bucket.take();
    // Two more tokens at 20/s take about 100 ms.
    expect(performance.now() - start).to.be.within(80, 400);
    bucket.close();
  });

  it('a waiter whose signal aborts leaves the queue with the abort reason', async () => {
    const bucket = new TokenBucket(1, 1);
    await bucket.take();
    const controller = new AbortController();
    const waiting = bucket.take(controller.signal);
    controller.abort(new Error('stopped'));
    try {
      await waiting;
      expect.fail('take should have rejected');
    } catch (error) {
      expect((error as Error).message).to.equal('stopped');
    }
    bucket.close();
  });

  it('close releases every waiter so shutdown never hangs', async () => {
    const bucket = new TokenBucket(0.001, 1);
    await bucket.take();
    const waiting = Promise.all([bucket.take(), bucket.take()]);
    bucket.close();
    expect(await waiting).to.deep.equal([undefined, undefined]);
  });
});
