// The load benchmark (bench/load.ts) for one second against the minimal relay with one generator
// process, as a smoke check: it runs, delivers, loses nothing, and its JSON line carries the
// generator's CPU and event-loop utilisation (docs/performance.md, "The load generator").
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/daemon.ts';

test('npm run bench -- --target baseline --seconds 1 --warmup 0.5 --generators 1: a JSON line with the generator figures', async () => {
  const args = ['--target', 'baseline', '--seconds', '1', '--warmup', '0.5', '--generators', '1', '--pairs', '2', '--window', '4'];
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/load.ts'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  assert.equal(code, 0, `bench failed:\n${out}\n${err}`);
  const line = out.split('\n').find((l) => l.startsWith('{"handlerMode"'));
  assert.ok(line, `no run line in:\n${out}`);
  const run = JSON.parse(line) as {
    target: string;
    seconds: number;
    warmup: number;
    generators: number;
    delivered: number;
    lost: number;
    serverCpuUsPerMsg: number;
    counted: { server: string; handler: string | null };
    generator: { perProcess: Array<{ pairs: string; elu: number; cpuPct: number }>; maxElu: number; cpuUsPerMsg: number };
    generatorSaturated: boolean;
  };
  assert.equal(run.target, 'baseline');
  assert.deepEqual([run.seconds, run.warmup], [1, 0.5]);
  assert.equal(run.generators, 1);
  assert.ok(run.delivered > 0);
  assert.equal(run.lost, 0);
  assert.deepEqual(run.counted, { server: 'baseline-relay', handler: 'relay-handler' });
  assert.equal(run.generator.perProcess.length, 1);
  assert.equal(run.generator.perProcess[0]!.pairs, '0-1');
  const { elu, cpuPct } = run.generator.perProcess[0]!;
  assert.ok(elu > 0 && elu <= 1, `elu ${elu}`);
  assert.ok(cpuPct > 0, `cpuPct ${cpuPct}`);
  assert.equal(run.generator.maxElu, elu);
  assert.ok(run.generator.cpuUsPerMsg > 0);
  assert.equal(run.generatorSaturated, elu > 0.8);
  assert.match(out, /generators ELU\/CPU/);
});
