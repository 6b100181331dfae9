// Issue 10: the web dashboard in a real browser — Debian's chromium driven by playwright-core. A deploy
// token in the URL fragment signs in (and leaves the address bar); a canary deployed from the CLI under
// load shows up and moves through its steps live, without a reload; Promote moves it on; Abort (by
// keyboard, through the confirmation dialog) sends it back, and the page shows the deployment aborted
// and the stable release live. A read token sees no buttons; the login page takes a typed token and
// refuses a wrong one; the page works at 360 px, every control has a name, text meets AA contrast in
// both colour schemes; after zdd restart the page reconnects by itself.
// Screenshots go to test-output/dashboard/ (named in the test output); ZDD_UPDATE_DOCS=1 also writes
// docs/dashboard.png, the README's.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { zdd } from '../helpers/cli.ts';
import { startDaemon, type DaemonProcess } from '../helpers/daemon.ts';
import { request } from '../helpers/http.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../helpers/ports.ts';
import { makeProject, repoRoot, serviceYaml, type Project } from '../helpers/project.ts';

const chromiumPath = process.env.ZDD_CHROMIUM ?? '/usr/bin/chromium';
const shots = path.join(repoRoot, 'test-output', 'dashboard');
const desktop = { width: 1280, height: 1000 };

/** Saves a screenshot and names it in the test output. */
async function screenshot(t: TestContext, page: Page, name: string, fullPage = false): Promise<string> {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  t.diagnostic(`screenshot: ${file}`);
  return file;
}

/** In-page checks (browser JavaScript, typed by JSDoc and checked with the dashboard's code). */
const checks = (await import(new URL('../dashboard/page-checks.js', import.meta.url).href)) as {
  lowContrast: () => string[];
  horizontalOverflow: () => number;
  keptToken: () => string | null;
  indicatorAnimation: () => string;
};

/** Buttons, fields, links and dialogs without an accessible name, from the page's accessibility tree. */
async function unnamedControls(page: Page): Promise<string[]> {
  const tree = await page.locator('body').ariaSnapshot();
  return tree.split('\n').filter((line) => /^\s*- (button|textbox|combobox|link|dialog|checkbox)\s*(\[[^\]]*\])?:?\s*$/.test(line));
}

describe('web dashboard', { timeout: 240_000 }, () => {
  let project: Project;
  let daemon: DaemonProcess;
  let browser: Browser;
  let control: string;
  let port: number;
  let deployToken: string;
  let readToken: string;
  const contexts: BrowserContext[] = [];

  const newPage = async (o: { viewport?: { width: number; height: number }; isMobile?: boolean } = {}) => {
    const context = await browser.newContext({ viewport: o.viewport ?? desktop, isMobile: o.isMobile ?? false, deviceScaleFactor: 1, reducedMotion: 'reduce' });
    context.setDefaultTimeout(20_000);
    contexts.push(context);
    return context.newPage();
  };

  before(async () => {
    assert.ok(existsSync(chromiumPath), `no chromium at ${chromiumPath}: apt-get install chromium (.ci/run does)`);
    mkdirSync(shots, { recursive: true });
    port = await freePort();
    const controlPort = await freePort();
    control = `http://127.0.0.1:${controlPort}`;
    // Step 1 passes after 3 s under load; steps 2 and 3 hold for minutes: long enough to watch, promote and abort.
    project = makeProject(
      `control: { listen: "127.0.0.1:${controlPort}" }\n` +
        serviceYaml({ port, replicas: 2, strategy: '{ type: canary, steps: [{ weight: 20, pause: 3s }, { weight: 40, pause: 10m }, { weight: 60, pause: 10m }], analysis: { minRequests: 50 } }', drainTimeout: '2s' }),
    );
    daemon = await startDaemon(project.dir);
    assert.equal((await zdd(project.dir, ['deploy', 'web', '--version', 'v1'])).code, 0);
    deployToken = (await zdd(project.dir, ['token', 'create', '--name', 'ops'])).stdout.trim().split('\n').at(-1)!;
    readToken = (await zdd(project.dir, ['token', 'create', '--name', 'viewer', '--role', 'read'])).stdout.trim().split('\n').at(-1)!;
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    // zdd restart (the last test) leaves a successor daemon: stop it over the socket.
    if (project) await zdd(project.dir, ['stop']);
    await daemon?.stop();
    project?.remove();
  });

  it('serves the page without a token under a strict CSP, the API only with one; whoami tells each caller its role', { timeout: 20_000 }, async () => {
    const page = await request(`${control}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'.*script-src 'self'/);
    assert.ok(!/<script>|<style>| style=/.test(page.body), 'no inline script or style');
    assert.equal((await request(`${control}/assets/main.js`)).headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal((await request(`${control}/v1/whoami`)).status, 401);
    const whoami = async (token: string) => JSON.parse((await request(`${control}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } })).body) as unknown;
    assert.deepEqual(await whoami(deployToken), { name: 'ops', role: 'deploy' });
    assert.deepEqual(await whoami(readToken), { name: 'viewer', role: 'read' });
    const local = await new Promise<unknown>((resolve, reject) => {
      http
        .get({ socketPath: path.join(project.dir, '.zdd', 'zdd.sock'), path: '/v1/whoami' }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve(JSON.parse(text)));
        })
        .once('error', reject);
    });
    assert.deepEqual(local, { name: null, role: 'deploy' }, 'the Unix socket may do everything');
  });

  it('signs in from #token=, follows a canary live under load, promotes it, aborts it after a confirmation, and shows the rollback', { timeout: 150_000 }, async (t) => {
    const page = await newPage();
    const problems: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    let loads = 0;
    page.on('load', () => loads++);

    await page.goto(`${control}/#token=${deployToken}`);
    const service = page.getByRole('article', { name: 'web', exact: true });
    await service.getByText('Live: release #1 (v1)').waitFor();
    assert.ok(!page.url().includes('token'), `the token left the address bar: ${page.url()}`);
    assert.equal(await page.evaluate(checks.keptToken), deployToken, 'kept for the session');
    await page.getByText('ops (deploy)').waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).first().waitFor();

    // A read token, in another browser session, watches the same deployment.
    const reader = await newPage();
    await reader.goto(`${control}/#token=${readToken}`);
    await reader.getByText('viewer (read)').waitFor();

    const load = startLoad({ url: `http://127.0.0.1:${port}`, connections: 4, rate: 300 });
    const deploying = zdd(project.dir, ['deploy', 'web', '--version', 'v2', '--env', 'APP_VERSION=v2']);
    try {
      const deployment = page.getByRole('article', { name: /^Deployment #\d+ of web$/ });
      await deployment.getByText(/^Running: step 1\/3/).waitFor();
      await service.getByText('Traffic: release #2 (canary) 20% · release #1 (stable) 80%').waitFor();
      // The page moves on by itself: step 1 passes, step 2 starts, the split changes.
      await deployment.getByText('Running: step 2/3 (canary at 40% of traffic)').waitFor({ timeout: 60_000 });
      await service.getByText('Traffic: release #2 (canary) 40% · release #1 (stable) 60%').waitFor();
      await deployment.getByRole('listitem').filter({ hasText: /step 1\/3\s+done\s+passed: no regression detected/ }).waitFor();
      // The analysis over time: canary and stable lines, and the bound, in both charts.
      await deployment.getByRole('img', { name: /^Error rate: canary against stable since .*; now canary [\d.<]+%, stable [\d.<]+%, bound [\d.]+%$/ }).waitFor();
      await deployment.getByRole('img', { name: /^p99 latency: canary against stable .*bound [\d.]+ ms$/ }).waitFor();
      assert.ok((await deployment.locator('path.series-canary').count()) >= 2, 'a canary line in each chart');
      assert.ok((await deployment.locator('path.series-bound').count()) >= 2, 'a bound line in each chart');
      await service.getByRole('img', { name: /^Requests per second of release 2 (over the last 5 minutes|since [\d:]+); now \d/ }).waitFor();
      await page.getByRole('listitem').filter({ hasText: /web-r2-\d+ healthy/ }).first().waitFor();
      const docsShot = await screenshot(t, page, 'desktop-canary');
      if (process.env.ZDD_UPDATE_DOCS === '1') copyFileSync(docsShot, path.join(repoRoot, 'docs', 'dashboard.png'));

      // The read token sees the deployment but no button that changes anything.
      await reader.getByRole('article', { name: /^Deployment #\d+ of web$/ }).getByText(/^Running: step 2\/3/).waitFor();
      assert.equal(await reader.getByRole('button', { name: /^(Abort|Promote|Roll back)/ }).count(), 0, 'no deploy buttons for a read token');
      await screenshot(t, reader, 'desktop-read-token');

      // Promote, by mouse, through its confirmation: step 3 starts at once.
      await deployment.getByRole('button', { name: 'Promote deployment #2 of web' }).click();
      const promoteDialog = page.getByRole('dialog', { name: 'Promote the canary of web?' });
      await promoteDialog.getByRole('button', { name: 'Promote' }).click();
      await promoteDialog.waitFor({ state: 'hidden' });
      await deployment.getByText('deployment #2 promoted').waitFor();
      await deployment.getByText('Running: step 3/3 (canary at 60% of traffic)').waitFor();
      await deployment.getByRole('listitem').filter({ hasText: /step 2\/3\s+done\s+promoted by user/ }).waitFor();
      await service.getByText('Traffic: release #2 (canary) 60% · release #1 (stable) 40%').waitFor();

      // Abort, by keyboard: the dialog opens with Cancel focused; Escape would cancel.
      const abort = deployment.getByRole('button', { name: 'Abort deployment #2 of web' });
      await abort.focus();
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: 'Abort the deployment of web?' });
      await dialog.waitFor();
      await page.waitForFunction("document.activeElement?.id === 'confirm-cancel'");
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      await page.waitForFunction("document.activeElement?.textContent === 'Abort'");
      assert.match(await deployment.getByRole('status').first().innerText(), /^Running/, 'cancelled: still running');
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      await screenshot(t, page, 'desktop-confirm-abort');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter'); // the dialog's Abort

      await deployment.getByText(/^Aborted: aborted by user$/).waitFor();
      await deployment.getByRole('listitem').filter({ hasText: /rollback\s+info\s+all traffic back on release 1/ }).waitFor();
      await deployment.getByText('Deployment of web aborted: aborted by user').waitFor();
      await service.getByText('Traffic: release #1 (live) 100%').waitFor();
      await service.getByText('Live: release #1 (v1)').waitFor();
      await reader.getByRole('article', { name: /^Deployment #\d+ of web$/ }).getByText(/^Aborted/).waitFor();
      // The history has it too, with every step.
      const record = page.locator('#history details').filter({ hasText: /aborted\s+#2 deploy canary/ });
      await record.waitFor();
      await record.locator('summary').click();
      await record.getByText(/all traffic back on release 1/).waitFor();
      await screenshot(t, page, 'desktop-aborted', true);
    } finally {
      const cli = await deploying;
      const traffic = await load.stop();
      assert.equal(cli.code, 1, cli.stdout + cli.stderr);
      assert.match(cli.stdout + cli.stderr, /aborted/);
      assert.equal(traffic.errors + traffic.timeouts + traffic.non2xx, 0, `no failed request: ${JSON.stringify(traffic)}`);
    }
    assert.equal(loads, 1, 'everything arrived live: the page never reloaded');
    assert.deepEqual(problems, [], 'no console errors (CSP violations included)');
  });

  it('signs in with a typed token, refuses a wrong one with a message, signs out, and returns to the login page for a refused token', { timeout: 60_000 }, async (t) => {
    const page = await newPage();
    await page.goto(`${control}/`);
    const field = page.getByLabel('Token');
    await field.waitFor();
    await field.fill('zdd_not-a-token');
    await field.press('Enter');
    await page.getByRole('alert').getByText(/^That token was refused: the token is not valid/).waitFor();
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await screenshot(t, page, 'login-refused');

    await field.fill(readToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Services' }).waitFor();
    await page.getByText('viewer (read)').waitFor();
    assert.ok(!page.url().includes(readToken) && !page.url().includes('?'), page.url());
    await page.getByRole('article', { name: 'web', exact: true }).getByText('Live: release #1 (v1)').waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('Token').waitFor();
    await page.getByText('You signed out.').waitFor();
    assert.equal(await page.evaluate(checks.keptToken), null);

    // A token that stops working (revoked, mistyped link) leads back to the login page, saying why.
    const stale = await newPage();
    await stale.goto(`${control}/#token=zdd_revoked-or-mistyped`);
    await stale.getByRole('alert').getByText(/^Your token was refused/).waitFor();
    assert.ok(!stale.url().includes('zdd_revoked'), stale.url());
    assert.equal(await stale.evaluate(checks.keptToken), null);
  });

  it('fits a 360 px phone, names every control, meets AA contrast in light and dark, and respects reduced motion', { timeout: 60_000 }, async (t) => {
    const page = await newPage({ viewport: { width: 360, height: 780 }, isMobile: true });
    await page.goto(`${control}/#token=${deployToken}`);
    await page.getByRole('article', { name: 'web', exact: true }).getByText('Live: release #1 (v1)').waitFor();
    await page.locator('#history details').first().waitFor();
    const overflow = await page.evaluate(checks.horizontalOverflow);
    assert.ok(overflow <= 0, `no horizontal scrolling at 360 px (${overflow} px too wide)`);
    await screenshot(t, page, 'phone', true);

    assert.deepEqual(await unnamedControls(page), [], 'every control has an accessible name');
    await page.getByRole('button', { name: 'Roll back web' }).waitFor();
    await page.getByLabel('Service', { exact: true }).waitFor();
    assert.deepEqual(await page.getByRole('main').count(), 1);
    assert.deepEqual(await page.getByRole('banner').count(), 1);
    // The first Tab reaches the skip link.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');

    assert.deepEqual(await page.evaluate(checks.lowContrast), [], 'light scheme');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.deepEqual(await page.evaluate(checks.lowContrast), [], 'dark scheme');
    await screenshot(t, page, 'phone-dark');
    const animation = await page.evaluate(checks.indicatorAnimation);
    assert.equal(animation, 'none', 'no pulsing under prefers-reduced-motion');

    const login = await newPage();
    await login.goto(`${control}/`);
    await login.getByLabel('Token').waitFor();
    assert.deepEqual(await unnamedControls(login), []);
    assert.deepEqual(await login.evaluate(checks.lowContrast), []);
  });

  it('reconnects by itself when the daemon restarts (zdd restart), without a reload', { timeout: 60_000 }, async () => {
    const page = await newPage();
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`${control}/#token=${deployToken}`);
    const header = page.locator('#daemon');
    await header.getByText(`pid ${daemon.proc.pid} `).waitFor();
    const restarted = await zdd(project.dir, ['restart']);
    assert.equal(restarted.code, 0, restarted.stderr);
    const successor = (JSON.parse((await zdd(project.dir, ['status', '--json'])).stdout) as { daemon: { pid: number } }).daemon.pid;
    assert.notEqual(successor, daemon.proc.pid);
    await header.getByText(`pid ${successor} `).waitFor();
    await page.getByRole('status').filter({ hasText: /^Live$/ }).waitFor();
    await page.getByRole('article', { name: 'web', exact: true }).getByText('Live: release #1 (v1)').waitFor();
    assert.equal(loads, 1, 'the page reconnected its stream; it did not reload');
  });
});
