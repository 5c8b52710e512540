#!/usr/bin/env node
// Example handler for type "portuguese", the first step of a handler chain (the original author's
// example of sendHandler): translates a toy Portuguese vocabulary word by word (unknown words are
// kept) and hands the result to the "english" handler (english.ts), which delivers it.
//
//   alice sends type "portuguese": {"to":"bob","text":"olá mundo"}
//   this handler passes on:        sendHandler("english", {"to":"bob","text":"hello world","original":"olá mundo"})
//   bob receives, as type "english": {"text":"hello world","original":"olá mundo"}
import { sendHandler, serveHandler } from 'bester/handler';

export const VOCABULARY: Readonly<Record<string, string>> = {
  olá: 'hello',
  adeus: 'goodbye',
  mundo: 'world',
  bom: 'good',
  boa: 'good',
  dia: 'day',
  noite: 'night',
  obrigado: 'thank you',
  obrigada: 'thank you',
  amigo: 'friend',
  amiga: 'friend',
  eu: 'I',
  você: 'you',
  sim: 'yes',
  não: 'no',
  casa: 'house',
  gato: 'cat',
  cão: 'dog',
  água: 'water',
  pão: 'bread',
  livro: 'book',
  café: 'coffee',
  e: 'and',
  o: 'the',
  a: 'the',
  um: 'a',
  uma: 'a',
  de: 'of',
  meu: 'my',
  minha: 'my',
  é: 'is',
  grande: 'big',
  pequeno: 'small',
  feliz: 'happy',
};

/** Word by word; a capitalised word gives a capitalised translation; punctuation and spacing are kept. */
export function translate(text: string): string {
  return text.normalize('NFC').replace(/[\p{L}\p{M}]+/gu, (word) => {
    const english = Object.hasOwn(VOCABULARY, word.toLowerCase()) ? VOCABULARY[word.toLowerCase()] : undefined;
    if (english === undefined) return word;
    const capitalised = word[0] !== undefined && word[0] !== word[0].toLowerCase();
    return capitalised ? english[0]!.toUpperCase() + english.slice(1) : english;
  });
}

function readPortuguese(data: unknown): { to: unknown; text: string } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('portuguese data must be an object');
  const { to, text } = data as Record<string, unknown>;
  if (typeof text !== 'string') throw new Error('"text" must be a string');
  return { to, text };
}

// Importable (for its vocabulary) without serving: only serve when run as a program.
if (import.meta.main) {
  const served = await serveHandler(
    (data) => {
      const { to, text } = readPortuguese(data);
      // Keep `to` in what is passed along: the english handler delivers to it.
      return sendHandler('english', { to, text: translate(text), original: text });
    },
    { onError: (err) => console.error(`portuguese: ${err instanceof Error ? err.message : String(err)}`) },
  );
  console.log(`portuguese handler listening on ${served.socketPath}`);
}
