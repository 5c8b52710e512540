// The username profile (src/protocol/username.ts, docs/protocol.md §2.6): the hostile names of
// issue 11 finding 5, each with its outcome.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalUsername, printableUsername, usernameKey } from '../../src/protocol/username.ts';

const name = (raw: string): string | null => {
  const c = canonicalUsername(raw);
  return c.ok ? c.name : null;
};

describe('username profile (PRECIS UsernameCaseMapped subset)', () => {
  test('names that differ only in case, width or normalisation are one name', () => {
    assert.equal(name('Alice'), 'alice');
    assert.equal(name('ALICE'), 'alice');
    assert.equal(name(' alice\t'), 'alice', 'surrounding white space is trimmed, as the original did');
    assert.equal(name('\u00e1lice'), '\u00e1lice', 'á composed');
    assert.equal(name('a\u0301lice'), '\u00e1lice', 'á decomposed (NFD) is the same name');
    assert.equal(name('\u00c1LICE'), '\u00e1lice');
    assert.equal(name('\uff41\uff4c\uff49\uff43\uff45'), 'alice', 'fullwidth letters');
    assert.equal(name('Stra\u00dfe'), 'stra\u00dfe', 'ß stays ß (toLowerCase, not case folding)');
  });

  test('controls, format characters, spaces and separators are refused with the code point', () => {
    const refused: Array<[string, RegExp]> = [
      ['alice\u200b', /U\+200B/],
      ['bob\u202egnp.exe', /U\+202E/],
      ['al\u2028ice', /U\+2028/],
      ['al\u00a0ice', /U\+00A0/],
      ['a\u0007', /U\+0007/],
      ['\u2066alice\u2069', /U\+2066/],
      ['\ue000x', /U\+E000/],
    ];
    for (const [raw, reason] of refused) {
      const c = canonicalUsername(raw);
      assert.equal(c.ok, false, JSON.stringify(raw));
      assert.match(c.ok ? '' : c.reason, reason);
    }
  });

  test('length and well-formedness', () => {
    assert.equal(name('x'.repeat(64)), 'x'.repeat(64));
    assert.equal(name('x'.repeat(65)), null);
    assert.equal(name(''), null);
    assert.equal(name('   '), null);
    assert.equal(name('\ud800x'), null, 'a lone surrogate');
    assert.equal(name('名前'), '名前', 'letters of any script');
    assert.equal(name('o\u0027brien-2'), "o'brien-2", 'punctuation and digits');
    assert.equal(name('Jean-Luc Picard'), 'jean-luc picard', 'a plain space inside a name, as the original allowed');
  });

  test('usernameKey and printableUsername', () => {
    assert.equal(usernameKey(' Bob '), 'bob');
    assert.equal(usernameKey('bad\u200bname'), 'bad\u200bname', 'an invalid name stays itself and matches no account');
    assert.equal(printableUsername('bob\u202egnp.exe'), 'bob\\u{202e}gnp.exe');
  });
});
