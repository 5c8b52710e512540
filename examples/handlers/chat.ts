#!/usr/bin/env node
// Example handler for type "chat": direct messages and rooms. It takes "input": "envelope"
// (examples/server.conf), so it knows which user sent each message: the daemon verified it
// (docs/protocol.md §4.4); nothing inside the data can claim to be someone else.
//
// Direct message:   alice sends {"to":"bob","text":"hi"}
//                   bob receives {"from":"alice","text":"hi","sentAt":"2026-01-01T12:00:00.000Z"}
// Rooms:            {"room":"lobby","action":"join"}        every online member gets {"room":"lobby","event":"joined","user":"alice"}
//                   {"room":"lobby","action":"say","text":"hello"}
//                                                           every online member gets {"room":"lobby","from":"alice","text":"hello","sentAt":"..."}
//                   {"room":"lobby","action":"leave"}       every online member (alice too) gets {"room":"lobby","event":"left","user":"alice"}
//                   {"action":"rooms"}                      alice gets {"rooms":[{"room":"lobby","online":["alice","bob"]}]}
// Who is online:    {"action":"online"}                     alice gets {"online":["alice","bob"]}
// Saying in a room you have not joined, or an unknown action, is a handler error: the sender gets
// a "bad" status report (code handler_error) and nobody receives anything.
//
// Who is in which room is kept here, in memory (a restart empties the rooms). Members stay members
// while offline; the handler asks the daemon's informer (BESTER_INFORMER_SOCKET) who is online and
// sends only to them, so a room message is "good" even when some members are away.
import { sendClients, serveHandler, type CommandReply } from 'bester/handler';
import { connectInformer, type InformerClient } from 'bester/informer';

const MAX_ROOMS = 1000;
const MAX_ROOM_NAME = 64;

const rooms = new Map<string, Set<string>>();

let informer: Promise<InformerClient> | null = null;

/** Who is online now, from the informer; one connection kept open, opened again once if it broke. */
async function onlineUsers(): Promise<Set<string>> {
  for (let attempt = 1; ; attempt++) {
    const pending = (informer ??= connectInformer());
    try {
      const client = await pending;
      if (!client.isOpen) throw new Error('the informer connection is closed');
      return new Set(await client.listClients());
    } catch (err) {
      if (informer === pending) informer = null; // the next call connects again
      pending.then((client) => client.close(), () => undefined).catch(() => undefined);
      if (attempt >= 2) {
        throw new Error(`cannot ask the informer who is online: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
  }
}

function fields(data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('chat data must be an object');
  return data as Record<string, unknown>;
}

function text(value: unknown): string {
  if (typeof value !== 'string') throw new Error('"text" must be a string');
  return value;
}

function roomName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_ROOM_NAME) {
    throw new Error(`"room" must be a name of 1-${MAX_ROOM_NAME} characters`);
  }
  return value.trim();
}

/** The members of `room` who are online now. */
async function onlineMembers(members: Iterable<string>): Promise<string[]> {
  const online = await onlineUsers();
  return [...members].filter((m) => online.has(m)).sort();
}

async function handleChat(data: unknown, sender: string): Promise<CommandReply> {
  const f = fields(data);
  const sentAt = (): string => new Date().toISOString();

  if (f.action === 'rooms') {
    const online = await onlineUsers();
    const list = [...rooms.keys()].sort().map((room) => ({
      room,
      online: [...(rooms.get(room) ?? [])].filter((m) => online.has(m)).sort(),
    }));
    return sendClients([sender], { rooms: list });
  }

  if (f.action === 'online') {
    return sendClients([sender], { online: [...(await onlineUsers())].sort() });
  }

  if (f.room === undefined && f.action === undefined) {
    if (typeof f.to !== 'string' || f.to.trim() === '') throw new Error('"to" must name a user (or use "room" and "action")');
    return sendClients([f.to.trim()], { from: sender, text: text(f.text), sentAt: sentAt() });
  }

  const room = roomName(f.room);
  const members = rooms.get(room);
  switch (f.action) {
    case 'join': {
      if (members === undefined && rooms.size >= MAX_ROOMS) throw new Error(`too many rooms (${MAX_ROOMS}); join an existing one`);
      const joined = members ?? new Set<string>();
      joined.add(sender);
      rooms.set(room, joined);
      return sendClients(await onlineMembers(joined), { room, event: 'joined', user: sender });
    }
    case 'leave': {
      if (!members?.has(sender)) throw new Error(`you are not in room ${JSON.stringify(room)}`);
      const told = await onlineMembers(members); // the leaver too, as a confirmation
      members.delete(sender);
      if (members.size === 0) rooms.delete(room);
      return sendClients(told, { room, event: 'left', user: sender });
    }
    case 'say': {
      const said = text(f.text);
      if (!members?.has(sender)) throw new Error(`you have not joined room ${JSON.stringify(room)}`);
      return sendClients(await onlineMembers(members), { room, from: sender, text: said, sentAt: sentAt() });
    }
    default:
      throw new Error(`unknown action ${JSON.stringify(f.action)}: use "join", "leave", "say", "rooms" or "online"`);
  }
}

const served = await serveHandler(
  (data, { sender }) => {
    if (sender === null) throw new Error('chat needs a logged-in sender (a message from a client, with "input": "envelope")');
    return handleChat(data, sender);
  },
  // The sender matters here: refuse to run on bare data even if the daemon's config forgot "input".
  { input: 'envelope', onError: (err) => console.error(`chat: ${err instanceof Error ? err.message : String(err)}`) },
);
console.log(`chat handler listening on ${served.socketPath}`);
