// Usernames by a published profile (docs/protocol.md §2.6): a documented subset of PRECIS
// UsernameCaseMapped (RFC 8265 §3.3), as XMPP servers use for their localparts. Pure; one function
// used by login, the account stores, the `bester user` command, sendClients targets and the informer.
//
// Steps, in RFC 8265's order: (the original's trim of surrounding white space), width mapping
// (fullwidth and halfwidth forms to their ordinary characters), case mapping (Unicode toLowerCase),
// normalisation (NFC); then the characters are checked: letters, marks, digits, punctuation,
// symbols and the plain space U+0020 inside a name are allowed; controls, format characters
// (zero-width spaces and joiners, bidirectional overrides and isolates), every other space
// (no-break space, ideographic space, ...), line and paragraph separators (U+2028, U+2029),
// private-use, surrogate and unassigned code points are refused. Where this differs from PRECIS
// (documented as the subset): the plain space is kept, because the original accepted names like
// "Jean-Luc Picard"; the exclusion list of a few historic characters and the Bidi Rule (RFC 5893)
// are not applied.

export const MAX_USERNAME_LENGTH = 64;

export type CanonicalName = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly reason: string };

/** Printable ASCII without upper-case letters, spaces at the ends, or more than 64 characters: its own canonical form. */
const CANONICAL_ASCII = /^(?:[!-@[-~]|[!-@[-~][ -@[-~]{0,62}[!-@[-~])$/;
/** Fullwidth and halfwidth forms (U+FF01–U+FFEE): NFKC maps each to its ordinary character. */
const WIDTH_FORMS = /[\uFF01-\uFFEE]/gu;
/** Controls, format characters, spaces other than U+0020, line and paragraph separators, private use, surrogates, unassigned. */
const REFUSED = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;

/**
 * The one form of a username that accounts are stored, looked up and compared in: `Alice`,
 * `ALICE` and `alice` (and `álice` composed or decomposed) are one name. Or why it is not a username.
 */
export function canonicalUsername(raw: string): CanonicalName {
  if (typeof raw !== 'string') return { ok: false, reason: 'the username is not a string' };
  // The common case, on every delivery's recipients: already canonical printable ASCII.
  if (CANONICAL_ASCII.test(raw)) return { ok: true, name: raw };
  if (!raw.isWellFormed()) return { ok: false, reason: 'the username is not valid Unicode' };
  const name = raw.trim().replace(WIDTH_FORMS, (c) => c.normalize('NFKC')).toLowerCase().normalize('NFC');
  if (name.length === 0) return { ok: false, reason: 'the username is empty' };
  if ([...name].length > MAX_USERNAME_LENGTH) return { ok: false, reason: `the username is longer than ${MAX_USERNAME_LENGTH} characters` };
  const bad = REFUSED.exec(name);
  if (bad !== null) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    return { ok: false, reason: `the username contains U+${code}, a control, format, space or unassigned character` };
  }
  return { ok: true, name };
}

/** The canonical form, or the trimmed input when it is not a valid username (it then matches no account). */
export function usernameKey(raw: string): string {
  if (typeof raw === 'string' && CANONICAL_ASCII.test(raw)) return raw; // canonicalUsername's common case, without its result object
  const canonical = canonicalUsername(raw);
  return canonical.ok ? canonical.name : raw.trim();
}

/** A name for logs and listings: every character outside the allowed classes shown as \u{…}. */
export function printableUsername(name: string): string {
  return name.replace(new RegExp(REFUSED.source, 'gu'), (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}
