import { expect } from 'chai';
import type { HpaBehavior } from '../../src/api/types.js';
import {
  effectiveBehavior,
  externalMetricReplicas,
  hpaReplicas,
  milliUnits,
  nextStep,
  scaleDownWindowSeconds,
  tolerances,
  type ExternalMetric,
  type ReplicaCounts,
} from '../../src/explain/hpa-replicas.js';

const DEFAULT = { scaleUp: 0.1, scaleDown: 0.1 };
const counts = (replicas: number, readyPods = replicas): ReplicaCounts => ({ specReplicas: replicas, statusReplicas: replicas, readyPods });

describe('externalMetricReplicas (replica_calculator.go, the cases of its own tests)', () => {
  const cases: Array<{ name: string; metric: ExternalMetric; counts: ReplicaCounts; tolerances?: typeof DEFAULT; replicas: number; within: boolean }> = [
    { name: 'AverageValue scale up', metric: { targetType: 'AverageValue', target: 2.15, value: 8.6 }, counts: counts(3), replicas: 4, within: false },
    { name: 'AverageValue scale down', metric: { targetType: 'AverageValue', target: 2.867, value: 8.6 }, counts: counts(5), replicas: 3, within: false },
    { name: 'AverageValue within the default tolerance', metric: { targetType: 'AverageValue', target: 2.9, value: 8.6 }, counts: counts(3), replicas: 3, within: true },
    {
      name: 'AverageValue outside a 1 % scale-up tolerance',
      metric: { targetType: 'AverageValue', target: 2.8, value: 8.6 },
      counts: counts(3),
      tolerances: { scaleUp: 0.01, scaleDown: 0.1 },
      replicas: 4,
      within: false,
    },
    { name: 'AverageValue divides by the pods there are (status.replicas)', metric: { targetType: 'AverageValue', target: 3, value: 17 }, counts: { specReplicas: 6, statusReplicas: 5, readyPods: 0 }, replicas: 6, within: false },
    { name: 'Value counts only ready pods', metric: { targetType: 'Value', target: 4.4, value: 8.6 }, counts: counts(3, 1), replicas: 2, within: false },
    { name: 'Value scale down', metric: { targetType: 'Value', target: 14.334, value: 8.6 }, counts: counts(5), replicas: 3, within: false },
    { name: 'Value within the default tolerance', metric: { targetType: 'Value', target: 8.888, value: 8.6 }, counts: counts(3), replicas: 3, within: true },
    {
      name: 'Value outside a 1 % scale-up tolerance',
      metric: { targetType: 'Value', target: 8.8, value: 8.9 },
      counts: counts(3),
      tolerances: { scaleUp: 0.01, scaleDown: 0.1 },
      replicas: 4,
      within: false,
    },
    { name: 'the blog: 17 rows-per-6 over a target of 3 at 1 pod', metric: { targetType: 'AverageValue', target: 3, value: 17 }, counts: counts(1), replicas: 6, within: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const proposal = externalMetricReplicas(c.metric, c.counts, c.tolerances ?? DEFAULT);
      expect([proposal.replicas, proposal.withinTolerance]).to.deep.equal([c.replicas, c.within]);
    });
  }

  it('reads values in milli-units, truncated as they are served', () => {
    expect([milliUnits(2.5), milliUnits(0.0015), milliUnits(1 / 3)]).to.deep.equal([2500, 1, 333]);
    // 1.0009 is served as 1000m: exactly 2 pods' worth of a 500m target, where the raw number would ask for 3.
    expect(externalMetricReplicas({ targetType: 'AverageValue', target: 0.5, value: 1.0009 }, counts(1), DEFAULT).replicas).to.equal(2);
  });
});

describe('hpaReplicas (horizontal.go)', () => {
  const base = { minReplicas: 1, maxReplicas: 10, metrics: [{ targetType: 'AverageValue' as const, target: 3, value: 17 }] };
  const cases: Array<{ name: string; input: Parameters<typeof hpaReplicas>[0]; want: ReturnType<typeof hpaReplicas> | { kind: string; replicas?: number; recommended?: number; bound?: string } }> = [
    { name: 'a target at 0 is not scaled (ScalingDisabled)', input: { ...base, ...counts(0) }, want: { kind: 'disabled' } },
    { name: 'above maxReplicas: brought to max without metrics', input: { ...base, ...counts(12) }, want: { kind: 'out-of-bounds', replicas: 10, bound: 'maxReplicas' } },
    { name: 'below minReplicas: brought to min', input: { ...base, minReplicas: 2, ...counts(1) }, want: { kind: 'out-of-bounds', replicas: 2, bound: 'minReplicas' } },
    { name: 'within bounds', input: { ...base, ...counts(1) }, want: { kind: 'metrics', recommended: 6, replicas: 6 } },
    {
      name: 'capped at maxReplicas',
      input: { ...base, ...counts(6), metrics: [{ targetType: 'AverageValue', target: 3, value: 84 }] },
      want: { kind: 'metrics', recommended: 28, replicas: 10, bound: 'maxReplicas' },
    },
    {
      name: 'raised to minReplicas',
      input: { ...base, minReplicas: 2, ...counts(4), metrics: [{ targetType: 'AverageValue', target: 3, value: 1 }] },
      want: { kind: 'metrics', recommended: 1, replicas: 2, bound: 'minReplicas' },
    },
    {
      name: 'the largest proposal of all metrics wins',
      input: { ...base, ...counts(2), metrics: [{ targetType: 'AverageValue', target: 3, value: 6 }, { targetType: 'Value', target: 1, value: 4 }] },
      want: { kind: 'metrics', recommended: 8, replicas: 8 },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const outcome = hpaReplicas(c.input);
      const rest: Record<string, unknown> = { ...outcome };
      delete rest.proposals;
      expect(rest).to.deep.equal(c.want);
    });
  }
});

describe('tolerances, behavior defaults and nextStep', () => {
  const SEED: HpaBehavior = { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } };

  it("takes the behavior's tolerances as quantities, 0.1 otherwise", () => {
    expect(tolerances(undefined)).to.deep.equal(DEFAULT);
    expect(tolerances({ scaleUp: { tolerance: '50m' }, scaleDown: { tolerance: '0.2' } })).to.deep.equal({ scaleUp: 0.05, scaleDown: 0.2 });
  });

  it('fills in what the API server and the controller default', () => {
    expect(effectiveBehavior(undefined)).to.equal(undefined);
    expect(effectiveBehavior(SEED)).to.deep.equal({
      scaleUp: {
        stabilizationWindowSeconds: 0,
        selectPolicy: 'Max',
        policies: [
          { type: 'Pods', value: 4, periodSeconds: 15 },
          { type: 'Percent', value: 100, periodSeconds: 15 },
        ],
      },
      scaleDown: { stabilizationWindowSeconds: 300, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] },
    });
    expect([scaleDownWindowSeconds(undefined), scaleDownWindowSeconds(SEED), scaleDownWindowSeconds({ scaleUp: {} })]).to.deep.equal([300, 300, 300]);
  });

  const bounds = { minReplicas: 1, maxReplicas: 10 };
  const steps: Array<{ name: string; current: number; recommended: number; behavior?: HpaBehavior; want: number }> = [
    { name: 'the blog: 1 -> 5 first (+4 pods beats +100 %)', current: 1, recommended: 6, behavior: SEED, want: 5 },
    { name: 'then 5 -> 6', current: 5, recommended: 6, behavior: SEED, want: 6 },
    { name: '+100 % beats +4 pods from 6', current: 6, recommended: 28, behavior: SEED, want: 10 },
    { name: 'scale down by 100 % in one step', current: 10, recommended: 6, behavior: SEED, want: 6 },
    { name: 'selectPolicy Min takes the smaller step', current: 6, recommended: 20, behavior: { scaleUp: { selectPolicy: 'Min' } }, want: 10 },
    { name: 'selectPolicy Disabled holds', current: 6, recommended: 1, behavior: { scaleDown: { selectPolicy: 'Disabled' } }, want: 6 },
    { name: 'a Pods policy for scale down', current: 8, recommended: 1, behavior: { scaleDown: { policies: [{ type: 'Pods', value: 2, periodSeconds: 60 }] } }, want: 6 },
    { name: 'without a behavior: at most max(2 x current, 4)', current: 1, recommended: 10, want: 4 },
    { name: 'without a behavior, from 3: at most 6', current: 3, recommended: 10, want: 6 },
    { name: 'without a behavior, scale down is not rate-limited', current: 9, recommended: 2, want: 2 },
  ];
  for (const s of steps) {
    it(`nextStep: ${s.name}`, () => expect(nextStep(s.current, s.recommended, bounds, s.behavior)).to.equal(s.want));
  }
});
