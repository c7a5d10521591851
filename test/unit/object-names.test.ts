import { expect } from 'chai';
import type { ScaledObject } from '../../src/api/types.js';
import { hpaNameProblem, metricNameProblem } from '../../src/controller/object-names.js';

function so(name: string, hpaName?: string): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: 'ns' },
    spec: {
      scaleTargetRef: { name: 'web' },
      triggers: [],
      ...(hpaName !== undefined && { advanced: { horizontalPodAutoscalerConfig: { name: hpaName } } }),
    },
  };
}

describe('hpaNameProblem', () => {
  const cases: Array<[string, ScaledObject, string | undefined]> = [
    ['a name of 54 characters: keda-hpa-<name> is 63', so('a'.repeat(54)), undefined],
    ['a name of 55 characters', so('a'.repeat(55)),
      'metadata.name is 55 characters long, so the HorizontalPodAutoscaler keda-hpa-<name> would be 64, and its name is also the value of ' +
      'its label app.kubernetes.io/name, which holds at most 63: use a name of at most 54 characters, or name the HPA with ' +
      'spec.advanced.horizontalPodAutoscalerConfig.name'],
    ['a name of 63 characters with a short HPA name', so('a'.repeat(63), 'short'), undefined],
    ['a name of 64 characters, whatever the HPA is called', so('a'.repeat(64), 'short'),
      'metadata.name is 64 characters long, and queryscaler puts it in labels of the HorizontalPodAutoscaler it makes ' +
      '(app.kubernetes.io/part-of, scaledobject.keda.sh/name), which hold at most 63: use a name of at most 54 characters ' +
      '(63 with a shorter spec.advanced.horizontalPodAutoscalerConfig.name)'],
    ['an HPA name of 63 characters', so('web', 'h'.repeat(63)), undefined],
    ['an HPA name of 64 characters', so('web', 'h'.repeat(64)),
      'spec.advanced.horizontalPodAutoscalerConfig.name is 64 characters long, and the HPA\'s name is also the value of its label ' +
      'app.kubernetes.io/name, which holds at most 63: use a shorter name'],
    ['an HPA name with capitals and "_"', so('web', 'My_HPA'),
      'spec.advanced.horizontalPodAutoscalerConfig.name is "My_HPA", which is not a valid HorizontalPodAutoscaler name: use lowercase ' +
      'letters, digits, "-" and ".", starting and ending with a letter or digit'],
    ['an empty HPA name', so('web', ''),
      'spec.advanced.horizontalPodAutoscalerConfig.name is "", which is not a valid HorizontalPodAutoscaler name: use lowercase ' +
      'letters, digits, "-" and ".", starting and ending with a letter or digit'],
    ['a dotted HPA name', so('web', 'web.hpa'), undefined],
  ];
  for (const [name, object, expected] of cases) {
    it(name, () => {
      expect(hpaNameProblem(object)).to.equal(expected);
    });
  }
});

describe('metricNameProblem', () => {
  it('allows 253 characters and refuses 254, quoting the start', () => {
    expect(metricNameProblem(0, `s0-mysql-${'d'.repeat(244)}`)).to.equal(undefined);
    expect(metricNameProblem(1, `s1-mysql-${'d'.repeat(245)}`)).to.equal(
      `triggers[1] makes the metric name "s1-mysql-${'d'.repeat(31)}..." of 254 characters, and queryscaler allows at most 253 ` +
        '(the name goes into the HPA, the status and every metric request): shorten the trigger parameters it is made of',
    );
  });
});
