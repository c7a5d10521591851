import { expect } from 'chai';

import {
  guardRailWarnings,
  hostPointsAtTarget,
  type GuardRailInput,
  type GuardRailWarning,
} from '../../src/controller/guard-rails.js';

const target = { namespace: 'mysql-cluster', targetName: 'mycluster' };

describe('hostPointsAtTarget', () => {
  const table: Array<[host: string, expected: boolean, serviceName?: string]> = [
    ['mycluster-instances.mysql-cluster.svc.cluster.local', true],
    ['mycluster.mysql-cluster.svc.cluster.local', true],
    ['mycluster.mysql-cluster.svc', true],
    ['mycluster.mysql-cluster.svc.cluster.local.', true],
    ['mycluster.mysql-cluster', true],
    ['mycluster', true],
    ['mycluster-instances', true],
    ['MyCluster.Mysql-Cluster.SVC.Cluster.Local', true],
    ['mycluster:3306', true],
    ['mycluster.mysql-cluster:3306', true],
    ['mycluster-0.mycluster-instances.mysql-cluster.svc.cluster.local', true],
    ['mycluster-2.mycluster-instances.mysql-cluster', true],
    ['mycluster-0.mycluster-instances', true],
    ['mycluster-1.mysql-headless.mysql-cluster.svc.cluster.local', true, 'mysql-headless'],
    ['mysql-headless', true, 'mysql-headless'],
    ['mysql-headless', false],
    ['mycluster.other-ns.svc.cluster.local', false],
    ['mycluster.other-ns', false],
    ['mycluster-router.mysql-cluster.svc', false],
    ['mycluster2.mysql-cluster.svc', false],
    ['othercluster-0.mycluster-instances.mysql-cluster.svc', false],
    ['mycluster-x.mycluster-instances.mysql-cluster.svc', false],
    ['mycluster-0.other-instances.mysql-cluster.svc', false],
    ['10.0.0.5', false],
    ['127.0.0.1:3306', false],
    ['::1', false],
    ['[::1]:3306', false],
    ['db.example.com', false],
    ['mycluster.mysql-cluster.example.com', false],
    ['', false],
    ['mycluster..mysql-cluster', false],
  ];
  for (const [host, expected, serviceName] of table) {
    it(`${JSON.stringify(host)}${serviceName ? ` (serviceName ${serviceName})` : ''} -> ${expected}`, () => {
      expect(hostPointsAtTarget(host, { ...target, serviceName })).to.equal(expected);
    });
  }
});

const operatorLabels = {
  tier: 'mysql',
  'mysql.oracle.com/cluster': 'mycluster',
  'mysql.oracle.com/instance-type': 'group-member',
  'app.kubernetes.io/name': 'mysql-innodbcluster',
  'app.kubernetes.io/instance': 'mysql-innodbcluster-mycluster',
  'app.kubernetes.io/component': 'database',
  'app.kubernetes.io/managed-by': 'mysql-operator',
  'app.kubernetes.io/created-by': 'mysql-operator',
};

const seed: GuardRailInput = {
  namespace: 'mysql-cluster',
  targetKind: 'StatefulSet',
  targetName: 'mycluster',
  targetLabels: operatorLabels,
  podTemplateLabels: { ...operatorLabels, component: 'mysqld' },
  containerNames: ['sidecar', 'mysql'],
  minReplicaCount: 1,
  maxReplicaCount: 10,
  triggerHosts: ['mycluster-instances.mysql-cluster.svc.cluster.local'],
};

const memberLimit = (max: number, evidence: string, kindAndName = 'StatefulSet mysql-cluster/mycluster'): GuardRailWarning => ({
  reason: 'InnoDBClusterMemberLimit',
  message:
    `${kindAndName} is a MySQL InnoDB Cluster (${evidence}), and Group Replication holds at most 9 members: ` +
    `with maxReplicaCount ${max}, pod 10 and beyond would never join the group. Set maxReplicaCount to 9.`,
});

const ownDatabase = (
  field: 'minReplicaCount' | 'idleReplicaCount',
  hostsPhrase: string,
  kindAndName = 'StatefulSet mysql-cluster/mycluster',
): GuardRailWarning => ({
  reason: 'ScaleToZeroOwnDatabase',
  message:
    `${field} is 0, but ${hostsPhrase} ${kindAndName} itself: scaled to zero, the database has nothing left to run ` +
    'the query, so the trigger could never turn active to scale it back up. ' +
    (field === 'minReplicaCount' ? 'Set minReplicaCount to 1 or more.' : 'Remove idleReplicaCount or set it to 1 or more.'),
});

const ONE_HOST = 'mysql trigger host "mycluster-instances.mysql-cluster.svc.cluster.local" is';

describe('guardRailWarnings', () => {
  const table: Array<[name: string, input: Partial<GuardRailInput>, expected: GuardRailWarning[]]> = [
    ['the seed scenario (min 1, max 10 on the InnoDB Cluster)', {}, [memberLimit(10, 'label mysql.oracle.com/cluster=mycluster')]],
    ['max 9 on the InnoDB Cluster', { maxReplicaCount: 9 }, []],
    ['min 0 on the database the trigger queries', { minReplicaCount: 0, maxReplicaCount: 9 }, [ownDatabase('minReplicaCount', ONE_HOST)]],
    [
      'min 0 and max 12: both, in that order',
      { minReplicaCount: 0, maxReplicaCount: 12 },
      [ownDatabase('minReplicaCount', ONE_HOST), memberLimit(12, 'label mysql.oracle.com/cluster=mycluster')],
    ],
    [
      'idle 0 with min 1 on the database the trigger queries',
      { idleReplicaCount: 0, maxReplicaCount: 3 },
      [ownDatabase('idleReplicaCount', ONE_HOST)],
    ],
    [
      'two triggers on the same database, one host repeated',
      {
        minReplicaCount: 0,
        maxReplicaCount: 3,
        triggerHosts: ['mycluster', 'mycluster-0.mycluster-instances.mysql-cluster.svc', 'mycluster', 'reports-db'],
      },
      [ownDatabase('minReplicaCount', 'mysql trigger hosts "mycluster", "mycluster-0.mycluster-instances.mysql-cluster.svc" are')],
    ],
    ['min 0 while the trigger queries another database', { minReplicaCount: 0, maxReplicaCount: 3, triggerHosts: ['reports-db.shared.svc'] }, []],
    ['min 0 without mysql triggers', { minReplicaCount: 0, maxReplicaCount: 3, triggerHosts: [] }, []],
    [
      'min 0 on a Deployment that is the database',
      {
        targetKind: 'Deployment',
        targetName: 'mariadb',
        targetLabels: {},
        podTemplateLabels: {},
        containerNames: ['mariadb'],
        minReplicaCount: 0,
        maxReplicaCount: 1,
        triggerHosts: ['mariadb.mysql-cluster.svc.cluster.local'],
      },
      [
        ownDatabase(
          'minReplicaCount',
          'mysql trigger host "mariadb.mysql-cluster.svc.cluster.local" is',
          'Deployment mysql-cluster/mariadb',
        ),
      ],
    ],
    [
      'a read-replica StatefulSet of the operator, max 12',
      {
        targetName: 'mycluster-rr',
        targetLabels: { ...operatorLabels, 'mysql.oracle.com/instance-type': 'read-replica' },
        podTemplateLabels: { ...operatorLabels, 'mysql.oracle.com/instance-type': 'read-replica' },
        maxReplicaCount: 12,
      },
      [],
    ],
    [
      'labels only on the pod template',
      { targetLabels: {}, maxReplicaCount: 11 },
      [memberLimit(11, 'label mysql.oracle.com/cluster=mycluster')],
    ],
    [
      'only app.kubernetes.io/created-by',
      { targetLabels: { 'app.kubernetes.io/created-by': 'mysql-operator' }, podTemplateLabels: {} },
      [memberLimit(10, 'label app.kubernetes.io/created-by=mysql-operator')],
    ],
    [
      'only app.kubernetes.io/managed-by',
      { targetLabels: { 'app.kubernetes.io/managed-by': 'mysql-operator' }, podTemplateLabels: {} },
      [memberLimit(10, 'label app.kubernetes.io/managed-by=mysql-operator')],
    ],
    [
      'no labels, the operator\'s containers',
      { targetLabels: {}, podTemplateLabels: {} },
      [memberLimit(10, 'containers "mysql" and "sidecar", as the MySQL Operator makes them')],
    ],
    [
      'no labels, a plain MySQL StatefulSet, max 20',
      { targetLabels: {}, podTemplateLabels: { app: 'mysql' }, containerNames: ['mysql'], maxReplicaCount: 20 },
      [],
    ],
    [
      'a Deployment with the operator\'s containers, max 20',
      { targetKind: 'Deployment', targetLabels: {}, podTemplateLabels: {}, maxReplicaCount: 20 },
      [],
    ],
  ];
  for (const [name, overrides, expected] of table) {
    it(name, () => {
      expect(guardRailWarnings({ ...seed, ...overrides })).to.deep.equal(expected);
    });
  }
});
