// `queryscaler explain` and `kubectl queryscaler explain` as a user runs them: child processes
// against the real control plane and MariaDB (live), and against manifest files with no cluster at
// all (offline), asserting the exact text printed and the exit code.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';
import type { ControlPlane } from '../support/control-plane.js';
import { applyYaml, createTestNamespace, deleteTestNamespace, installCrds, waitFor } from '../support/kube.js';
import type { MariaDb } from '../support/mariadb.js';
import { createSeedTable, seedKedaObjects, seedStatefulSetObjects, setSeedRowCount, toYaml } from '../support/seed-scenario.js';
import { sharedControlPlane, sharedMariaDb } from '../support/shared.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CRDS = path.join(ROOT, 'crds');
// createRequire, not import.meta.resolve: mocha loads this file with require() (tsx compiles it), and
// a file that only ESM can load would get module instances of its own, its own shared control plane included.
const TSX = createRequire(import.meta.url).resolve('tsx');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

const queryscaler = (args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Run> => run(process.execPath, ['--import', TSX, 'src/main.ts', ...args], env);

describe('queryscaler explain @integration', function () {
  this.timeout(120_000);

  let cp: ControlPlane;
  let db: MariaDb;
  let ns = '';
  let scratch = '';
  let offline: string[] = [];

  before(async () => {
    [cp, db] = await Promise.all([sharedControlPlane(), sharedMariaDb()]);
    await installCrds(cp, CRDS);
    await createSeedTable(db);
    await setSeedRowCount(db, 100);
    ns = await createTestNamespace(cp, 'explain');
    await applyYaml(cp, toYaml(seedStatefulSetObjects()), ns);
    await applyYaml(cp, toYaml(seedKedaObjects(db)), ns);
    // The StatefulSet controller creates the pod (it stays Pending): /scale then says 1 of 1.
    await waitFor(async () => (await cp.kubeConfig.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: 'mycluster', namespace: ns })).status?.replicas === 1, {
      what: 'StatefulSet mycluster to have its pod',
    });
    scratch = await mkdtemp(path.join(tmpdir(), 'explain-'));
    const files = { keda: path.join(scratch, 'keda.yaml'), sts: path.join(scratch, 'statefulset.yaml') };
    await writeFile(files.keda, toYaml(seedKedaObjects(db)));
    await writeFile(files.sts, toYaml(seedStatefulSetObjects()));
    offline = ['-f', files.keda, '-f', files.sts, '-n', 'mysql-cluster'];
    // The kubectl plugin as an installed package provides it: an executable kubectl-queryscaler on PATH.
    await writeFile(path.join(scratch, 'kubectl-queryscaler'), `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${ROOT}src/kubectl-queryscaler.ts" "$@"\n`);
    await chmod(path.join(scratch, 'kubectl-queryscaler'), 0o755);
  });

  after(async () => {
    if (ns !== '') await deleteTestNamespace(cp, ns);
    if (scratch !== '') await rm(scratch, { recursive: true, force: true });
  });

  const ACCOUNT =
    "  account      the MySQL account 'root'@'127.0.0.1' that the trigger uses holds more than SELECT: ALL PRIVILEGES ON *.*; WITH GRANT OPTION ON *.*. " +
    "A trigger query only reads: give it an account of its own that can do nothing else, e.g. CREATE USER 'queryscaler'@'%' IDENTIFIED BY '<password>'; " +
    "GRANT SELECT ON `testdb`.* TO 'queryscaler'@'%'; and put that user and password in the TriggerAuthentication's Secret";
  const settings = (namespace: string, assumed?: string): string[] => [
    `ScaledObject ${namespace}/mysql-scaledobject`,
    `  target       StatefulSet ${namespace}/mycluster at 1 replica (1 pod)`,
    ...(assumed === undefined ? [] : [`  assumed      ${assumed}`]),
    '  HPA          keda-hpa-mysql-scaledobject: 1 to 10 replicas (minReplicaCount 1, maxReplicaCount 10)',
    '  tolerance    0.1: a usage ratio from 0.9 to 1.1 keeps the count',
    '  scale up     at once; at most +4 pods per 15 s or +100 % per 15 s, whichever is more (selectPolicy Max)',
    '  scale down   after 300 s of lower recommendations (stabilization window); at most -100 % per 15 s',
    '  polling      every 1 s; cooldownPeriod 10 s',
    '',
    'triggers[0] mysql: metric s0-mysql-testdb, AverageValue target 3 per pod',
    "  query        SELECT CEIL(COUNT(*) / 6) FROM testdb.testtable WHERE testcolumn2='none'",
  ];
  const reading = [
    '  value        17',
    '  active       yes: 17 > activationQueryValue 0',
    ACCOUNT,
    '  HPA          usage ratio 17 / (3 x 1 pod) = 5.67: ceil(17 / 3) = 6',
    '',
    'Replicas',
    '  the HPA recommends 6 at 1 replica: it scales up first to 5, as far as the policies allow in one period, then on to 6',
  ];
  const whatIfTitle = "What if (triggers[0] at value 17, from 1 replica): replicas after queryscaler's next poll and the HPA's next sync";
  const text = (lines: string[]): string => `${lines.join('\n')}\n`;

  it('live: prints the value, activity, the HPA arithmetic and a what-if table; exit 0', async () => {
    const result = await queryscaler(['explain', 'so/mysql-scaledobject', '-n', ns, '--kubeconfig', cp.kubeconfigPath, '--query-value', '2,3,5']);
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal(
      text([
        ...settings(ns),
        ...reading,
        '',
        whatIfTitle,
        '  queryValue  activationQueryValue  active  replicas',
        '  2           0                     yes     9',
        '  3           0                     yes     6         as now',
        '  5           0                     yes     4',
      ]),
    );
    expect(result.code).to.equal(0);
  });

  it('offline: the same from manifest files, with no cluster at all', async () => {
    const result = await queryscaler(['explain', ...offline, '--activation-query-value', '10,20', '--current-replicas', '0'], { KUBECONFIG: '/nonexistent' });
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal(
      text([
        'ScaledObject mysql-cluster/mysql-scaledobject',
        '  target       StatefulSet mysql-cluster/mycluster at 0 replicas (0 pods)',
        '  assumed      0 replicas as --current-replicas says (pods assumed ready)',
        ...settings('mysql-cluster').slice(2),
        '  value        17',
        '  active       yes: 17 > activationQueryValue 0',
        ACCOUNT,
        '  HPA          usage ratio 17 / (3 x 1 pod) = 5.67: ceil(17 / 3) = 6',
        '',
        'Replicas',
        '  a trigger is active and the target is at 0 replicas: queryscaler scales it to 1 at the next poll, and the HPA takes over',
        '  the HPA recommends 6 at 1 replica: it scales up first to 5, as far as the policies allow in one period, then on to 6',
        '',
        "What if (triggers[0] at value 17, from 0 replicas): replicas after queryscaler's next poll and the HPA's next sync",
        '  queryValue  activationQueryValue  active  replicas',
        '  3           10                    yes     6         activated to 1 first',
        '  3           20                    no      6         raised to minReplicaCount 1 first',
      ]),
    );
    expect(result.code).to.equal(0);
  });

  it('kubectl queryscaler explain: the plugin on PATH says the same', async () => {
    const result = await run('kubectl', ['queryscaler', 'explain', 'so/mysql-scaledobject', '-n', ns, '--kubeconfig', cp.kubeconfigPath], {
      PATH: `${scratch}:${process.env.PATH ?? ''}`,
    });
    expect([result.code, result.stderr, result.stdout]).to.deep.equal([0, '', text([...settings(ns), ...reading])]);
  });

  it('a failing query prints what it resolved and the reason; exit 4', async () => {
    const result = await queryscaler(['explain', ...offline, '--set', 'password=not-the-password']);
    const refused =
      `MySQL at 127.0.0.1:${db.port} refused the login of user 'root': Access denied for user 'root'@'127.0.0.1' (using password: YES). ` +
      'Check the username and password that the TriggerAuthentication supplies (its Secret) against the database user';
    expect(result.stdout).to.equal(
      text([
        ...settings('mysql-cluster', "1 pod, running and ready, as the StatefulSet's spec.replicas in the files says"),
        `  value        none: AccessDenied: ${refused}`,
      ]),
    );
    expect(result.stderr).to.equal(`error: triggers[0] (metric s0-mysql-testdb): ${refused}\n`);
    expect(result.stdout + result.stderr).not.to.include('not-the-password');
    expect(result.code).to.equal(4);
  });

  it('a ScaledObject that is not there, or whose TriggerAuthentication is not: exit 3, with the controller\'s words', async () => {
    const missing = await queryscaler(['explain', 'so/nope', '-n', ns, '--kubeconfig', cp.kubeconfigPath]);
    expect([missing.code, missing.stdout, missing.stderr]).to.deep.equal([
      3,
      '',
      `error: ScaledObject ${ns}/nope not found in the cluster of ${cp.server}; kubectl get scaledobjects -n ${ns} lists those there are\n`,
    ]);

    const so = seedKedaObjects(db).find((o) => o.kind === 'ScaledObject') as { metadata: { name: string }; spec: { triggers: Array<{ authenticationRef: { name: string } }> } };
    so.metadata.name = 'no-auth';
    for (const trigger of so.spec.triggers) trigger.authenticationRef.name = 'nope';
    await applyYaml(cp, toYaml([so as never]), ns);
    const noAuth = await queryscaler(['explain', 'so/no-auth', '-n', ns, '--kubeconfig', cp.kubeconfigPath]);
    expect([noAuth.code, noAuth.stdout, noAuth.stderr]).to.deep.equal([
      3,
      '',
      `error: triggers[0].authenticationRef.name: TriggerAuthentication "nope" not found in namespace ${ns}. ` +
        'A TriggerAuthentication must be in the same namespace as the ScaledObject; to share one across namespaces use kind: ClusterTriggerAuthentication.\n',
    ]);
  });

  it('a cluster that does not answer: exit 5', async () => {
    const unreachable = path.join(scratch, 'unreachable.kubeconfig');
    await writeFile(unreachable, (await readFile(cp.kubeconfigPath, 'utf8')).replace(cp.server, 'https://127.0.0.1:1'));
    const result = await queryscaler(['explain', 'so/mysql-scaledobject', '-n', ns, '--kubeconfig', unreachable]);
    expect([result.code, result.stdout, result.stderr]).to.deep.equal([
      5,
      '',
      `error: cannot reach the cluster of https://127.0.0.1:1 to read ScaledObject ${ns}/mysql-scaledobject: ` +
        `GET /apis/keda.sh/v1alpha1/namespaces/${ns}/scaledobjects/mysql-scaledobject failed: connect ECONNREFUSED 127.0.0.1:1\n`,
    ]);
  });

  it('bad input on the command line: exit 2, with what to write instead', async () => {
    const cases: Array<{ args: string[]; stderr: string }> = [
      { args: ['explain', ...offline, '--query-value', '0'], stderr: 'error: --query-value 0: triggers[0].metadata.queryValue is 0; it must be at least 0.001\n' },
      { args: ['explain', ...offline, '--query-value', '2,x'], stderr: `error: option '--query-value <list>' argument '2,x' is invalid. "2,x" is not a comma-separated list of numbers, e.g. 2,3,5\n` },
      { args: ['explain', ...offline, '--query-value', '2', '--trigger', '1'], stderr: 'error: --trigger 1: ScaledObject mysql-cluster/mysql-scaledobject has 1 trigger(s), triggers[0] to triggers[0]\n' },
      { args: ['explain', 'deploy/mycluster', ...offline], stderr: 'error: "deploy/mycluster" is not a ScaledObject: write so/<name>\n' },
      { args: ['explain', '-f', '/nonexistent.yaml'], stderr: "error: cannot read --file /nonexistent.yaml: ENOENT: no such file or directory, open '/nonexistent.yaml'\n" },
      { args: ['explain', ...offline, '--set', 'password'], stderr: 'error: --set takes <parameter>=<value>, e.g. --set password=...; got one without "=" (or without a parameter name)\n' },
      { args: ['explain'], stderr: 'error: name the ScaledObject (so/<name>), or give its manifest with --file for an explanation without a cluster\n' },
      { args: ['explain', '--bogus'], stderr: "error: unknown option '--bogus'\n" },
    ];
    for (const c of cases) {
      const result = await queryscaler(c.args);
      expect([c.args.join(' '), result.code, result.stdout, result.stderr]).to.deep.equal([c.args.join(' '), 2, '', c.stderr]);
    }
  });

  it('an invalid ScaledObject in a file: exit 3, with the validation problem', async () => {
    const so = seedKedaObjects(db).find((o) => o.kind === 'ScaledObject') as { spec: { minReplicaCount: number; maxReplicaCount: number } };
    so.spec.minReplicaCount = 5;
    so.spec.maxReplicaCount = 2;
    const file = path.join(scratch, 'invalid.yaml');
    await writeFile(file, toYaml([so as never]));
    const result = await queryscaler(['explain', '-f', file]);
    expect([result.code, result.stdout, result.stderr]).to.deep.equal([
      3,
      '',
      'error: ScaledObject default/mysql-scaledobject is invalid: spec.minReplicaCount: must not exceed maxReplicaCount: 5 > 2; lower minReplicaCount or raise maxReplicaCount\n',
    ]);
  });
});
