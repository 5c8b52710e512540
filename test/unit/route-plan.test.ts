// The route planner (src/server/routing/route-plan.ts): a handler's answer becomes a plan, with no
// sockets, stores or handlers involved (docs/protocol.md §4.2, §4.3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseFrameText } from '../../src/protocol/frame.ts';
import { JsonData } from '../../src/protocol/json-text.ts';
import { planRoute, recipients, type PlanContext, type RoutePlan } from '../../src/server/routing/route-plan.ts';

const context: PlanContext = {
  handlerType: 'relay',
  messageType: 'chat',
  hops: 0,
  maxHops: 2,
  hasHandler: (type) => type === 'next' || type === 'relay',
};

/** The answer as the daemon reads it from the handler's frame: value and text. */
function answer(text: string): JsonData {
  return parseFrameText(Buffer.from(text));
}

function plan(value: unknown, ctx: PlanContext = context): RoutePlan {
  return planRoute(value, ctx).plan;
}

describe('route planner', () => {
  test('sendClients: deliver to the named users, each once and trimmed, as a delivery of the handler type', () => {
    const p = plan(answer('{"header":{"status":"0","command":{"type":"sendClients","data":[" bob","alice","bob "]}},"data":{"t":1}}'));
    assert.equal(p.kind, 'deliver');
    assert.ok(p.kind === 'deliver');
    assert.deepEqual(p.users, ['bob', 'alice']);
    assert.equal(p.type, 'relay');
    assert.equal(p.messageType, 'chat');
    assert.deepEqual(p.data.value, { t: 1 });
  });

  test("the result keeps the handler's own text: a number beyond a double arrives digit for digit", () => {
    const p = plan(answer('{"header":{"status":"0","command":{"type":"sendClients","data":["bob"]}},"data":{"n": 123456789012345678901234567890}}'));
    assert.ok(p.kind === 'deliver');
    assert.equal(p.data.text, '{"n": 123456789012345678901234567890}');
  });

  test('the spec form (header.command as a name, result in payload.data) plans the same', () => {
    const p = plan(answer('{"header":{"status":"0","command":"sendClients","commandData":["bob"]},"payload":{"data":[1, 2]}}'));
    assert.ok(p.kind === 'deliver');
    assert.deepEqual(p.users, ['bob']);
    assert.equal(p.data.text, '[1, 2]');
  });

  test('sendServers: forward to the peers under the type the sender gave the message', () => {
    const p = plan(answer('{"header":{"status":"0","command":{"type":"sendServers","data":["b:1","c:2"]}},"data":"x"}'));
    assert.deepEqual(p.kind === 'forward' && { servers: p.servers, type: p.type, data: p.data.value }, { servers: ['b:1', 'c:2'], type: 'chat', data: 'x' });
  });

  test('sendHandler: hand on to a configured handler; refused past the hop limit or to a type with no handler', () => {
    const hop = '{"header":{"status":"0","command":{"type":"sendHandler","data":"next"}},"data":{"step":1}}';
    const p = plan(answer(hop));
    assert.deepEqual(p.kind === 'handler' && { handler: p.handler, data: p.data.text }, { handler: 'next', data: '{"step":1}' });
    const tooLong = plan(answer(hop), { ...context, hops: 2 });
    assert.deepEqual(tooLong, { kind: 'refuse', code: 'handler_chain_too_long', reason: 'handler chain longer than 2 sendHandler hops' });
    const nowhere = plan(answer('{"header":{"status":"0","command":{"type":"sendHandler","data":"ghost"}},"data":1}'));
    assert.deepEqual(nowhere, { kind: 'refuse', code: 'unknown_type', reason: 'sendHandler named "ghost", which has no handler' });
  });

  test('a failing or unreadable answer is a refusal naming the handler', () => {
    assert.deepEqual(plan(answer('{"header":{"status":"1","error":"no such room"}}')), {
      kind: 'refuse',
      code: 'handler_error',
      reason: 'handler "relay": the handler answered status 1: no such room',
    });
    assert.deepEqual(plan(answer('[1]')), { kind: 'refuse', code: 'handler_bad_reply', reason: 'handler "relay": the handler reply is not a JSON object' });
    const unknown = plan(answer('{"header":{"status":"0","command":{"type":"fly","data":"away"}}}'));
    assert.equal(unknown.kind === 'refuse' && unknown.code, 'unknown_command');
  });

  test("the original's quirk: an unknown command carrying a list is sendClients, and the quirk is reported", () => {
    const { plan: p, quirk } = planRoute(answer('{"header":{"status":"0","command":{"type":"sendclients","data":["bob"]}},"data":1}'), context);
    assert.ok(p.kind === 'deliver');
    assert.deepEqual(p.users, ['bob']);
    assert.match(quirk ?? '', /unknown command "sendclients" read as sendClients/);
  });

  test('a bare value (an embedder’s caller, no frame) is planned too; its data is serialised when written', () => {
    const p = plan({ header: { status: '0', command: { type: 'sendClients', data: ['bob'] } }, data: { a: [1] } });
    assert.ok(p.kind === 'deliver');
    assert.equal(p.data.hasText, false);
    assert.equal(p.data.text, '{"a":[1]}');
  });

  test('recipients: one name trimmed; several trimmed and deduplicated in first-seen order', () => {
    assert.deepEqual(recipients([' a ']), ['a']);
    assert.deepEqual(recipients(['b', 'a', ' b', 'c', 'a']), ['b', 'a', 'c']);
    assert.deepEqual(recipients([]), []);
    assert.deepEqual(recipients(['Bob', 'bob', 'B\u00d3B']), ['bob', 'b\u00f3b'], 'names in their canonical form (§2.6)');
  });
});
