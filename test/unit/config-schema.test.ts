// docs/server.conf.schema.json is what scripts/config-schema.ts generates from the validator's
// rules now (run `npm run config-schema` after changing a config key), and it describes the keys
// the validator reads: the example configs use only keys the schema has.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { SCHEMA_FILE, schemaText } from '../../scripts/config-schema.ts';
import { ROOT } from '../helpers/daemon.ts';

type Schema = { properties?: Record<string, Schema>; additionalProperties?: Schema | boolean; type?: unknown; default?: unknown };

test('docs/server.conf.schema.json is up to date (npm run config-schema)', () => {
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), schemaText());
});

/** The key paths of `value` the schema does not describe. */
function unknownKeys(schema: Schema, value: unknown, at: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const described = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (described === undefined) return schema.properties === undefined ? [] : [`${at}${key}`];
    return unknownKeys(described, child, `${at}${key}.`);
  });
}

test('every key of the example and the test configs is in the schema, with the validator defaults', () => {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Schema;
  for (const file of ['examples/server.conf', 'test/fixtures/config/full.conf', 'test/fixtures/config/original-sqlite.conf']) {
    const config = JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as unknown;
    assert.deepEqual(unknownKeys(schema, config, ''), [], file);
  }
  const limits = schema.properties?.['limits']?.properties;
  assert.equal(limits?.['maxFrameBytes']?.type, 'integer');
  assert.equal(schema.properties?.['supervision']?.properties?.['restartDelayMs']?.default, 500);
  assert.equal(schema.additionalProperties, false, 'a misspelt top-level key is flagged');
});
