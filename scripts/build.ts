// `npm run build`: the publishable package in dist/ (docs/operations.md, "Installing from a package").
// The checkout runs its TypeScript directly, but Node.js does not strip types under node_modules,
// so an installed package must be JavaScript: src/ is compiled to dist/lib/ (with declarations),
// bin/ is copied pointing at it, and dist/package.json is this package.json with every export and
// bin moved from src/*.ts to lib/*.js. Pack and publish from dist/: `npm pack ./dist`.
// `node scripts/build.ts DIR` builds into DIR instead (the package test builds into a temp dir).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist'));
const LIB = path.join(DIST, 'lib');

interface Manifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
  type?: string;
  engines?: Record<string, string>;
  exports: Record<string, string>;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** ./src/sdk/client.ts -> ./lib/sdk/client (without extension); anything else is kept. */
function libPath(source: string): string | null {
  const match = /^\.\/src\/(.+)\.ts$/.exec(source);
  return match ? `./lib/${match[1]}` : null;
}

/** Relative specifiers ending in .ts, in import/export/import() forms (declarations keep them). */
function rewriteTsSpecifiers(text: string): string {
  return text.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1$2.js$3');
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : [full];
  });
}

function compile(): void {
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', LIB], { stdio: 'inherit' });
  // tsc rewrites the .ts imports of the JavaScript it emits (rewriteRelativeImportExtensions), not
  // those of the declarations; a project importing bester/client must resolve them to .d.ts files.
  for (const file of walk(LIB)) {
    if (file.endsWith('.d.ts')) writeFileSync(file, rewriteTsSpecifiers(readFileSync(file, 'utf8')));
  }
}

/** bin/*.js, importing lib/cli/*.js instead of src/cli/*.ts. */
function copyBins(manifest: Manifest): Record<string, string> {
  mkdirSync(path.join(DIST, 'bin'));
  const bins: Record<string, string> = {};
  for (const [name, file] of Object.entries(manifest.bin)) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const rewritten = text.replace(/'\.\.\/src\/(cli\/[\w-]+)\.ts'/g, "'../lib/$1.js'");
    if (rewritten === text) throw new Error(`${file}: no import of ../src/cli/*.ts to point at lib/`);
    writeFileSync(path.join(DIST, file), rewritten, { mode: 0o755 });
    bins[name] = file;
  }
  return bins;
}

function publishedManifest(manifest: Manifest, bins: Record<string, string>): Record<string, unknown> {
  const exports: Record<string, unknown> = {};
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    const lib = libPath(target);
    exports[subpath] = lib === null ? target : { types: `${lib}.d.ts`, default: `${lib}.js` };
  }
  return {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    license: manifest.license,
    type: manifest.type,
    engines: manifest.engines,
    exports,
    bin: bins,
    // What users need: the compiled code, the commands, the documentation. No tests, benches, CI.
    files: ['bin/', 'lib/', 'docs/', 'README.md'],
    dependencies: manifest.dependencies,
  };
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;
// DIST is emptied first: never the checkout or a folder holding it.
if (DIST === ROOT || ROOT.startsWith(DIST + path.sep)) throw new Error(`refusing to build into ${DIST}: it holds the checkout`);
rmSync(DIST, { recursive: true, force: true });
compile();
const bins = copyBins(manifest);
writeFileSync(path.join(DIST, 'package.json'), `${JSON.stringify(publishedManifest(manifest, bins), null, 2)}\n`);
cpSync(path.join(ROOT, 'README.md'), path.join(DIST, 'README.md'));
cpSync(path.join(ROOT, 'docs'), path.join(DIST, 'docs'), { recursive: true });
process.stdout.write(`built ${DIST}: pack it with 'npm pack ${path.relative(process.cwd(), DIST) || '.'}'\n`);
