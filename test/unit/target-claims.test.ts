import { expect } from 'chai';
import {
  adoptedHpaName,
  foreignHpa,
  foreignHpaMessage,
  ownerConflictMessage,
  sameTarget,
  targetIdentity,
  targetConflict,
  targetOwner,
} from '../../src/controller/target-claims.js';
import type { ScaledObject } from '../../src/api/types.js';

const MYCLUSTER = targetIdentity({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' });

describe('target claims', () => {
  it('identifies a target by group, kind and name, with KEDA\'s defaults', () => {
    expect(targetIdentity({ name: 'web' })).to.deep.equal({ group: 'apps', kind: 'Deployment', name: 'web' });
    expect(sameTarget(targetIdentity({ apiVersion: 'apps/v1beta2', kind: 'StatefulSet', name: 'mycluster' }), MYCLUSTER)).to.equal(true);
    expect(sameTarget(targetIdentity({ apiVersion: 'example.com/v1', kind: 'StatefulSet', name: 'mycluster' }), MYCLUSTER)).to.equal(false);
    expect(targetIdentity({ apiVersion: 'v1', kind: 'ReplicationController', name: 'rc' })).to.deep.equal({ group: '', kind: 'ReplicationController', name: 'rc' });
  });

  const cases: Array<[string, Array<{ name: string; creationTimestamp?: string }>, string]> = [
    ['the oldest', [{ name: 'b', creationTimestamp: '2026-12-02T10:00:01Z' }, { name: 'a', creationTimestamp: '2026-12-02T10:00:02Z' }], 'b'],
    ['by name when created in the same second', [{ name: 'b', creationTimestamp: '2026-12-02T10:00:00Z' }, { name: 'a', creationTimestamp: '2026-12-02T10:00:00Z' }], 'a'],
    ['one with a timestamp before one without', [{ name: 'a' }, { name: 'z', creationTimestamp: '2026-12-02T10:00:00Z' }], 'z'],
  ];
  for (const [name, claimants, owner] of cases) {
    it(`gives the target to ${name}, in any order`, () => {
      expect(targetOwner(claimants)?.name).to.equal(owner);
      expect(targetOwner([...claimants].reverse())?.name).to.equal(owner);
    });
  }

  it('finds a foreign HPA on the target, but not ours, not one elsewhere, and not the one being adopted', () => {
    const hpas = [
      { name: 'keda-hpa-so', managedByQueryscaler: true, target: MYCLUSTER },
      { name: 'elsewhere', managedByQueryscaler: false, target: targetIdentity({ kind: 'StatefulSet', name: 'other' }) },
      { name: 'manual', managedByQueryscaler: false, target: MYCLUSTER },
    ];
    expect(foreignHpa(hpas, MYCLUSTER, undefined)?.name).to.equal('manual');
    expect(foreignHpa(hpas, MYCLUSTER, 'manual')).to.equal(undefined);
  });

  it("takes an HPA whose controller is this very ScaledObject (KEDA's, after a migration) as its own, and no other", () => {
    const keda = { name: 'keda-hpa-so', managedByQueryscaler: false, controllerUid: 'uid-so', target: MYCLUSTER };
    const cases: Array<[string, string | undefined, string | undefined]> = [
      ['its own controller uid', 'uid-so', undefined],
      ['another ScaledObject of the same name (re-created: new uid)', 'uid-other', 'keda-hpa-so'],
      ['a ScaledObject without a uid yet', undefined, 'keda-hpa-so'],
    ];
    for (const [, ownUid, foreign] of cases) expect(foreignHpa([keda], MYCLUSTER, undefined, ownUid)?.name).to.equal(foreign);
    const uncontrolled = { name: 'keda-hpa-so', managedByQueryscaler: false, target: MYCLUSTER };
    expect(foreignHpa([uncontrolled], MYCLUSTER, undefined, 'uid-so')?.name).to.equal('keda-hpa-so');
  });

  it('adopts only with the annotation "true" and a configured name', () => {
    const annotation = 'scaledobject.keda.sh/transfer-hpa-ownership';
    expect([
      adoptedHpaName({ [annotation]: 'true' }, 'manual'),
      adoptedHpaName({ [annotation]: 'yes' }, 'manual'),
      adoptedHpaName(undefined, 'manual'),
      adoptedHpaName({ [annotation]: 'true' }, undefined),
    ]).to.deep.equal(['manual', undefined, undefined, undefined]);
  });

  it('names the owner and the fix', () => {
    expect(ownerConflictMessage(MYCLUSTER, 'ns', { name: 'first', creationTimestamp: '2026-12-02T10:00:00Z' })).to.equal(
      'StatefulSet ns/mycluster is already scaled by ScaledObject first, created earlier (2026-12-02T10:00:00Z); a scale target ' +
      'takes one ScaledObject: delete this one, or move its triggers into first');
    expect(foreignHpaMessage(MYCLUSTER, 'ns', { name: 'manual', managedByQueryscaler: false, target: MYCLUSTER })).to.equal(
      'StatefulSet ns/mycluster is already scaled by HorizontalPodAutoscaler ns/manual, which queryscaler does not manage, and two ' +
      'autoscalers on one target make the HPA controller stop scaling it: delete that HPA, or let this ScaledObject take it over ' +
      'with the annotation scaledobject.keda.sh/transfer-hpa-ownership: "true" and spec.advanced.horizontalPodAutoscalerConfig.name: manual');
  });

  describe('targetConflict', () => {
    const so = (name: string, namespace: string, created: string, target = 'mycluster'): ScaledObject => ({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name, namespace, creationTimestamp: created },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: target }, triggers: [] },
    });
    const older = so('first', 'ns', '2026-12-02T10:00:00Z');

    it('refuses a newer ScaledObject on an owned target, not the owner', () => {
      expect(targetConflict(so('second', 'ns', '2026-12-02T10:00:05Z'), [older], [])).to.equal(
        ownerConflictMessage(MYCLUSTER, 'ns', { name: 'first', creationTimestamp: '2026-12-02T10:00:00Z' }));
      expect(targetConflict(older, [older, so('second', 'ns', '2026-12-02T10:00:05Z')], [])).to.equal(undefined);
    });

    it('judges an object by its new version, not the cached one with its name', () => {
      const moved = so('first', 'ns', '2026-12-02T10:00:00Z', 'elsewhere');
      expect(targetConflict(so('second', 'ns', '2026-12-02T10:00:05Z'), [moved], [])).to.equal(undefined);
      expect(targetConflict(moved, [older, so('second', 'ns', '2026-12-02T10:00:05Z')], [])).to.equal(undefined);
    });

    it('looks only in the object\'s own namespace', () => {
      const hpas = [{ metadata: { name: 'manual', namespace: 'other' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' }, minReplicas: 1, maxReplicas: 2, metrics: [] } }];
      expect(targetConflict(so('second', 'ns', '2026-12-02T10:00:05Z'), [so('first', 'other', '2026-12-02T10:00:00Z')], hpas)).to.equal(undefined);
    });
  });
});
