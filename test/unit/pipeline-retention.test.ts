// What a message's task keeps while other messages of its connection are in progress
// (src/server/session/pipeline.ts, docs/performance.md "Original mode: what a finished message
// held"): not the client's data once it went to the handler chain, and not the handler's result
// once its turn is done, although the next message's task still points to it. Kept, they lived
// through handler calls and reached the old generation. Checked with WeakRefs and a forced
// collection (the gc function made available at run time with --expose-gc).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { JsonData } from '../../src/protocol/json-text.ts';
import type { ServerConfig } from '../../src/server/config/types.ts';
import type { Logger } from '../../src/server/log.ts';
import type { RoutePlan } from '../../src/server/routing/route-plan.ts';
import type { DispatchContext, PlanReceiver, Router } from '../../src/server/routing/router.ts';
import { MessagePipeline, type PipelineHost } from '../../src/server/session/pipeline.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** A pipeline whose router keeps each message's receiver until the test tells its plan. */
function pipelineWithHeldCalls(): { pipeline: MessagePipeline; tell: (id: string, plan: RoutePlan) => void; answers: unknown[] } {
  const receivers = new Map<string, PlanReceiver>();
  const router = {
    begin: () => ({ end: () => undefined }),
    routeTo: (_type: string, _data: JsonData, context: DispatchContext, receiver: PlanReceiver) => void receivers.set(String(context.id), receiver),
    carryOut: () => ({ good: true }),
  } as unknown as Router;
  const answers: unknown[] = [];
  const host: PipelineHost = {
    username: 'alice',
    answer: (value) => void answers.push(Buffer.isBuffer(value) ? JSON.parse(value.toString('utf8', 4)) : value), // a frame: its text after the length
    closeFor: () => undefined,
    pauseReading: () => undefined,
    resumeReading: () => undefined,
    pipelineIdle: () => undefined,
  };
  const log = { debug: () => undefined, error: () => undefined, warn: () => undefined, info: () => undefined } as unknown as Logger;
  const config = { limits: { pipelineDepth: 16 }, handlers: new Map() } as unknown as ServerConfig;
  const pipeline = new MessagePipeline({ config, router, log, host });
  pipeline.start();
  const tell = (id: string, plan: RoutePlan): void => {
    const receiver = receivers.get(id);
    assert.ok(receiver, `message ${id} reached the router`);
    receivers.delete(id);
    receiver.planned(plan);
  };
  return { pipeline, tell, answers };
}

function resultOf(text: string): { plan: RoutePlan; weak: WeakRef<object> } {
  const value = { text };
  const data = new JsonData(value, JSON.stringify(value));
  return { plan: { kind: 'deliver', users: ['bob'], type: 'echo', messageType: 'echo', data }, weak: new WeakRef(value) };
}

/** Pushes a message with `value` as its data; the pipeline holds the only reference. */
function pushData(pipeline: MessagePipeline, id: string, value: object): WeakRef<object> {
  pipeline.push({ type: 'echo', id, data: new JsonData(value, JSON.stringify(value)) });
  return new WeakRef(value);
}

/** Tells message `id`'s plan, a result holding `text`; the pipeline holds the only reference. */
function tellResult(tell: (id: string, plan: RoutePlan) => void, id: string, text: string): WeakRef<object> {
  const { plan, weak } = resultOf(text);
  tell(id, plan);
  return weak;
}

async function collected(weak: WeakRef<object>): Promise<boolean> {
  await turn(); // a WeakRef keeps its target alive until the job that made or read it ends
  gc();
  return weak.deref() === undefined;
}

test('the client data is let go once the handler chain has it, while its call is in progress', async () => {
  const { pipeline, tell, answers } = pipelineWithHeldCalls();
  const weak = pushData(pipeline, '1', { text: 'x'.repeat(10_000) });
  assert.equal(await collected(weak), true, 'the data of a message whose handler call is in progress is still held');
  tell('1', resultOf('done').plan);
  await turn();
  assert.equal(answers.length, 1);
  assert.equal((answers[0] as { payload: { id: string } }).payload.id, '1');
});

test('a finished message keeps neither its result nor its answer while the next one waits for its handler', async () => {
  const { pipeline, tell, answers } = pipelineWithHeldCalls();
  pipeline.push({ type: 'echo', id: '1', data: new JsonData({ n: 1 }, '{"n":1}') });
  pipeline.push({ type: 'echo', id: '2', data: new JsonData({ n: 2 }, '{"n":2}') });
  const first = tellResult(tell, '1', 'y'.repeat(10_000));
  await turn();
  assert.equal(answers.length, 1, 'the first message was answered in its turn');
  // The second message's task points to the first (its turn follows it) until its own plan comes.
  assert.equal(await collected(first), true, 'the first message\'s result is still held by its finished task');
  tell('2', resultOf('z').plan);
  await turn();
  assert.equal(answers.length, 2, 'the second message was answered after the first');
  pipeline.stop();
});
