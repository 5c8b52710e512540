// The version printed by `besterd --version` and `bester --version`: package.json's. It sits two
// folders up both in the checkout (src/cli/) and in the built package (lib/cli/, scripts/build.ts).
import { readFile } from 'node:fs/promises';

export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
