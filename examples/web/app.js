// The web chat page: the client SDK (bester/client, served by the daemon under /bester-sdk/) over
// WebSocket, talking to the example chat handler (examples/handlers/chat.ts): direct messages, rooms
// (join, leave, say, list), who is online. Messages sent to a user who is offline are kept by the
// daemon and delivered at their next login (docs/protocol.md §4.3.1). Every `bad` status report is
// shown with its reason. Plain ES modules and the DOM, no framework, no build step.
import { connect, LoginError } from '/bester-sdk/client.js';

const $ = (id) => document.getElementById(id);
const ONLINE_REFRESH_MS = 5000;

/** Everything the page knows; rebuilt at each login. */
let state = null;

function newState(client) {
  return {
    client,
    me: client.username,
    /** 'room:NAME' or 'dm:USER' -> { kind, name, items: [{ from, text, at, note, failed }], unread } */
    conversations: new Map(),
    /** Rooms this user is a member of -> members online. */
    rooms: new Map(),
    online: [],
    current: null,
    timer: null,
  };
}

// ---- the server address: the daemon that served this page, WebSocket path /bester ----

function defaultServer() {
  const fromQuery = new URLSearchParams(location.search).get('server');
  if (fromQuery) return fromQuery;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/bester`;
}

// ---- sending: every answer is checked; a bad one is shown with its reason ----

/** Sends one chat message; resolves with the report, or null when it could not be sent (already shown). */
async function send(data, what) {
  try {
    const report = await state.client.send('chat', data);
    if (report.status === 'bad') showError(`${what} failed: ${report.reason ?? 'the server said "bad"'}${report.code ? ` (${report.code})` : ''}`);
    return report;
  } catch (err) {
    showError(`${what} failed: ${err.message}`);
    return null;
  }
}

function showError(text) {
  const toast = document.createElement('div');
  toast.className = 'toast error';
  toast.setAttribute('role', 'alert');
  const message = document.createElement('span');
  message.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'quiet';
  close.textContent = '×';
  close.title = 'Dismiss';
  close.addEventListener('click', () => toast.remove());
  toast.append(message, close);
  $('toasts').append(toast);
  while ($('toasts').children.length > 4) $('toasts').firstElementChild.remove();
  setTimeout(() => toast.remove(), 15_000);
}

// ---- conversations ----

function conversation(kind, name) {
  const key = `${kind}:${name}`;
  let conv = state.conversations.get(key);
  if (!conv) {
    conv = { key, kind, name, items: [], unread: 0 };
    state.conversations.set(key, conv);
  }
  return conv;
}

function add(conv, item) {
  conv.items.push({ at: new Date(), ...item });
  // The first message that arrives opens its conversation when none is open.
  if (state.current === null && item.from !== undefined && item.from !== state.me) state.current = conv.key;
  if (state.current !== conv.key) conv.unread += 1;
  render();
  return conv.items.at(-1);
}

function open(key) {
  state.current = key;
  const conv = state.conversations.get(key);
  if (conv) conv.unread = 0;
  render();
  $('text').focus();
}

// ---- what the chat handler delivers (examples/handlers/chat.ts) ----

function onDelivery(delivery) {
  if (delivery.type === 'bester.offline') {
    showError(`a message kept for an offline user expired: ${JSON.stringify(delivery.data)}`);
    return;
  }
  if (delivery.type !== 'chat' || typeof delivery.data !== 'object' || delivery.data === null) return;
  const d = delivery.data;
  if (Array.isArray(d.online)) {
    state.online = d.online;
  } else if (Array.isArray(d.rooms)) {
    // Every room with its members online: this user's rooms are the ones listing them.
    state.rooms = new Map(d.rooms.filter((r) => r.online.includes(state.me)).map((r) => [r.room, r.online]));
  } else if (typeof d.room === 'string' && d.event === 'joined') {
    const members = state.rooms.get(d.room) ?? [];
    if (d.user === state.me || state.rooms.has(d.room)) state.rooms.set(d.room, [...new Set([...members, d.user])].sort());
    if (d.user === state.me) void send({ action: 'rooms' }, 'Listing the rooms'); // who else is in it
    add(conversation('room', d.room), { note: d.user === state.me ? 'You joined the room.' : `${d.user} joined.` });
  } else if (typeof d.room === 'string' && d.event === 'left') {
    if (d.user === state.me) {
      state.rooms.delete(d.room);
      add(conversation('room', d.room), { note: 'You left the room.' });
    } else {
      state.rooms.set(d.room, (state.rooms.get(d.room) ?? []).filter((u) => u !== d.user));
      add(conversation('room', d.room), { note: `${d.user} left.` });
    }
  } else if (typeof d.room === 'string' && typeof d.text === 'string') {
    add(conversation('room', d.room), { from: d.from, text: d.text, at: new Date(d.sentAt ?? Date.now()) });
  } else if (typeof d.from === 'string' && typeof d.text === 'string') {
    add(conversation('dm', d.from), { from: d.from, text: d.text, at: new Date(d.sentAt ?? Date.now()) });
  }
  render();
}

// ---- actions ----

async function say(text) {
  const conv = state.conversations.get(state.current);
  if (!conv) return;
  if (conv.kind === 'room') {
    await send({ room: conv.name, action: 'say', text }, `Your message to room ${conv.name}`);
    return; // the room echoes it to every member online, this user included
  }
  const item = add(conv, { from: state.me, text, note: 'sending…' });
  const report = await send({ to: conv.name, text }, `Your message to ${conv.name}`);
  if (report?.status === 'good') item.note = report.stored?.length ? `${conv.name} is offline: delivered at their next login` : '';
  else {
    item.failed = true;
    item.note = report ? `not delivered: ${report.reason ?? report.code ?? 'bad'}` : 'not sent';
  }
  render();
}

async function refreshLists() {
  await send({ action: 'online' }, 'Asking who is online');
  await send({ action: 'rooms' }, 'Listing the rooms');
}

async function logIn(event) {
  event.preventDefault();
  const button = $('login-button');
  const error = $('login-error');
  error.hidden = true;
  button.disabled = true;
  button.textContent = 'Logging in…';
  try {
    const client = await connect({
      server: $('server').value.trim(),
      username: $('username').value.trim(),
      password: $('password').value,
      timeoutMs: 10_000,
      reconnect: { maxAttempts: 30 },
    });
    start(client);
  } catch (err) {
    error.textContent = err instanceof LoginError ? `Login refused: ${err.reason}` : `Cannot log in: ${err.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = 'Log in';
  }
}

function start(client) {
  state = newState(client);
  $('password').value = '';
  client.on('delivery', onDelivery);
  client.on('disconnect', (err) => setStatus('offline', `reconnecting… (${err.message})`));
  client.on('reconnect', () => {
    setStatus('online', 'connected');
    void refreshLists();
  });
  client.on('close', (err) => {
    if (state?.client !== client) return;
    stop();
    if (err) {
      $('login-error').textContent = `Disconnected: ${err.message}`;
      $('login-error').hidden = false;
    }
  });
  state.timer = setInterval(() => {
    if (client.connected) void refreshLists();
  }, ONLINE_REFRESH_MS);
  setStatus('online', 'connected');
  $('me').textContent = state.me;
  $('login-view').hidden = true;
  $('chat-view').hidden = false;
  document.title = `${state.me} · Bester chat`;
  render();
  void refreshLists();
}

function stop() {
  if (!state) return;
  clearInterval(state.timer);
  const { client } = state;
  state = null;
  void client.close();
  $('chat-view').hidden = true;
  $('login-view').hidden = false;
  document.title = 'Bester chat';
  $('username').focus();
}

function setStatus(kind, text) {
  $('status').className = `status ${kind}`;
  $('status').textContent = text;
}

// ---- rendering (textContent only: nothing a user writes becomes HTML) ----

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

function avatar(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) % 360;
  const span = el('span', { className: 'avatar', textContent: name.slice(0, 1).toUpperCase(), title: name });
  span.style.background = `hsl(${hash} 55% 45%)`;
  return span;
}

function listItem(key, label, extra, icon, showUnread = true) {
  const conv = state.conversations.get(key);
  const button = el('button', { type: 'button', className: state.current === key ? 'item active' : 'item' }, icon, el('span', { className: 'label', textContent: label }));
  if (extra) button.append(el('span', { className: 'extra', textContent: extra }));
  if (showUnread && conv?.unread) button.append(el('span', { className: 'badge', textContent: String(conv.unread) }));
  button.addEventListener('click', () => open(key));
  return el('li', {}, button);
}

function render() {
  if (!state) return;
  const rooms = [...state.rooms.keys()].sort();
  $('room-list').replaceChildren(...rooms.map((r) => listItem(`room:${r}`, `# ${r}`, `${state.rooms.get(r).length} online`, '')));
  const dms = [...state.conversations.values()].filter((c) => c.kind === 'dm').map((c) => c.name).sort();
  $('dm-list').replaceChildren(...dms.map((u) => listItem(`dm:${u}`, u, state.online.includes(u) ? '' : 'offline', avatar(u))));
  $('online-list').replaceChildren(...state.online.map((u) => {
    const li = u === state.me ? el('li', { className: 'self' }, avatar(u), el('span', { textContent: `${u} (you)` })) : listItem(`dm:${u}`, u, '', avatar(u), false);
    li.dataset.user = u;
    return li;
  }));
  $('online-count').textContent = String(state.online.length);
  renderConversation();
}

function renderConversation() {
  const conv = state.conversations.get(state.current) ?? null;
  const inRoom = conv?.kind === 'room' && state.rooms.has(conv.name);
  $('conv-title').textContent = conv ? (conv.kind === 'room' ? `# ${conv.name}` : conv.name) : 'Welcome';
  $('conv-sub').textContent = !conv ? 'Pick a room or a person on the left, or join a room.'
    : conv.kind === 'room' ? (inRoom ? `Online here: ${state.rooms.get(conv.name).join(', ') || 'nobody'}` : 'You are not in this room: join it to write here.')
    : state.online.includes(conv.name) ? 'Online' : 'Offline: your messages wait for their next login';
  $('leave-room').hidden = !inRoom;
  const canWrite = conv !== null && (conv.kind === 'dm' || inRoom);
  $('text').disabled = !canWrite;
  $('send').disabled = !canWrite;
  const list = $('messages');
  if (!conv) {
    list.replaceChildren(el('li', { className: 'empty' },
      el('strong', { textContent: `Hello, ${state.me}.` }),
      el('span', { textContent: 'Join a room, or click someone who is online to write to them. Messages to people who are offline wait for their next login.' })));
    return;
  }
  list.replaceChildren(...(conv?.items ?? []).map((item) => {
    if (item.from === undefined) return el('li', { className: 'system', textContent: item.note });
    const mine = item.from === state.me;
    const time = item.at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const bubble = el('div', { className: 'bubble' },
      el('div', { className: 'meta' }, el('strong', { textContent: mine ? 'You' : item.from }), el('time', { textContent: time })),
      el('div', { className: 'text', textContent: item.text }));
    if (item.note) bubble.append(el('div', { className: 'note', textContent: item.note }));
    return el('li', { className: `message${mine ? ' mine' : ''}${item.failed ? ' failed' : ''}` }, avatar(item.from), bubble);
  }));
  list.scrollTop = list.scrollHeight;
}

// ---- wiring ----

$('server').value = defaultServer();
$('login-form').addEventListener('submit', (event) => void logIn(event));
$('logout').addEventListener('click', () => stop());
$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (text === '') return;
  $('text').value = '';
  void say(text);
});
$('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const room = $('join-room').value.trim();
  $('join-room').value = '';
  void send({ room, action: 'join' }, `Joining room ${room}`).then((report) => {
    if (report?.status === 'good') open(`room:${room}`);
  });
});
$('dm-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const user = $('dm-user').value.trim().toLowerCase();
  $('dm-user').value = '';
  conversation('dm', user);
  open(`dm:${user}`);
});
$('leave-room').addEventListener('click', () => {
  const conv = state?.conversations.get(state.current);
  if (conv?.kind === 'room') void send({ room: conv.name, action: 'leave' }, `Leaving room ${conv.name}`);
});
