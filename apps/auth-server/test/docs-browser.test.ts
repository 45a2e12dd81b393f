// Swagger UI in a real headless Chromium: Authorize (oauth2 client_credentials against this server's
// /token), then "Try it out" on GET /collect, which calls a real collector on another origin (CORS).
// Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`): skipped with one line without
// it, failed instead under TESSERA_REQUIRE_SYSTEM_TESTS=1 (see test/support/system-tool.ts).
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createVerifier } from '@tessera/guard';
import { chromium, type Browser } from 'playwright-core';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createCollectorApp } from '../../collector/src/app.js';
import { loadConfig as loadCollectorConfig } from '../../collector/src/config.js';
import { createApp } from '../src/app.js';
import { buildDeps, ensureAdminClient } from '../src/bootstrap.js';
import { loadConfig } from '../src/config.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { systemTool } from '../../../test/support/system-tool.js';

const CHROMIUM = systemTool('chromium', '/usr/bin/chromium', 'apt-get install chromium');
const ARTIFACTS = fileURLToPath(new URL('../../../artifacts/', import.meta.url));
const SCREENSHOT = `${ARTIFACTS}docs-collect.png`;
const STEP_MS = 10_000;
const LAUNCH_MS = 30_000;
const TOTAL_MS = 60_000;

async function listen(): Promise<{ server: Server; url: string }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe.skipIf(!CHROMIUM.available)('Swagger UI at /docs in headless Chromium', () => {
  let auth: { server: Server; url: string };
  let collector: { server: Server; url: string };
  let store: MemoryStore;
  let client: { client_id: string; client_secret: string };
  let browser: Browser | undefined;

  beforeAll(async () => {
    auth = await listen();
    collector = await listen();
    const issuer = auth.url;

    const config = loadConfig({
      ISSUER: issuer,
      COLLECTOR_URL: collector.url,
      KEY_ENCRYPTION_SECRET: 'test-key-encryption-secret-0123456789abcdef',
      ADMIN_CLIENT_ID: 'test-admin',
      ADMIN_CLIENT_SECRET: 'test-admin-secret-0123456789abcdef-0123456789',
    });
    store = new MemoryStore(Date.now);
    const deps = await buildDeps(config, { logger: pino({ level: 'silent' }), store });
    const admin = await ensureAdminClient(deps);
    auth.server.on('request', createApp(deps).public);

    const collectorConfig = loadCollectorConfig({
      ISSUER: issuer,
      JWKS_URI: `${issuer}/.well-known/jwks.json`,
      CORS_ORIGINS: issuer,
    });
    const verifier = createVerifier({
      issuer: collectorConfig.issuer,
      audience: collectorConfig.audience,
      jwksUri: collectorConfig.jwksUri,
      clockTolerance: collectorConfig.clockTolerance,
    });
    collector.server.on(
      'request',
      createCollectorApp({ config: collectorConfig, verifier, logger: pino({ level: 'silent' }), registry: new Registry() }),
    );

    const tokenRes = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa(`${admin.clientId}:${admin.secret}`)}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const res = await fetch(`${issuer}/admin/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'swagger ui browser test', scopes: ['collect'], audiences: ['collector'] }),
    });
    if (res.status !== 201) throw new Error(`create client: ${res.status} ${await res.text()}`);
    client = (await res.json()) as typeof client;
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([auth && close(auth.server), collector && close(collector.server)]);
    await store?.close();
  });

  it('authorizes with client_credentials and calls GET /collect on the collector; screenshot in artifacts/', { timeout: TOTAL_MS }, async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM.path,
      // a first start on a cold machine, beside the rest of the suite, has taken over 10 s
      timeout: LAUNCH_MS,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.setDefaultTimeout(STEP_MS);
    // Browser-side problems (CSP violations, CORS refusals) end up in the console: show them on failure.
    const console: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    const collectRequests: { method: string; url: string; authorization: string | undefined }[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(collector.url)) collectRequests.push({ method: r.method(), url: r.url(), authorization: r.headers().authorization });
    });

    try {
      await page.goto(`${auth.url}/docs`);

      // Authorize: the oauth2 scheme, client_credentials flow, scope collect.
      await page.locator('.auth-wrapper .btn.authorize').click();
      const oauth2 = page.locator('.auth-container', { has: page.locator('h4', { hasText: /^oauth2 / }) });
      await oauth2.locator('input[id^="client_id"]').fill(client.client_id);
      await oauth2.locator('input[id^="client_secret"]').fill(client.client_secret);
      // The scope checkbox itself is hidden behind Swagger UI's styled label: click the label.
      const scope = oauth2.locator('input[type="checkbox"][id^="collect-"]');
      if (!(await scope.isChecked())) await oauth2.locator('label[for^="collect-"]').click();
      expect(await scope.isChecked()).toBe(true);
      const tokenResponse = page.waitForResponse((r) => r.url() === `${auth.url}/token` && r.request().method() === 'POST');
      await oauth2.locator('.btn.modal-btn.auth.authorize').click();
      expect((await tokenResponse).status(), console.join('\n')).toBe(200);
      await expect.poll(() => oauth2.getByText('Authorized', { exact: true }).count(), { timeout: STEP_MS }).toBeGreaterThan(0);
      await oauth2.locator('.btn.modal-btn.auth.btn-done').click();
      await page.locator('.dialog-ux').waitFor({ state: 'detached' });

      // GET /collect: expand, Try it out, Execute.
      const collect = page.locator('.opblock.opblock-get', { has: page.locator('.opblock-summary-path', { hasText: /^\/collect$/ }) });
      await collect.locator('.opblock-summary').click();
      await collect.locator('.try-out__btn').click();
      await collect.locator('.btn.execute').click();

      const body = collect.locator('.responses-wrapper .live-responses-table .response-col_description .microlight').first();
      await body.waitFor();
      await expect.poll(async () => (await body.textContent()) ?? '', { timeout: STEP_MS, message: console.join('\n') }).toContain('"collected"');
      const text = (await body.textContent()) ?? '';
      expect(text).toContain(client.client_id);
      expect(text).toMatch(/"scope":\s*"collect"/);
      const status = await collect.locator('.live-responses-table .response .response-col_status').first().textContent();
      expect(status?.trim()).toBe('200');
      // the browser itself sent the token Swagger UI obtained, cross-origin, to the collector
      const sent = collectRequests.filter((r) => r.method === 'GET' && r.url === `${collector.url}/collect`);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);

      await mkdir(ARTIFACTS, { recursive: true });
      // The operation's header (GET /collect, padlock), the request and the 200 response in one view.
      await collect.locator('.opblock-summary').evaluate((el) => el.scrollIntoView({ block: 'start' }));
      await page.screenshot({ path: SCREENSHOT });
    } catch (error) {
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}docs-collect-failure.png`, fullPage: true }).catch(() => undefined);
      throw new Error(`${(error as Error).message}\nbrowser console:\n${console.join('\n') || '(empty)'}`, { cause: error });
    }
  });
});
