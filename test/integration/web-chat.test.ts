// The web chat page (examples/web/) in a real browser: Debian's Chromium (/usr/bin/chromium, which
// .ci/run installs) driven by playwright-core (no browser download), against a real daemon serving
// the page and the client SDK (/bester-sdk/) on its ws listener, with the example chat handler.
// Two browser contexts, alice and bob: a wrong password, a direct message each way, a room with both,
// a `bad` report shown with its reason, bob closes his page, alice writes, bob logs in again and sees
// it; alice leaves the room. Screenshots of each step are saved under a temp folder this test prints.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { exampleHandler } from '../helpers/examples.ts';

const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 15_000;

describe('web chat page in Chromium', () => {
  let d: TestDaemon;
  let browser: Browser;
  let pageUrl: string;
  const shots = mkdtempSync(path.join(os.tmpdir(), 'bester-web-chat-'));
  let step = 0;

  async function shot(page: Page, name: string): Promise<void> {
    step += 1;
    await page.screenshot({ path: path.join(shots, `${String(step).padStart(2, '0')}-${name}.png`) });
  }

  async function logIn(page: Page, user: string, password: string): Promise<void> {
    await page.goto(pageUrl);
    await page.fill('#username', user);
    await page.fill('#password', password);
    await page.click('#login-button');
  }

  /** Waits for a message with `text` in the conversation shown. */
  async function seeMessage(page: Page, text: string): Promise<void> {
    await page.locator('#messages .text', { hasText: text }).first().waitFor({ timeout: WAIT_MS });
  }

  async function write(page: Page, text: string): Promise<void> {
    await page.fill('#text', text);
    await page.click('#send');
  }

  async function openDirect(page: Page, user: string): Promise<void> {
    await page.fill('#dm-user', user);
    await page.press('#dm-user', 'Enter');
    await page.locator('#conv-title', { hasText: user }).waitFor({ timeout: WAIT_MS });
  }

  async function join(page: Page, room: string): Promise<void> {
    await page.fill('#join-room', room);
    await page.press('#join-room', 'Enter');
    await page.locator('#room-list .label', { hasText: `# ${room}` }).waitFor({ timeout: WAIT_MS });
    await page.locator('#conv-title', { hasText: `# ${room}` }).waitFor({ timeout: WAIT_MS });
  }

  /** Waits until `page`'s list of who is online does (or does not) show `user` (the page asks every 5 s). */
  async function seeOnline(page: Page, user: string, online: boolean): Promise<void> {
    await page.locator(`#online-list li[data-user="${user}"]`).waitFor({ state: online ? 'attached' : 'detached', timeout: WAIT_MS });
  }

  before(async () => {
    // The test fails, not skips, without Chromium: CI installs it (.ci/run).
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`);
    d = await startTestDaemon({
      handlers: { chat: exampleHandler('chat.ts', { input: 'envelope' }) },
      extra: {
        network: { types: ['ws'], ws: { port: '0', address: '127.0.0.1', path: '/bester', static: path.join(ROOT, 'examples/web') } },
      },
    });
    const ws = d.server.listeners.find((l) => l.kind === 'ws');
    assert.ok(ws !== undefined);
    pageUrl = `http://127.0.0.1:${ws.port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // playwright-core starts Chromium with a fresh --user-data-dir of its own in the temp folder.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    console.log(`web chat screenshots: ${shots}`);
  });
  after(async () => {
    await browser?.close();
    await d?.close();
  });

  test('alice and bob chat: wrong password, direct messages, a room, a bad report, a message kept while bob is away', { timeout: 120_000 }, async () => {
    const contexts: BrowserContext[] = [];
    const context = async (): Promise<BrowserContext> => {
      const c = await browser.newContext({ viewport: { width: 1100, height: 680 }, colorScheme: 'light' });
      contexts.push(c);
      return c;
    };
    const errors: string[] = [];
    const watch = (page: Page, who: string): Page => {
      page.on('pageerror', (err) => errors.push(`${who}: ${err.message}`));
      return page;
    };
    const alice = watch(await (await context()).newPage(), 'alice');
    const bobContext = await context();
    let bob = watch(await bobContext.newPage(), 'bob');

    // A wrong password: the page says why.
    await logIn(alice, 'alice', 'not-her-password');
    await alice.locator('#login-error').waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.match((await alice.textContent('#login-error')) ?? '', /Login refused/);
    await shot(alice, 'alice-wrong-password');

    await logIn(alice, 'alice', 'alice-pw');
    await alice.locator('#chat-view').waitFor({ state: 'visible', timeout: WAIT_MS });
    await logIn(bob, 'bob', 'bob-pw');
    await bob.locator('#chat-view').waitFor({ state: 'visible', timeout: WAIT_MS });
    await seeOnline(alice, 'bob', true);
    await shot(alice, 'alice-logged-in');

    // A direct message each way.
    await openDirect(alice, 'bob');
    await write(alice, 'Hi Bob! Lunch at noon?');
    await seeMessage(bob, 'Hi Bob! Lunch at noon?');
    await shot(bob, 'bob-got-direct-message');
    await write(bob, 'Sounds good, see you there.');
    await seeMessage(alice, 'Sounds good, see you there.');
    await shot(alice, 'alice-got-reply');

    // A room with both.
    await join(alice, 'lobby');
    await join(bob, 'lobby');
    await write(alice, 'Welcome to the lobby, everyone');
    await seeMessage(bob, 'Welcome to the lobby, everyone');
    await write(bob, 'Glad to be here');
    await seeMessage(alice, 'Glad to be here');
    await shot(bob, 'bob-in-room');

    // A bad report is shown with its reason: a direct message to someone unknown here.
    await openDirect(alice, 'nobody');
    await write(alice, 'Anyone?');
    const toast = alice.locator('#toasts .toast', { hasText: 'nobody' });
    await toast.waitFor({ timeout: WAIT_MS });
    assert.match((await toast.textContent()) ?? '', /failed: .+\(recipients_offline\)/);
    await shot(alice, 'alice-bad-report');

    // bob closes his page; alice writes; bob logs in again and sees it.
    await bob.close();
    await seeOnline(alice, 'bob', false);
    await openDirect(alice, 'bob');
    await write(alice, 'Are you still around? Call me when you are back.');
    await alice.locator('#messages .note', { hasText: 'delivered at their next login' }).waitFor({ timeout: WAIT_MS });
    await shot(alice, 'alice-wrote-while-bob-away');
    bob = watch(await bobContext.newPage(), 'bob');
    await logIn(bob, 'bob', 'bob-pw');
    await seeMessage(bob, 'Are you still around? Call me when you are back.');
    await shot(bob, 'bob-back-sees-message');

    // bob is still a member of the lobby; alice leaves it, and bob sees her go.
    await bob.locator('#room-list .label', { hasText: '# lobby' }).waitFor({ timeout: WAIT_MS });
    await alice.click('#room-list .item:has-text("# lobby")');
    await alice.click('#leave-room');
    await alice.locator('#room-list .label', { hasText: '# lobby' }).waitFor({ state: 'detached', timeout: WAIT_MS });
    await bob.click('#room-list .item:has-text("# lobby")');
    await bob.locator('#messages .system', { hasText: 'alice left.' }).waitFor({ timeout: WAIT_MS });
    await shot(bob, 'bob-sees-alice-leave');

    assert.deepEqual(errors, [], 'no script errors in the pages');
    await Promise.all(contexts.map((c) => c.close()));
  });
});
