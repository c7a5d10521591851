import { expect } from 'chai';
import type { TriggerAuthentication } from '../../src/api/types.js';
import {
  containerEnv,
  CredentialError,
  References,
  resolveAuthParams,
  selectContainer,
  type AuthContext,
  type ContainerSpec,
  type Lookup,
} from '../../src/controller/credentials.js';

const TARGET = { kind: 'StatefulSet', namespace: 'mysql-cluster', name: 'mycluster' };
const CONTAINERS: ContainerSpec[] = [
  { name: 'sidecar', env: [{ name: 'ROLE', value: 'sidecar' }] },
  {
    name: 'mysql',
    envFrom: [{ configMapRef: { name: 'mysql-config' }, prefix: 'CFG_' }],
    env: [
      { name: 'MYSQL_HOST', value: '127.0.0.1' },
      { name: 'MYSQL_PASSWORD', valueFrom: { secretKeyRef: { name: 'mysql-secrets', key: 'mysql_password' } } },
      { name: 'CFG_port', value: 'overridden' },
      { name: 'OPTIONAL', valueFrom: { secretKeyRef: { name: 'nope', key: 'x', optional: true } } },
    ],
  },
];

function seedAuth(namespace = 'mysql-cluster'): TriggerAuthentication {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name: 'keda-trigger-auth-mysql-secret', namespace },
    spec: {
      secretTargetRef: [
        { parameter: 'host', name: 'mysql-secrets', key: 'mysql_host' },
        { parameter: 'port', name: 'mysql-secrets', key: 'mysql_port' },
        { parameter: 'dbName', name: 'mysql-secrets', key: 'mysql_db' },
        { parameter: 'username', name: 'mysql-secrets', key: 'mysql_user' },
        { parameter: 'password', name: 'mysql-secrets', key: 'mysql_password' },
      ],
    },
  };
}

const SEED_SECRET = { mysql_host: '127.0.0.1', mysql_port: '3306', mysql_db: 'testdb', mysql_user: 'root', mysql_password: 'sakila' };

function lookup(objects: {
  secrets?: Record<string, Record<string, string>>;
  configMaps?: Record<string, Record<string, string>>;
  auths?: TriggerAuthentication[];
  clusterAuths?: TriggerAuthentication[];
}): Lookup {
  return {
    secret: (ns, name) => objects.secrets?.[`${ns}/${name}`],
    configMap: (ns, name) => objects.configMaps?.[`${ns}/${name}`],
    triggerAuthentication: (ns, name) => objects.auths?.find((a) => a.metadata.namespace === ns && a.metadata.name === name),
    clusterTriggerAuthentication: (name) => objects.clusterAuths?.find((a) => a.metadata.name === name),
    triggerAuthenticationNamespaces: (name) => (objects.auths ?? []).filter((a) => a.metadata.name === name).map((a) => a.metadata.namespace ?? ''),
  };
}

function context(l: Lookup, references?: References): AuthContext {
  return {
    namespace: 'mysql-cluster',
    clusterNamespace: 'queryscaler',
    triggerIndex: 0,
    lookup: l,
    envOf: (containerName) => containerEnv(selectContainer(TARGET, CONTAINERS, containerName ?? 'mysql'), TARGET, l),
    ...(references && { references }),
  };
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(CredentialError);
    return (error as Error).message;
  }
  throw new Error('expected a CredentialError');
}

describe('selectContainer', () => {
  const cases: Array<{ name: string; wanted: string | undefined; want: string }> = [
    { name: 'no name: the first container', wanted: undefined, want: 'sidecar' },
    { name: 'by name', wanted: 'mysql', want: 'mysql' },
  ];
  for (const c of cases) {
    it(c.name, () => expect(selectContainer(TARGET, CONTAINERS, c.wanted).name).to.equal(c.want));
  }

  it("turns the seed's container error into one that names the containers and the fix", () => {
    expect(errorOf(() => selectContainer(TARGET, CONTAINERS, '.spec.template.spec.containers[0]'))).to.equal(
      'scaleTargetRef.envSourceContainerName: StatefulSet mysql-cluster/mycluster has no container named ' +
        '".spec.template.spec.containers[0]"; its containers are: sidecar, mysql. ' +
        'Set envSourceContainerName to one of them (or leave it out to use the first).',
    );
  });
});

describe('containerEnv', () => {
  it('builds envFrom then env (env wins), reads Secret keys, skips optional misses', () => {
    const l = lookup({ secrets: { 'mysql-cluster/mysql-secrets': SEED_SECRET }, configMaps: { 'mysql-cluster/mysql-config': { port: '3306', db: 'testdb' } } });
    const references = new References();
    expect(containerEnv(CONTAINERS[1]!, TARGET, l, references)).to.deep.equal({
      CFG_port: 'overridden',
      CFG_db: 'testdb',
      MYSQL_HOST: '127.0.0.1',
      MYSQL_PASSWORD: 'sakila',
    });
    expect([...references.refs].sort()).to.deep.equal(['ConfigMap/mysql-cluster/mysql-config', 'Secret/mysql-cluster/mysql-secrets', 'Secret/mysql-cluster/nope']);
  });

  it('names the missing key and lists the keys there are, never their values', () => {
    const l = lookup({ secrets: { 'mysql-cluster/mysql-secrets': { other: 'sakila' } }, configMaps: { 'mysql-cluster/mysql-config': {} } });
    const message = errorOf(() => containerEnv(CONTAINERS[1]!, TARGET, l));
    expect(message).to.equal(
      'scaleTargetRef: StatefulSet mysql-cluster/mycluster container "mysql": env[1] (MYSQL_PASSWORD) reads key "mysql_password" of Secret mysql-cluster/mysql-secrets, which has no such key; its keys are: other.',
    );
    expect(message).not.to.contain('sakila');
  });
});

describe('resolveAuthParams', () => {
  it('resolves the seed TriggerAuthentication from its Secret and records what it read', () => {
    const references = new References();
    const params = resolveAuthParams({ name: 'keda-trigger-auth-mysql-secret' }, context(lookup({ secrets: { 'mysql-cluster/mysql-secrets': SEED_SECRET }, auths: [seedAuth()] }), references));
    expect(params).to.deep.equal({ host: '127.0.0.1', port: '3306', dbName: 'testdb', username: 'root', password: 'sakila' });
    expect([...references.refs].sort()).to.deep.equal(['Secret/mysql-cluster/mysql-secrets', 'TriggerAuthentication/mysql-cluster/keda-trigger-auth-mysql-secret']);
  });

  it('no authenticationRef: no parameters', () => {
    expect(resolveAuthParams(undefined, context(lookup({})))).to.deep.equal({});
  });

  it('ClusterTriggerAuthentication reads from the configured namespace; env and configMap entries too', () => {
    const cluster: TriggerAuthentication = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ClusterTriggerAuthentication',
      metadata: { name: 'shared' },
      spec: {
        secretTargetRef: [{ parameter: 'password', name: 'db', key: 'pw' }],
        configMapTargetRef: [{ parameter: 'host', name: 'db', key: 'host' }],
        env: [{ parameter: 'username', name: 'ROLE', containerName: 'sidecar' }],
      },
    };
    const l = lookup({ secrets: { 'queryscaler/db': { pw: 'x' } }, configMaps: { 'queryscaler/db': { host: 'db.local' } }, clusterAuths: [cluster] });
    expect(resolveAuthParams({ name: 'shared', kind: 'ClusterTriggerAuthentication' }, context(l))).to.deep.equal({ password: 'x', host: 'db.local', username: 'sidecar' });
  });

  const failures: Array<{ name: string; l: Lookup; ref?: { name: string; kind?: 'ClusterTriggerAuthentication' }; want: string }> = [
    {
      name: 'TriggerAuthentication in another namespace',
      l: lookup({ auths: [seedAuth('other')] }),
      want:
        'triggers[0].authenticationRef.name: TriggerAuthentication "keda-trigger-auth-mysql-secret" not found in namespace mysql-cluster (one exists in namespace other). ' +
        'A TriggerAuthentication must be in the same namespace as the ScaledObject; to share one across namespaces use kind: ClusterTriggerAuthentication.',
    },
    {
      name: 'TriggerAuthentication nowhere',
      l: lookup({}),
      want:
        'triggers[0].authenticationRef.name: TriggerAuthentication "keda-trigger-auth-mysql-secret" not found in namespace mysql-cluster. ' +
        'A TriggerAuthentication must be in the same namespace as the ScaledObject; to share one across namespaces use kind: ClusterTriggerAuthentication.',
    },
    {
      name: 'missing Secret',
      l: lookup({ auths: [seedAuth()] }),
      want:
        'TriggerAuthentication mysql-cluster/keda-trigger-auth-mysql-secret spec.secretTargetRef[0]: parameter "host" names Secret mysql-cluster/mysql-secrets, which does not exist. ' +
        'Create it in namespace mysql-cluster or fix the name.',
    },
    {
      name: 'missing key',
      l: lookup({ auths: [seedAuth()], secrets: { 'mysql-cluster/mysql-secrets': { mysql_host: 'h', mysql_db: 'testdb', mysql_user: 'root', mysql_password: 'sakila' } } }),
      want:
        'TriggerAuthentication mysql-cluster/keda-trigger-auth-mysql-secret spec.secretTargetRef[1]: parameter "port" reads key "mysql_port" of Secret mysql-cluster/mysql-secrets, which has no such key; ' +
        'its keys are: mysql_db, mysql_host, mysql_password, mysql_user. Add the key or fix the key name.',
    },
    {
      name: 'only a provider queryscaler does not read (podIdentity)',
      // Fields beyond our typed subset, as the API server stores them.
      l: lookup({ auths: [{ ...seedAuth(), spec: { podIdentity: { provider: 'aws' } } as TriggerAuthentication['spec'] }] }),
      want:
        'triggers[0].authenticationRef.name: TriggerAuthentication mysql-cluster/keda-trigger-auth-mysql-secret gets its parameters only from podIdentity, ' +
        'which queryscaler does not support; give them with secretTargetRef, configMapTargetRef or env.',
    },
    {
      name: 'missing ClusterTriggerAuthentication',
      l: lookup({}),
      ref: { name: 'shared', kind: 'ClusterTriggerAuthentication' },
      want: 'triggers[0].authenticationRef.name: ClusterTriggerAuthentication "shared" not found. Create it or fix the name.',
    },
  ];
  for (const f of failures) {
    it(f.name, () => {
      const message = errorOf(() => resolveAuthParams(f.ref ?? { name: 'keda-trigger-auth-mysql-secret' }, context(f.l)));
      expect(message).to.equal(f.want);
      expect(message).not.to.contain('sakila');
    });
  }
});
