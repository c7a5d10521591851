import { expect } from 'chai';
import { scalingSettings } from '../../src/api/defaults.js';
import type { ScaledObject } from '../../src/api/types.js';
import { controllerStep, replicasFor, type Explanation } from '../../src/explain/explain.js';
import { hpaReplicas } from '../../src/explain/hpa-replicas.js';
import { renderExplanation } from '../../src/explain/render.js';

/** An Explanation as explainScaledObject builds one, for a single mysql trigger read at `value`. */
function explanation(options: {
  value: number;
  replicas: number;
  targetType?: 'AverageValue' | 'Value';
  minReplicaCount?: number;
  annotations?: Record<string, string>;
  behavior?: NonNullable<NonNullable<ScaledObject['spec']['advanced']>['horizontalPodAutoscalerConfig']>['behavior'];
}): Explanation {
  const so: ScaledObject = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'orders', namespace: 'shop', ...(options.annotations !== undefined && { annotations: options.annotations }) },
    spec: {
      scaleTargetRef: { name: 'worker' },
      minReplicaCount: options.minReplicaCount ?? 1,
      maxReplicaCount: 10,
      ...(options.behavior !== undefined && { advanced: { horizontalPodAutoscalerConfig: { behavior: options.behavior } } }),
      triggers: [{ type: 'mysql', metadata: { query: 'SELECT 1', queryValue: '3' } }],
    },
  };
  const active = options.value > 0;
  const paused = options.annotations?.['autoscaling.keda.sh/paused'] === 'true';
  const step = paused ? undefined : controllerStep(so, options.replicas, active);
  const at = step !== undefined && step.reason !== 'CooledDown' ? step.to : options.replicas;
  const spec = { metricName: 's0-mysql-testdb', targetType: options.targetType ?? 'AverageValue', targetValue: 3 } as const;
  const minReplicas = Math.max(options.minReplicaCount ?? 1, 1);
  const e: Explanation = {
    so,
    settings: scalingSettings(so.spec),
    pause: paused ? { kind: 'paused' } : { kind: 'none' },
    target: { kind: 'Deployment', namespace: 'shop', name: 'worker', specReplicas: options.replicas, statusReplicas: options.replicas, readyPods: options.replicas, assumptions: [] },
    hpa: { name: 'keda-hpa-orders', minReplicas, maxReplicas: 10, ...(options.behavior !== undefined && { behavior: options.behavior }) },
    triggers: [
      {
        index: 0,
        type: 'mysql',
        spec,
        query: 'SELECT 1',
        activation: 0,
        reading: { metricName: spec.metricName, triggerIndex: 0, value: options.value, active, consecutiveFailures: 0, readAt: new Date(0) },
      },
    ],
    active,
    ...(step !== undefined && { controllerStep: step }),
    computedAt: at,
    outcome: hpaReplicas({
      specReplicas: at,
      statusReplicas: at,
      readyPods: at,
      minReplicas,
      maxReplicas: 10,
      ...(options.behavior !== undefined && { behavior: options.behavior }),
      metrics: [{ targetType: spec.targetType, target: 3, value: options.value }],
    }),
  };
  return e;
}

const section = (text: string, title: string): string[] => {
  const lines = text.split('\n');
  const start = lines.indexOf(title);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
};

describe('renderExplanation', () => {
  const cases: Array<{ name: string; e: Explanation; hpa?: string; replicas: string[] }> = [
    {
      name: 'scale down waits for the stabilization window, then goes in one step',
      e: explanation({ value: 6, replicas: 10 }),
      hpa: 'usage ratio 6 / (3 x 10 pods) = 0.20: ceil(6 / 3) = 2',
      replicas: ['  the HPA recommends 2 at 10 replicas: it scales down once every recommendation of the last 300 s is this low, in one step'],
    },
    {
      name: 'a Value target multiplies by the ready pods',
      e: explanation({ value: 9, replicas: 2, targetType: 'Value' }),
      hpa: 'usage ratio 9 / 3 = 3.00, x 2 ready pods: 6',
      replicas: ['  the HPA recommends 6 at 2 replicas: it scales up first to 4, as far as the policies allow in one period, then on to 6'],
    },
    {
      name: 'inactive with minReplicaCount 0: queryscaler scales to 0 after the cooldown',
      e: explanation({ value: 0, replicas: 3, minReplicaCount: 0 }),
      hpa: 'usage ratio 0 / (3 x 3 pods) = 0.00: ceil(0 / 3) = 0',
      replicas: [
        '  the HPA recommends 1 (0, raised to minReplicas 1) at 3 replicas: it scales down once every recommendation of the last 300 s is this low, in one step',
        '  no trigger is active: queryscaler scales the target to 0 once cooldownPeriod 300 s has passed since the last active poll',
      ],
    },
    {
      // The HPA does not compute at 0, so there is no arithmetic to show.
      name: 'at 0 and inactive: it stays',
      e: explanation({ value: 0, replicas: 0, minReplicaCount: 0 }),
      replicas: ['  the target is at 0 replicas and no trigger is active: it stays at 0 until one is (the HPA does not scale from 0)'],
    },
    {
      name: 'paused: nothing moves',
      e: explanation({ value: 9, replicas: 2, annotations: { 'autoscaling.keda.sh/paused': 'true' } }),
      hpa: 'usage ratio 9 / (3 x 2 pods) = 1.50: ceil(9 / 3) = 3',
      replicas: ['  paused: queryscaler neither polls for scaling nor keeps an HPA; the target stays at 2'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const text = renderExplanation(c.e);
      expect(text.split('\n').find((l) => l.startsWith('  HPA          usage'))).to.equal(c.hpa === undefined ? undefined : `  HPA          ${c.hpa}`);
      expect(section(text, 'Replicas')).to.deep.equal(c.replicas);
    });
  }

  it('says a custom behavior as the HPA applies it', () => {
    const text = renderExplanation(
      explanation({ value: 9, replicas: 2, behavior: { scaleUp: { stabilizationWindowSeconds: 60, selectPolicy: 'Min', policies: [{ type: 'Pods', value: 1, periodSeconds: 30 }, { type: 'Percent', value: 50, periodSeconds: 30 }] }, scaleDown: { tolerance: '0.2' } } }),
    );
    expect(text.split('\n').filter((l) => /^ {2}(tolerance|scale up|scale down) /.test(l))).to.deep.equal([
      '  tolerance    down 0.2, up 0.1: a usage ratio from 0.8 to 1.1 keeps the count',
      '  scale up     after 60 s of higher recommendations (stabilization window); at most +1 pod per 30 s or +50 % per 30 s, whichever is less (selectPolicy Min)',
      '  scale down   after 300 s of lower recommendations (stabilization window); at most -100 % per 15 s',
    ]);
  });

  it('the what-if row for an inactive target at 0 with minReplicaCount 1 names the raise to the minimum', () => {
    const e = explanation({ value: 17, replicas: 0 });
    expect(replicasFor(e, 0, 3, false)).to.deep.equal({ replicas: 6, note: 'raised to minReplicaCount 1 first' });
    expect(replicasFor(e, 0, 3, true)).to.deep.equal({ replicas: 6, note: 'activated to 1 first' });
    expect(replicasFor(e, 0, 0.5, true)).to.deep.equal({ replicas: 10, note: 'activated to 1 first; maxReplicas 10' });
  });
});
