// `bester/client` in a browser (docs/sdk.md "In a browser"): the modules a browser loads for it,
// found by walking the static imports from src/sdk/client.ts as a browser sees them (types stripped
// by Node's own stripTypeScriptTypes, so `import type` and `type` specifiers are gone), import no
// node: module and no package (a browser resolves relative URLs only), and use no Node global.
// Dynamic import() is not followed: the socket transport is loaded that way, for socket addresses only.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/daemon.ts';

const STATIC_IMPORT = /(?:^|[;\s])(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?['"]([^'"]+)['"]/g;
const NODE_GLOBAL = /\b(?:Buffer\s*\.|process\s*\.|require\s*\(|__dirname|__filename)/;

/** Code of a module with its types stripped and its comments blanked (they may name anything). */
function browserCode(file: string): string {
  const stripped = stripTypeScriptTypes(readFileSync(file, 'utf8'), { mode: 'strip' });
  return stripped.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function browserGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const queue = [entry];
  for (let i = 0; i < queue.length && i < 500; i++) {
    const file = queue[i]!;
    if (graph.has(file)) continue;
    const specs = [...browserCode(file).matchAll(STATIC_IMPORT)].map((m) => m[1]!);
    graph.set(file, specs);
    for (const spec of specs) {
      if (spec.startsWith('./') || spec.startsWith('../')) queue.push(path.resolve(path.dirname(file), spec));
    }
  }
  return graph;
}

const graph = browserGraph(path.join(ROOT, 'src/sdk/client.ts'));
const relative = (file: string): string => path.relative(ROOT, file);

test('the browser module graph of bester/client imports no node: module and no package', () => {
  assert.ok(graph.size >= 10, `expected the client's modules, found ${[...graph.keys()].map(relative).join(', ')}`);
  for (const [file, specs] of graph) {
    for (const spec of specs) {
      assert.ok(spec.startsWith('./') || spec.startsWith('../'), `${relative(file)} imports ${JSON.stringify(spec)}, which a browser cannot load`);
    }
  }
});

test('the browser module graph of bester/client uses no Node global', () => {
  for (const file of graph.keys()) {
    const code = browserCode(file);
    assert.doesNotMatch(code, NODE_GLOBAL, `${relative(file)} uses a Node-only global`);
  }
});

test('the socket transport stays out of the browser graph (loaded by dynamic import only)', () => {
  const files = [...graph.keys()].map(relative);
  for (const nodeOnly of ['src/sdk/socket-transport.ts', 'src/sdk/socket.ts', 'src/framing/frame-connection.ts']) {
    assert.ok(!files.includes(nodeOnly), `${nodeOnly} is reachable from src/sdk/client.ts`);
  }
  assert.match(readFileSync(path.join(ROOT, 'src/sdk/transport.ts'), 'utf8'), /await import\('\.\/socket-transport\.ts'\)/);
});

test('the walk sees what it must: a node: import in a module would be found', () => {
  const specs = [...`import { x } from 'node:events';\nexport { y } from "./y.ts";\nimport './side.ts';`.matchAll(STATIC_IMPORT)].map((m) => m[1]);
  assert.deepEqual(specs, ['node:events', './y.ts', './side.ts']);
});
