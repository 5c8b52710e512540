// The daemon's most frequent frames in pieces for frame.ts encodeJsonPieces: their fixed parts
// encoded once, as bytes copied into each frame, the rest written as text or as the bytes it came
// as. A frame joined into one string first would be a string of pieces that Buffer#write must
// flatten before it encodes it (docs/performance.md). No I/O here; Node only (Buffer), so not
// for bester/client in a browser.
import { DELIVERY_HEAD, deliveryTail, GOOD_REPORT_END, GOOD_REPORT_HEAD } from './builders.ts';
import { encodeJsonPieces } from './frame.ts';
import { jsonSourceOf, type JsonSource } from './json-text.ts';

const DELIVERY_HEAD_BYTES = Buffer.from(DELIVERY_HEAD, 'utf8');
/** The last type's tail (builders.ts deliveryTail) as bytes: deliveries are mostly of a few types, often one after another of the same. */
let lastType: string | null = null;
let lastTailBytes = Buffer.alloc(0);

/**
 * builders.ts deliveryJson (§3.4) in pieces: data that came as bytes is written on as those bytes.
 * Throws if `data` has to be serialised and cannot be.
 */
export function deliveryPieces(type: string, data: unknown): JsonSource[] {
  const source = jsonSourceOf(data);
  if (type !== lastType) {
    lastTailBytes = Buffer.from(deliveryTail(type), 'utf8');
    lastType = type;
  }
  return [DELIVERY_HEAD_BYTES, source, lastTailBytes];
}

const GOOD_REPORT_HEAD_BYTES = Buffer.from(GOOD_REPORT_HEAD, 'utf8');
const GOOD_REPORT_END_BYTES = Buffer.from(GOOD_REPORT_END, 'utf8');

/** builders.ts goodReportJson(id) as a frame (the answer to nearly every message, §3.3). */
export function goodReportFrame(id: string): Buffer {
  // A report's pieces are small: the frame is one buffer.
  return encodeJsonPieces([GOOD_REPORT_HEAD_BYTES, JSON.stringify(id), GOOD_REPORT_END_BYTES]) as Buffer;
}
