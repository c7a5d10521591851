import { expect } from 'chai';
import { answerAdmissionReview } from '../../src/admission/admission-review.js';
import { admitScaledObject, type AdmissionDecision, type AdmissionWorld } from '../../src/admission/scaled-object-checks.js';
import type { ScaledObject } from '../../src/api/types.js';
import type { HorizontalPodAutoscaler } from '../../src/controller/desired-hpa.js';

const CRON = { type: 'cron', metadata: { timezone: 'Etc/UTC', start: '0 0 1 1 *', end: '59 23 31 12 *', desiredReplicas: '2' } };
const AUTH = { authenticationRef: { name: 'keda-trigger-auth-mysql-secret' } };
const QUERY = 'SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable';

function so(
  name: string,
  spec: Record<string, unknown> = {},
  metadata: Record<string, unknown> = {},
): ScaledObject {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name, namespace: 'ns', creationTimestamp: '2026-12-03T10:00:00Z', ...metadata },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mycluster' }, triggers: [CRON], ...spec },
  } as ScaledObject;
}

function hpa(name: string, target: string, managed: boolean): Pick<HorizontalPodAutoscaler, 'metadata' | 'spec'> {
  return {
    metadata: { name, namespace: 'ns', ...(managed && { labels: { 'app.kubernetes.io/managed-by': 'queryscaler' } }) },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: target }, minReplicas: 1, maxReplicas: 3, metrics: [] },
  };
}

function world(scaledObjects: ScaledObject[] = [], hpas: Array<Pick<HorizontalPodAutoscaler, 'metadata' | 'spec'>> = []): AdmissionWorld {
  return { scaledObjects: () => scaledObjects, hpas: () => hpas };
}

const allowed: AdmissionDecision = { allowed: true, warnings: [] };
const denied = (message: string): AdmissionDecision => ({ allowed: false, message, warnings: [] });

const OWNER = so('first', {}, { creationTimestamp: '2026-12-03T09:00:00Z' });
const OWNED =
  'StatefulSet ns/mycluster is already scaled by ScaledObject first, created earlier (2026-12-03T09:00:00Z); a scale target takes ' +
  'one ScaledObject: delete this one, or move its triggers into first';
const FOREIGN =
  'StatefulSet ns/mycluster is already scaled by HorizontalPodAutoscaler ns/manual, which queryscaler does not manage, and two ' +
  'autoscalers on one target make the HPA controller stop scaling it: delete that HPA, or let this ScaledObject take it over with ' +
  'the annotation scaledobject.keda.sh/transfer-hpa-ownership: "true" and spec.advanced.horizontalPodAutoscalerConfig.name: manual';

describe('admitScaledObject (CREATE)', () => {
  const cases: Array<[string, ScaledObject, AdmissionWorld, AdmissionDecision]> = [
    ['a cron trigger on a free target', so('good'), world(), allowed],
    ['a mysql trigger whose connection comes from a TriggerAuthentication not read here', so('blog', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: '3' }, ...AUTH }] }), world(), allowed],
    ['an unknown trigger type', so('kafka', { triggers: [{ type: 'kafka', metadata: { topic: 't' } }] }), world(),
      denied('triggers[0].type: unknown trigger type "kafka"; this autoscaler knows: cron, mysql.')],
    ['queryValue "abc", with a TriggerAuthentication', so('abc', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: 'abc' }, ...AUTH }] }), world(),
      denied('triggers[0].metadata.queryValue is "abc", which is not a number; write it like "3" or "2.5"')],
    ['a missing query', so('noquery', { triggers: [{ type: 'mysql', metadata: { queryValue: '3' }, ...AUTH }] }), world(),
      denied('triggers[0].metadata.query is required: give the SELECT that returns the number to scale on')],
    ['a query the query check refuses', so('lock', { triggers: [{ type: 'mysql', metadata: { query: "SELECT GET_LOCK('x', 1)", queryValue: '3' }, ...AUTH }] }), world(),
      denied('triggers[0].metadata.query is refused: the query calls GET_LOCK(), which works on named locks, which outlive the query on the ' +
        'pooled connection and block other sessions; remove it: a trigger query only reads')],
    ['a mysql trigger without credentials gets the whole parse: no connection at all', so('nohost', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: '3' } }] }), world(),
      denied('triggers[0].metadata.host: triggers[0] has no connection: set host, port, dbName and username in metadata with the password in a ' +
        'TriggerAuthentication, or give connectionString through a TriggerAuthentication (or connectionStringFromEnv)')],
    ['a password in plain metadata, with no TriggerAuthentication to hold it', so('plain', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: '3', host: 'db', username: 'u', dbName: 'd', password: 'pw' } }] }), world(),
      denied('triggers[0].metadata.password must not hold a credential in plain metadata: put it in a Secret and reference it from a ' +
        'TriggerAuthentication (parameter password), or name an env var with passwordFromEnv')],
    ['a cron trigger the cron parser refuses', so('cron', { triggers: [{ type: 'cron', metadata: { ...CRON.metadata, start: '0 6 * *' } }] }), world(),
      denied('triggers[0].metadata.start: "0 6 * *" has 4 field(s); use 5 (no seconds): minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"')],
    ['a cron trigger with an authenticationRef it does not read is still parsed whole',
      so('cronauth', { triggers: [{ type: 'cron', metadata: { ...CRON.metadata, timezone: 'Mars/Olympus' }, ...AUTH }] }), world(),
      denied('triggers[0].metadata.timezone: "Mars/Olympus" is not a time zone; use an IANA time zone such as Etc/UTC or Europe/Berlin')],
    ['a metric name of 309 characters', so('longdb', { triggers: [{ type: 'mysql', metadata: { query: QUERY, queryValue: '3', host: 'db', username: 'u', dbName: 'd'.repeat(300) } }] }), world(),
      denied(`triggers[0] makes the metric name "s0-mysql-${'d'.repeat(31)}..." of 309 characters, and queryscaler allows at most 253 ` +
        '(the name goes into the HPA, the status and every metric request): shorten the trigger parameters it is made of')],
    ['paused-replicas "abc"', so('badpause', {}, { annotations: { 'autoscaling.keda.sh/paused-replicas': 'abc' } }), world(),
      denied('metadata.annotations["autoscaling.keda.sh/paused-replicas"]: must be a non-negative integer number of replicas, such as "0"; got "abc"')],
    ['a rule of KEDA\'s beyond the schema', so('idle', { idleReplicaCount: 3, minReplicaCount: 1 }), world(),
      denied('spec.idleReplicaCount: must be less than minReplicaCount: 3 >= 1; lower idleReplicaCount or raise minReplicaCount')],
    ['a name of 55 characters, too long for keda-hpa-<name>', so('x'.repeat(55)), world(),
      denied('metadata.name is 55 characters long, so the HorizontalPodAutoscaler keda-hpa-<name> would be 64, and its name is also the value ' +
        'of its label app.kubernetes.io/name, which holds at most 63: use a name of at most 54 characters, or name the HPA with ' +
        'spec.advanced.horizontalPodAutoscalerConfig.name')],
    ['a name of 55 characters with a short HPA name', so('x'.repeat(55), { advanced: { horizontalPodAutoscalerConfig: { name: 'short' } } }), world(), allowed],
    ['a target another ScaledObject owns', so('second'), world([OWNER]), denied(OWNED)],
    ['a target a foreign HPA scales', so('adopter'), world([], [hpa('manual', 'mycluster', false)]), denied(FOREIGN)],
    ['a foreign HPA adopted with transfer-hpa-ownership',
      so('adopter', { advanced: { horizontalPodAutoscalerConfig: { name: 'manual' } } }, { annotations: { 'scaledobject.keda.sh/transfer-hpa-ownership': 'true' } }),
      world([], [hpa('manual', 'mycluster', false)]), allowed],
    ['an HPA of queryscaler\'s own on the target', so('good'), world([], [hpa('keda-hpa-good', 'mycluster', true)]), allowed],
    ['every problem at once, joined', so('second', { triggers: [{ type: 'kafka', metadata: {} }] }), world([OWNER]),
      denied(`${OWNED}; triggers[0].type: unknown trigger type "kafka"; this autoscaler knows: cron, mysql.`)],
  ];
  for (const [name, object, w, expected] of cases) {
    it(name, () => {
      expect(admitScaledObject('CREATE', object, undefined, w)).to.deep.equal(expected);
    });
  }

  it('admits paused: "maybe" with the warning reconcile writes too', () => {
    expect(admitScaledObject('CREATE', so('maybe', {}, { annotations: { 'autoscaling.keda.sh/paused': 'maybe' } }), undefined, world())).to.deep.equal({
      allowed: true,
      warnings: ['annotation autoscaling.keda.sh/paused is "maybe", which is not a boolean; it pauses autoscaling, as in KEDA: write "true" to pause or "false" to resume'],
    });
  });

  it('shows at most three schema problems and counts the rest, as the Ready condition does', () => {
    const triggers = [1, 2, 3, 4].map((type) => ({ type, metadata: {} }));
    const broken = { ...so('broken'), spec: { scaleTargetRef: { name: 'mycluster' }, triggers } };
    const decision = admitScaledObject('CREATE', broken, undefined, world());
    expect(decision.message).to.equal(
      'spec.triggers[0].type: must be a string; got the number 1 (quote it: "1"); spec.triggers[1].type: must be a string; got the number 2 ' +
        '(quote it: "2"); spec.triggers[2].type: must be a string; got the number 3 (quote it: "3") (and 1 more)',
    );
  });
});

describe('admitScaledObject (UPDATE)', () => {
  it('lets the owner of a target change itself', () => {
    const before = so('first', {}, { creationTimestamp: '2026-12-03T09:00:00Z' });
    const after = so('first', { maxReplicaCount: 5 }, { creationTimestamp: '2026-12-03T09:00:00Z' });
    expect(admitScaledObject('UPDATE', after, before, world([before]))).to.deep.equal(allowed);
  });

  it('lets a refused object stored before the webhook get its finalizer', () => {
    const before = so('second');
    const after = so('second', {}, { finalizers: ['finalizer.keda.sh'] });
    expect(admitScaledObject('UPDATE', after, before, world([OWNER, before]))).to.deep.equal(allowed);
  });

  it('refuses a change that moves onto an owned target, naming the owner', () => {
    const before = so('second', { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'other' } });
    expect(admitScaledObject('UPDATE', so('second'), before, world([OWNER, before]))).to.deep.equal(denied(OWNED));
  });

  it('refuses only the problem a change brings, not one the object had', () => {
    const before = so('second');
    const after = so('second', { triggers: [{ ...CRON, metadata: { ...CRON.metadata, desiredReplicas: 'abc' } }] });
    expect(admitScaledObject('UPDATE', after, before, world([OWNER, before]))).to.deep.equal(
      denied('triggers[0].metadata.desiredReplicas: must be a positive whole number of replicas such as "10"; got "abc"'),
    );
  });

  it('lets a change fix one of several schema problems', () => {
    const triggers = [{ type: 1, metadata: {} }];
    const before = { ...so('broken'), spec: { scaleTargetRef: { name: 'mycluster' }, pollingInterval: 'often', triggers } };
    const after = { ...so('broken'), spec: { scaleTargetRef: { name: 'mycluster' }, triggers } };
    expect(admitScaledObject('UPDATE', after, before, world())).to.deep.equal(allowed);
    expect(admitScaledObject('CREATE', after, undefined, world())).to.deep.equal(denied('spec.triggers[0].type: must be a string; got the number 1 (quote it: "1")'));
  });
});

describe('answerAdmissionReview', () => {
  const review = (request: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
  const scaledObjectKind = { group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject' };

  it('answers with the request uid, 403 and the message', () => {
    const object = so('kafka', { triggers: [{ type: 'kafka', metadata: {} }] });
    expect(answerAdmissionReview(review({ uid: 'u-1', kind: scaledObjectKind, operation: 'CREATE', namespace: 'ns', object }), world())).to.deep.equal({
      review: {
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: 'u-1',
          allowed: false,
          status: { code: 403, reason: 'Forbidden', message: 'triggers[0].type: unknown trigger type "kafka"; this autoscaler knows: cron, mysql.' },
        },
      },
    });
  });

  it('carries warnings on an admission', () => {
    const object = so('maybe', {}, { annotations: { 'autoscaling.keda.sh/paused': 'maybe' } });
    const answer = answerAdmissionReview(review({ uid: 'u-2', kind: scaledObjectKind, operation: 'CREATE', object }), world());
    expect('review' in answer && answer.review.response.warnings?.length).to.equal(1);
  });

  it('takes the namespace from the request when the object leaves it out', () => {
    const object = { ...so('second'), metadata: { name: 'second', creationTimestamp: '2026-12-03T10:00:00Z' } };
    const answer = answerAdmissionReview(review({ uid: 'u-3', kind: scaledObjectKind, operation: 'CREATE', namespace: 'ns', object }), world([OWNER]));
    expect('review' in answer && answer.review.response.status?.message).to.equal(OWNED);
  });

  it('admits what it is not asked to judge: a DELETE, another kind', () => {
    const object = so('kafka', { triggers: [{ type: 'kafka', metadata: {} }] });
    for (const request of [
      { uid: 'd', kind: scaledObjectKind, operation: 'DELETE', oldObject: object },
      { uid: 'k', kind: { group: 'keda.sh', version: 'v1alpha1', kind: 'TriggerAuthentication' }, operation: 'CREATE', object },
    ]) {
      expect(answerAdmissionReview(review(request), world())).to.deep.equal({
        review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, allowed: true } },
      });
    }
  });

  it('says what is wrong with a body that is no v1 AdmissionReview', () => {
    expect(answerAdmissionReview({ kind: 'Pod' }, world())).to.deep.equal({ error: 'the body is not an AdmissionReview' });
    expect(answerAdmissionReview({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } }, world())).to.deep.equal({
      error: 'AdmissionReview admission.k8s.io/v1beta1 is not supported; register the webhook with admissionReviewVersions: [v1]',
    });
    expect(answerAdmissionReview(review({}), world())).to.deep.equal({ error: 'the AdmissionReview has no request with a uid' });
  });
});
