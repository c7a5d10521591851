// What the Dockerfile's final stage holds, assembled the same way outside Docker (this machine has
// no container engine): package.json and the lock file installed with `npm ci --omit=dev`, the
// compiled dist/src and crds/. queryscaler must start from that alone, so no module of src/ may
// import a dev dependency; and the image tag the manifests name must be the package's version.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('the production install (the Dockerfile\'s final stage, without Docker) @integration', function () {
  this.timeout(300_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'queryscaler-prod-'));
    for (const file of ['package.json', 'package-lock.json']) await cp(join(ROOT, file), join(dir, file));
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, timeout: 240_000 });
    const build = join(dir, 'build');
    await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(ROOT, 'tsconfig.json'), '--outDir', build], { cwd: ROOT, timeout: 240_000 });
    await cp(join(build, 'src'), join(dir, 'dist/src'), { recursive: true });
    await rm(build, { recursive: true });
    await cp(join(ROOT, 'crds'), join(dir, 'crds'), { recursive: true });
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('holds none of the build and test tools', async () => {
    const { devDependencies } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    // Some are also dependencies of runtime packages (@types/node of the Kubernetes client); the tools must not be there.
    const present = await Promise.all(['mocha', 'chai', 'typescript', 'tsx', 'eslint'].map(async (name) =>
      (await readdir(join(dir, 'node_modules', name)).then(() => true, () => false)) ? name : undefined));
    expect(Object.keys(devDependencies)).to.include.members(['mocha', 'chai', 'typescript', 'tsx', 'eslint']);
    expect(present.filter((name) => name !== undefined)).to.deep.equal([]);
  });

  it('starts: `node dist/src/main.js --help` lists the flags', async () => {
    const { stdout } = await run('node', ['dist/src/main.js', '--help'], { cwd: dir, timeout: 60_000, env: { ...process.env, NODE_ENV: 'production' } });
    for (const flag of ['--metrics-port', '--mysql-pool-size', '--log-level']) expect(stdout).to.include(flag);
  });

  it('is the version the manifests deploy', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const deployment = await readFile(join(ROOT, 'manifests/deployment.yaml'), 'utf8');
    expect(/image:\s*(\S+)/.exec(deployment)?.[1]).to.equal(`ghcr.io/queryscaler/queryscaler:${version}`);
  });
});
