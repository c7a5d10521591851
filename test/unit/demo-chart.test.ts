import { expect } from 'chai';
import { niceStep, storyChart, type StorySample } from '../../scripts/demo-chart.js';

const OPTIONS = { title: 'demo <&>', metricName: 's0-mysql-testdb', queryValue: 3, maxReplicas: 10, phases: [{ t: 0, label: '1 row' }, { t: 5, label: '100 rows' }] };

describe('the demo story chart', () => {
  const steps: Array<[number, number]> = [[0, 0.2], [0.3, 0.2], [4, 1], [10, 2], [84, 20], [150, 50]];
  for (const [max, step] of steps) it(`niceStep(${max}) = ${step}`, () => expect(niceStep(max)).to.be.closeTo(step, 1e-12));

  it('draws value, value per replica, HPA desired and replicas, the queryValue and maxReplicaCount lines and the phases', () => {
    const samples: StorySample[] = [
      { t: 0, value: 1, replicas: 1, desired: 1 },
      { t: 5, value: 17, replicas: 1, desired: 6 },
      { t: 10, value: 17, replicas: 5, desired: 6 },
    ];
    const svg = storyChart(samples, OPTIONS);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="960" height="620"')).to.equal(true);
    expect(svg.match(/<path /g)).to.have.length(4);
    // Replicas as steps: from 1 at t=0 along to t=10 where it rises to 5.
    expect(svg).to.match(/<path d="M64\.0,[0-9.]+ H412\.0 V[0-9.]+ H760\.0 V[0-9.]+" fill="none" stroke="#1a7f37"/);
    for (const text of ['demo &lt;&amp;&gt;', 'queryValue 3', 'maxReplicaCount 10', '>1 row<', '>100 rows<', '>10 s<']) expect(svg).to.include(text);
  });

  it('leaves a gap where there was no value, and draws an empty story without failing', () => {
    const svg = storyChart([{ t: 0, value: 2, replicas: 1 }, { t: 1, replicas: 1 }, { t: 2, value: 2, replicas: 1 }], OPTIONS);
    // value: two pieces; value per replica: two pieces; replicas: one; no desired at all.
    expect(svg.match(/<path /g)).to.have.length(5);
    expect(storyChart([], OPTIONS)).to.include('</svg>');
  });
});
