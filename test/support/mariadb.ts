// A throwaway MariaDB server for integration tests: its own datadir under os.tmpdir(), its own
// socket and a free loopback port, started from the Debian mariadb-server binaries. Tests reach it
// through sharedMariaDb() (test/support/shared.ts) unless they are about starting/stopping it or
// need a TLS-enabled instance.
//
// Lifecycle: stop({ keepData: true }) then start() simulates an outage and keeps the data; a plain
// stop() is final and removes the datadir. If the test process exits without stop(), the child is
// killed and the datadir removed by an exit hook.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile, open } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';

const execFileAsync = promisify(execFile);

export interface MariaDb {
  host: string;
  port: number;
  socket: string;
  rootPassword: string;
  dataDir: string;
  /** Runs one statement as root over the socket; rows for a SELECT, the OK header otherwise. */
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
  /** Stops the server. `keepData: true` keeps the datadir so start() can bring it back. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** Starts the server again after stop({ keepData: true }), on the same port and socket. */
  start(): Promise<void>;
  /** Server threads of `user` (information_schema.PROCESSLIST), or Threads_connected without one. */
  threadsConnected(user?: string): Promise<number>;
  /** PEM of the CA that signed the server certificate; set when started with `tls: true`. */
  tlsCaPem?: string;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

function binary(name: string): string {
  // Debian puts mariadbd in /usr/sbin, which is not always on a test runner's PATH.
  return name === 'mariadbd' ? '/usr/sbin/mariadbd' : name;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a probe listener on 127.0.0.1'));
      });
    });
  });
}

async function generateTlsFiles(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const files = {
    caKey: join(dir, 'ca-key.pem'),
    ca: join(dir, 'ca.pem'),
    key: join(dir, 'server-key.pem'),
    csr: join(dir, 'server.csr'),
    cert: join(dir, 'server-cert.pem'),
    ext: join(dir, 'server.ext'),
  };
  const openssl = (args: string[]) => execFileAsync('openssl', args, { timeout: 30_000 });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=queryscaler test CA',
    '-keyout', files.caKey, '-out', files.ca]);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', files.key, '-out', files.csr]);
  await writeFile(files.ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await openssl(['x509', '-req', '-in', files.csr, '-CA', files.ca, '-CAkey', files.caKey, '-CAcreateserial', '-days', '2',
    '-extfile', files.ext, '-out', files.cert]);
  return { ca: files.ca, cert: files.cert, key: files.key };
}

async function tail(path: string, bytes = 2000): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '(no log)';
  }
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startMariaDb(options: { tls?: boolean } = {}): Promise<MariaDb> {
  const dataDir = await mkdtemp(join(tmpdir(), 'queryscaler-mariadb-'));
  const dbDir = join(dataDir, 'data');
  const socket = join(dataDir, 'mysqld.sock');
  const logFile = join(dataDir, 'mariadbd.log');
  const rootPassword = `root-${Math.random().toString(36).slice(2)}`;
  const asUser = process.getuid?.() === 0 ? [`--user=${userInfo().username}`] : [];
  const port = await freeLoopbackPort();

  let child: ChildProcess | undefined;
  let admin: mysql.Connection | undefined;
  let destroyed = false;

  const onExit = () => {
    child?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const serverArgs = [
    '--no-defaults',
    `--datadir=${dbDir}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    // mariadbd refuses to run as root unless told to; as anyone else it runs as that user anyway.
    ...asUser,
    `--pid-file=${join(dataDir, 'mariadbd.pid')}`,
    `--log-error=${logFile}`,
    // Small and fast: a test server holds a few hundred rows and must not compete for the 2 cores.
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-file-size=16M',
    '--innodb-flush-log-at-trx-commit=0',
    '--innodb-doublewrite=0',
    '--skip-log-bin',
    '--performance-schema=OFF',
    '--max-connections=300',
  ];
  let tlsCaPem: string | undefined;
  if (options.tls === true) {
    const tls = await generateTlsFiles(dataDir);
    serverArgs.push(`--ssl-ca=${tls.ca}`, `--ssl-cert=${tls.cert}`, `--ssl-key=${tls.key}`);
    tlsCaPem = await readFile(tls.ca, 'utf8');
  }

  try {
    await execFileAsync('mariadb-install-db', [
      '--no-defaults',
      '--auth-root-authentication-method=normal',
      `--datadir=${dbDir}`,
      ...asUser,
      '--skip-test-db',
      '--skip-name-resolve',
    ], { timeout: 120_000 });
  } catch (err) {
    onExit();
    process.off('exit', onExit);
    throw new Error(`mariadb-install-db failed for ${dbDir}: ${(err as Error).message}`, { cause: err });
  }

  async function connectAdmin(password: string): Promise<mysql.Connection> {
    return mysql.createConnection({ socketPath: socket, user: 'root', password, connectTimeout: 2000 });
  }

  async function launch(password: string): Promise<void> {
    const log = await open(logFile, 'a');
    const started = spawn(binary('mariadbd'), serverArgs, { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    child = started;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`mariadbd (datadir ${dbDir}) exited during start-up: ${await tail(logFile)}`);
      }
      try {
        admin = await connectAdmin(password);
        admin.on('error', () => undefined);
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          started.kill('SIGKILL');
          throw new Error(`mariadbd on port ${port} not ready after ${READY_TIMEOUT_MS} ms: ${(err as Error).message}\n${await tail(logFile)}`,
            { cause: err });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  async function halt(): Promise<void> {
    const running = child;
    child = undefined;
    const connection = admin;
    admin = undefined;
    if (connection !== undefined) connection.destroy();
    if (running === undefined) return;
    running.kill('SIGTERM');
    if (!(await waitForExit(running, STOP_TIMEOUT_MS))) {
      running.kill('SIGKILL');
      await waitForExit(running, STOP_TIMEOUT_MS);
    }
  }

  try {
    await launch('');
    const setup = admin!;
    await setup.query(`ALTER USER 'root'@'localhost' IDENTIFIED BY ?`, [rootPassword]);
    // install-db may or may not create root@127.0.0.1 (it depends on name resolution); TCP tests need it.
    await setup.query(`CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY ?`, [rootPassword]);
    await setup.query(`GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION`);
    await setup.query(`DELETE FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1')`);
    await setup.query('FLUSH PRIVILEGES');
  } catch (err) {
    await halt();
    onExit();
    process.off('exit', onExit);
    throw err;
  }

  const db: MariaDb = {
    host: '127.0.0.1',
    port,
    socket,
    rootPassword,
    dataDir,
    async query<T = unknown>(sql: string, params?: unknown[]): Promise<T> {
      if (admin === undefined) throw new Error(`MariaDB on port ${port} is stopped; call start() first`);
      const [result] = await admin.query(sql, params);
      return result as T;
    },
    async stop(stopOptions: { keepData?: boolean } = {}): Promise<void> {
      await halt();
      if (stopOptions.keepData === true || destroyed) return;
      destroyed = true;
      process.off('exit', onExit);
      await rm(dataDir, { recursive: true, force: true });
    },
    async start(): Promise<void> {
      if (destroyed) throw new Error(`MariaDB datadir ${dataDir} was removed by a final stop(); start a new instance`);
      if (child !== undefined) return;
      await launch(rootPassword);
    },
    async threadsConnected(forUser?: string): Promise<number> {
      if (forUser === undefined) {
        const rows = await db.query<Array<{ Value: string }>>(`SHOW GLOBAL STATUS LIKE 'Threads_connected'`);
        return Number(rows[0]?.Value);
      }
      const rows = await db.query<Array<{ n: number }>>(
        'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?', [forUser]);
      return Number(rows[0]?.n);
    },
  };
  if (tlsCaPem !== undefined) db.tlsCaPem = tlsCaPem;
  return db;
}
