// The published package (issue 12, item 1): built and packed as a release would be, installed into
// a fresh project in a temp dir outside the repository, and used there the way a user would: the
// installed `besterd` on a config in that project, a handler in the project's own TypeScript and
// one in plain JavaScript (both importing bester/handler), `bester send` and `bester listen`.
//
// Offline: the fresh project gets a package-lock.json naming the tarball and pino's dependency tree
// as the checkout's own lockfile has it, and `npm ci --offline` takes those from npm's cache,
// which the checkout's `npm ci` filled (same tarballs, same integrity). A plain `npm install` of
// the tarball would ask the registry for pino's versions, and --offline has none cached.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/daemon.ts';

const run = promisify(execFile);
const work = path.join(os.tmpdir(), `bt-package-${process.pid}-${Date.now()}`);
after(() => rmSync(work, { recursive: true, force: true }));

const NODE_DIR = path.dirname(process.execPath);
/** Node 24 first on PATH, as on a machine that runs the installed package; no BESTER_* from outside. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${NODE_DIR}${path.delimiter}${process.env.PATH ?? ''}`, ...extra };
  for (const key of Object.keys(env)) if (key.startsWith('BESTER_') && !(key in extra)) delete env[key];
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]; // not the checkout's npm run
  return env;
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** package.json and package-lock.json of the fresh project: the tarball, and pino's tree from the checkout's lockfile. */
function writeProject(project: string, tarball: string): void {
  const published = JSON.parse(readFileSync(path.join(work, 'dist', 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; bin: Record<string, string>; license: string };
  const checkout = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const spec = `file:${path.relative(project, tarball)}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'user-project', dependencies: { bester: spec } },
    'node_modules/bester': { version: published.version, resolved: spec, license: published.license, dependencies: published.dependencies, bin: published.bin },
  };
  const queue = Object.keys(published.dependencies);
  for (let guard = 0; queue.length > 0 && guard < 1000; guard += 1) {
    const name = queue.pop()!;
    const key = `node_modules/${name}`;
    if (packages[key]) continue;
    const entry = checkout.packages[key];
    assert.ok(entry, `${name} is not in the checkout's package-lock.json`);
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
    packages[key] = kept;
    queue.push(...Object.keys(entry.dependencies ?? {}));
  }
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module', dependencies: { bester: spec } }, null, 2));
  writeFileSync(path.join(project, 'package-lock.json'), JSON.stringify({ name: 'user-project', lockfileVersion: 3, requires: true, packages }, null, 2));
}

const GREET_TS = `#!/usr/bin/env node
// The README's handler, in the user's own TypeScript.
import { serveHandler, sendClients } from 'bester/handler';

await serveHandler((data) => {
  const { to, name } = data as { to?: unknown; name?: unknown };
  if (typeof to !== 'string') throw new Error('"to" must name a user');
  const greeting: string = \`Hello, \${String(name)}!\`;
  return sendClients([to], { text: greeting });
});
`;

const SHOUT_JS = `#!/usr/bin/env node
// A handler in plain JavaScript.
import { serveHandler, sendClients } from 'bester/handler';

await serveHandler((data) => sendClients([data.to], { text: String(data.text).toUpperCase() }));
`;

const USES_ALL = `import { connect } from 'bester/client';
import { serveHandler } from 'bester/handler';
import { connectInformer } from 'bester/informer';
console.log([connect, serveHandler, connectInformer].map((f) => typeof f).join(' '));
`;

const TSCONFIG = {
  compilerOptions: {
    module: 'nodenext', moduleResolution: 'nodenext', target: 'esnext', strict: true, noEmit: true,
    allowImportingTsExtensions: true, skipLibCheck: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')],
  },
  include: ['handlers/*.ts'],
};

function startDaemon(project: string): { child: ChildProcess; port: Promise<number>; exited: Promise<number | null>; logs: string[] } {
  const child = spawn(path.join(project, 'node_modules/.bin/besterd'), ['server.conf'], { cwd: project, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  const logs: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (s: string) => logs.push(s));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`besterd did not start in 20 s:\n${logs.join('\n')}`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(line);
      const entry = JSON.parse(line) as { msg?: string; listeners?: string[] };
      if (entry.msg !== 'besterd started') return;
      clearTimeout(timer);
      resolve(Number(entry.listeners!.find((a) => a.startsWith('tcp4://'))!.split(':').pop()));
    });
    void exited.then(() => reject(new Error(`besterd exited:\n${logs.join('\n')}`)));
  });
  return { child, port, exited, logs };
}

test('the packed tarball installs offline into a fresh project, whose own handlers and commands work', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  mkdirSync(work, { recursive: true });
  const dist = path.join(work, 'dist');
  await run(process.execPath, [path.join(ROOT, 'scripts/build.ts'), dist], { cwd: ROOT });

  const { stdout: packed } = await run('npm', ['pack', dist, '--json', '--pack-destination', work, '--loglevel=error'], { cwd: work, env: userEnv() });
  const [info] = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = info!.files.map((f) => f.path);
  for (const wanted of ['package.json', 'README.md', 'bin/besterd.js', 'bin/bester.js', 'lib/sdk/client.js', 'lib/sdk/client.d.ts', 'lib/sdk/handler.d.ts', 'lib/sdk/informer.d.ts', 'lib/cli/besterd.js']) {
    assert.ok(files.includes(wanted), `the tarball lacks ${wanted}`);
  }
  const stray = files.filter((f) => /^(test|bench|\.ci|src|examples|scripts|node_modules)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts'));
  assert.deepEqual(stray, [], 'only what users need: no tests, benches, CI, TypeScript sources');

  const project = path.join(work, 'user-project');
  mkdirSync(path.join(project, 'handlers'), { recursive: true });
  writeProject(project, path.join(work, info!.filename));
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, env: userEnv() });
  assert.ok(readdirSync(path.join(project, 'node_modules')).includes('pino'), 'pino installed');

  writeFileSync(path.join(project, 'handlers/greet.ts'), GREET_TS, { mode: 0o755 });
  writeFileSync(path.join(project, 'handlers/shout.js'), SHOUT_JS, { mode: 0o755 });
  chmodSync(path.join(project, 'handlers/greet.ts'), 0o755);
  writeFileSync(path.join(project, 'uses-all.js'), USES_ALL);
  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  writeFileSync(path.join(project, 'server.conf'), JSON.stringify({
    network: { types: ['tcp4'], tcp4: { port: '0', address: '127.0.0.1' } },
    handlers: {
      availableTypes: ['greet', 'shout'],
      typeMap: {
        greet: { handlerBinary: './handlers/greet.ts', unixDomainSocketPath: 'run/greet.sock' },
        shout: { handlerBinary: './handlers/shout.js', unixDomainSocketPath: 'run/shout.sock' },
      },
    },
  }));
  mkdirSync(path.join(project, 'run'));

  // Importable from JavaScript, and type-checked against the installed declarations from TypeScript
  // (the check runs while the daemon part does; it is awaited at the end).
  const { stdout: kinds } = await run(process.execPath, ['uses-all.js'], { cwd: project, env: userEnv() });
  assert.equal(kinds, 'function function function\n');
  const typecheck = run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project }).then(
    () => null,
    (err: Error & { stdout?: string }) => err.stdout ?? err.message,
  );

  const bester = (args: string[], extra: Record<string, string> = {}, input = ''): Promise<{ stdout: string; stderr: string }> => {
    const child = run(path.join(project, 'node_modules/.bin/bester'), args, { cwd: project, env: userEnv(extra), timeout: 20_000 });
    child.child.stdin?.end(input);
    return child;
  };
  const { stdout: version } = await bester(['--version']);
  assert.match(version, /^bester \d+\.\d+\.\d+\n$/);
  await bester(['user', 'add', 'alice', '--config', 'server.conf', '--password-stdin'], {}, 'alice-pw\n');
  await bester(['user', 'add', 'bob', '--config', 'server.conf', '--password-stdin'], {}, 'bob-pw\n');

  const daemon = startDaemon(project);
  let listener: ChildProcess | null = null;
  try {
    const port = await daemon.port;
    const server = `127.0.0.1:${port}`;
    listener = spawn(path.join(project, 'node_modules/.bin/bester'), ['listen', '--server', server, '--user', 'bob', '--count', '2'], {
      cwd: project, env: userEnv({ BESTER_PASSWORD: 'bob-pw' }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    listener.on('error', () => undefined);
    let heard = '';
    let said = '';
    listener.stdout!.setEncoding('utf8').on('data', (s: string) => (heard += s));
    listener.stderr!.setEncoding('utf8').on('data', (s: string) => (said += s));
    const listened = new Promise<number | null>((resolve) => listener!.on('close', (code) => resolve(code)));
    for (let i = 0; i < 200 && !said.includes('listening as bob'); i += 1) await new Promise((r) => setTimeout(r, 50));
    assert.match(said, /listening as bob/);

    const alice = { BESTER_PASSWORD: 'alice-pw' };
    const greet = await bester(['send', '--server', server, '--user', 'alice', 'greet', '{"to":"bob","name":"Bob"}'], alice);
    assert.match(greet.stdout, /^\{"id":"[^"]+","status":"good"\}\n$/);
    const shout = await bester(['send', '--server', server, '--user', 'alice', 'shout', '{"to":"bob","text":"hello"}'], alice);
    assert.match(shout.stdout, /"status":"good"/);
    assert.equal(await listened, 0, said);
    assert.equal(heard, '{"type":"greet","data":{"text":"Hello, Bob!"}}\n{"type":"shout","data":{"text":"HELLO"}}\n');
  } finally {
    listener?.kill('SIGKILL');
    daemon.child.kill('SIGTERM');
  }
  assert.equal(await daemon.exited, 0, daemon.logs.join('\n'));
  assert.equal(await typecheck, null, 'the TypeScript handler type-checks against the installed declarations');
  t.diagnostic(`took ${Date.now() - started} ms`);
});
