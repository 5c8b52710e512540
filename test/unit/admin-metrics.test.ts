// The daemon's metrics on a fake server (src/server/admin/metrics.ts): labels bounded to configured
// types and peers, gauges read at scrape time, one registry per daemon (none in prom-client's global one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { ServerMetrics, type MetricsSource } from '../../src/server/admin/metrics.ts';
import { ServerEvents } from '../../src/server/events.ts';

function fakeSource(events: ServerEvents, over: Partial<MetricsSource> = {}): MetricsSource {
  return {
    events,
    handlerTypes: ['echo'],
    knownType: (type) => type === 'echo',
    knownPeer: (peer) => peer === 'east',
    listeners: () => ['tcp4'],
    connections: () => [
      { listener: 'tcp4', state: 'client' },
      { listener: 'tcp4', state: 'client' },
      { listener: 'tcp4', state: 'closed' },
    ],
    usersOnline: () => 1,
    handlerStatus: () => [{ type: 'echo', state: 'backoff', restarts: 3, inFlight: 2 }],
    offlineWaiting: () => null,
    federationStatus: () => ({
      links: { east: 'up', 'legacy:10.0.0.1:2220': 'backoff', 'legacy:10.0.0.2:2220': 'backoff' },
      waiting: { east: 4, 'legacy:10.0.0.1:2220': 1, 'legacy:10.0.0.2:2220': 2 },
      counters: { queued: 7, inbound_duplicate: 1 },
    }),
    ...over,
  };
}

/** `name{labels} value` lines of the exposition, as a map from the line's left part to its value. */
async function lines(metrics: ServerMetrics): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await metrics.text()).split('\n')) {
    if (!line.startsWith('bester_')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('counters from the events: an unconfigured type is "other"; a failed call is labelled by its code', async () => {
  const events = new ServerEvents();
  const metrics = new ServerMetrics(fakeSource(events));
  events.emit('message.handled', { type: 'echo', outcome: 'good', ms: 1 });
  events.emit('message.handled', { type: 'whatever-a-client-sends', outcome: 'unknown_type', ms: 0 });
  events.emit('handler.called', { type: 'echo', code: 'handler_timeout', ms: 1500 });
  events.emit('delivery', { type: 'echo', queued: 2, kept: 1, undelivered: 0 });
  events.emit('delivery.expired', { count: 5 });
  events.emit('connection.refused', { transport: 'stream', remote: 'x', code: 'too_many_connections', reason: 'full' });
  events.emit('connection.closed', { id: 1, reason: 'ping_timeout', user: 'a', loggedIn: true });
  events.emit('config.reload', { outcome: 'refused', applied: [], restartNeeded: [], errors: ['limits.maxFrameBytes: must be a positive integer'] });
  const m = await lines(metrics);
  assert.equal(m.get('bester_messages_total{type="echo",outcome="good"}'), 1);
  assert.equal(m.get('bester_messages_total{type="other",outcome="unknown_type"}'), 1);
  assert.equal([...m.keys()].filter((k) => k.includes('whatever')).length, 0);
  assert.equal(m.get('bester_handler_calls_total{type="echo",outcome="handler_timeout"}'), 1);
  assert.equal(m.get('bester_handler_calls_total{type="echo",outcome="ok"}'), 0, 'configured types start at 0');
  assert.equal(m.get('bester_handler_call_duration_seconds_bucket{le="1",type="echo"}'), 0);
  assert.equal(m.get('bester_handler_call_duration_seconds_bucket{le="2.5",type="echo"}'), 1);
  assert.equal(m.get('bester_handler_call_duration_seconds_sum{type="echo"}'), 1.5);
  assert.equal(m.get('bester_delivery_recipients_total{result="queued"}'), 2);
  assert.equal(m.get('bester_delivery_recipients_total{result="kept"}'), 1);
  assert.equal(m.get('bester_offline_expired_total'), 5);
  assert.equal(m.get('bester_connections_refused_total{code="too_many_connections"}'), 1);
  assert.equal(m.get('bester_connections_closed_total{reason="ping_timeout"}'), 1);
  assert.equal(m.get('bester_config_reloads_total{outcome="refused"}'), 1);
  assert.equal(m.get('bester_config_reloads_total{outcome="applied"}'), 0, 'every outcome starts at 0');
  metrics.stop();
  events.emit('delivery.expired', { count: 5 });
  assert.equal((await lines(metrics)).get('bester_offline_expired_total'), 5, 'stopped: no more counting');
});

test('gauges read the server at scrape time; unlisted federation targets are summed under "unlisted"', async () => {
  let waiting: number | null = null;
  const metrics = new ServerMetrics(fakeSource(new ServerEvents(), { offlineWaiting: () => waiting }));
  let m = await lines(metrics);
  assert.equal(m.get('bester_connections{listener="tcp4",state="client"}'), 2);
  assert.equal(m.get('bester_connections{listener="tcp4",state="awaitingFirst"}'), 0);
  assert.equal(m.get('bester_connections{listener="tcp4",state="closed"}'), 1);
  assert.equal(m.get('bester_users_online'), 1);
  assert.equal(m.get('bester_handler_calls_in_flight{type="echo"}'), 2);
  assert.equal(m.get('bester_handler_state{type="echo",state="backoff"}'), 1);
  assert.equal(m.get('bester_handler_state{type="echo",state="ready"}'), 0);
  assert.equal(m.get('bester_handler_restarts_total{type="echo"}'), 3);
  assert.equal(m.get('bester_offline_messages'), 0, 'offline delivery off: 0');
  assert.equal(m.get('bester_federation_outbox_messages{peer="east"}'), 4);
  assert.equal(m.get('bester_federation_outbox_messages{peer="unlisted"}'), 3);
  assert.equal(m.get('bester_federation_links{peer="east",state="up"}'), 1);
  assert.equal(m.get('bester_federation_links{peer="east",state="backoff"}'), 0);
  assert.equal(m.get('bester_federation_links{peer="unlisted",state="backoff"}'), 2);
  assert.equal(m.get('bester_federation_events_total{event="queued"}'), 7);
  assert.equal(m.get('bester_federation_events_total{event="inbound_duplicate"}'), 1);
  waiting = 12;
  m = await lines(metrics);
  assert.equal(m.get('bester_offline_messages'), 12);
  assert.equal(m.get('bester_handler_restarts_total{type="echo"}'), 3, 'read again, not added up');
  metrics.stop();
});

test('two daemons in one process: separate registries, nothing in the global one', async () => {
  const a = new ServerEvents();
  const b = new ServerEvents();
  const ma = new ServerMetrics(fakeSource(a));
  const mb = new ServerMetrics(fakeSource(b));
  a.emit('login', { id: 1, outcome: 'ok', user: 'x', remote: 'r' });
  assert.equal((await lines(ma)).get('bester_logins_total{outcome="ok"}'), 1);
  assert.equal((await lines(mb)).get('bester_logins_total{outcome="ok"}'), 0);
  assert.doesNotMatch(await globalRegistry.metrics(), /bester_|nodejs_eventloop_lag_seconds/);
  assert.match(ma.contentType, /^text\/plain; version=0\.0\.4/);
  ma.stop();
  mb.stop();
});

test('the text format: each family once; label values escaped in the histogram as in the rest', async () => {
  const events = new ServerEvents();
  const odd = 'say "hi"\\now';
  const metrics = new ServerMetrics(fakeSource(events, { handlerTypes: ['echo', odd], knownType: (type) => type === 'echo' || type === odd }));
  events.emit('handler.called', { type: odd, code: null, ms: 3 });
  events.emit('message.handled', { type: odd, outcome: 'good', ms: 3 });
  const text = await metrics.text();
  const families = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  assert.equal(new Set(families).size, families.length, 'no family twice');
  assert.ok(families.includes('bester_handler_call_duration_seconds'));
  assert.ok(text.includes('bester_handler_call_duration_seconds_bucket{le="0.0025",type="say \\"hi\\"\\\\now"} 0\n'), text);
  assert.ok(text.includes('bester_handler_call_duration_seconds_bucket{le="0.005",type="say \\"hi\\"\\\\now"} 1\n'));
  assert.ok(text.includes('bester_handler_call_duration_seconds_count{type="say \\"hi\\"\\\\now"} 1\n'));
  assert.ok(text.includes('bester_messages_total{type="say \\"hi\\"\\\\now",outcome="good"} 1\n'));
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'));
  metrics.stop();
});
