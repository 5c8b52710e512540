// The layout rules of docs/architecture.md, held by a test: src/protocol/ is pure (no I/O
// module), dependencies point down (nothing imports src/cli; src/protocol imports nothing of
// ours outside itself; the SDKs never import the daemon), and no source file passes 400 lines.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/daemon.ts';

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

/** Every module a file imports or re-exports at run time (`import type` lines are left out). */
function imports(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) found.push(m[1]!);
  return found;
}

const IO = /^node:(net|fs|fs\/promises|tls|http|https|http2|child_process|dgram|stream|timers|worker_threads|cluster)$/;

test('src/protocol/ imports no I/O module and nothing of ours outside itself', () => {
  for (const file of sources('src/protocol')) {
    for (const spec of imports(file)) {
      assert.doesNotMatch(spec, IO, `${file} imports ${spec}`);
      if (spec.startsWith('.')) assert.ok(spec.startsWith('./'), `${file} imports ${spec}, outside src/protocol`);
    }
  }
});

test('dependencies point down: nothing imports src/cli; the SDKs and framing never import the daemon', () => {
  for (const file of [...sources('src/server'), ...sources('src/sdk'), ...sources('src/protocol')]) {
    for (const spec of imports(file)) assert.doesNotMatch(spec, /\/cli\//, `${file} imports ${spec}`);
  }
  for (const file of sources('src/sdk')) {
    for (const spec of imports(file)) assert.doesNotMatch(spec, /\/server\//, `${file} imports ${spec}`);
  }
});

test('no source file is longer than 400 lines (STYLE.md #15)', () => {
  for (const file of sources('src')) {
    const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n').length - 1;
    assert.ok(lines <= 400, `${file} has ${lines} lines`);
  }
});
