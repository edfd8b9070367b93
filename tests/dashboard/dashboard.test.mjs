// Parse Dashboard (the official one, from npm) against cloudcode, driven in
// headless Chromium as an operator would: log in, open _User, add a row,
// edit a cell, delete a session, see the loaded cloud functions. Every
// change is then checked over the REST API. `tests/dashboard.rs` starts
// cloudcode and the Dashboard and passes their addresses in the environment.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const server = process.env.CLOUDCODE_URL;
const dashboard = process.env.DASHBOARD_URL;
const appId = process.env.CLOUDCODE_APP_ID;
const masterKey = process.env.CLOUDCODE_MASTER_KEY;
const appName = process.env.DASHBOARD_APP_NAME;
const [user, pass] = [process.env.DASHBOARD_USER, process.env.DASHBOARD_PASSWORD];

async function api(method, path, body, headers = {}) {
  const response = await fetch(`${server}${path}`, {
    method,
    headers: { 'X-Parse-Application-Id': appId, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}
const master = { 'X-Parse-Master-Key': masterKey };

/** Polls `check` (an async predicate over the REST API) for up to 10 s. */
async function eventually(what, check) {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`never happened: ${what}`);
}

let browser;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    // The machine's network is closed: no background fetches, no QUIC.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(15000);
});

after(async () => {
  await browser?.close();
});

test('the Dashboard manages users and sessions on cloudcode', async () => {
  const signup = await api('POST', '/users', { username: 'dash-alice', password: 'pw-alice-123' });
  assert.equal(signup.status, 201, JSON.stringify(signup.json));
  const phone = await api('POST', '/login', { username: 'dash-alice', password: 'pw-alice-123' },
    { 'X-Parse-Installation-Id': 'phone' });
  assert.equal(phone.status, 200, JSON.stringify(phone.json));

  // Log in to the Dashboard.
  await page.goto(`${dashboard}/login`);
  await page.locator('input[name=username]').fill(user);
  await page.locator('input[name=password]').fill(pass);
  await page.locator('input[type=submit]').click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));

  // The _User class lists the user.
  await page.goto(`${dashboard}/apps/${appName}/browser/_User`);
  await page.getByText('dash-alice', { exact: true }).waitFor();

  // Add a row: a new user, with a password the server hashes.
  await page.getByText('Add Row', { exact: true }).click();
  await page.getByText('(required)', { exact: true }).nth(1).dblclick();
  await page.keyboard.type('dash-bob');
  await page.keyboard.press('Enter');
  await page.getByText('(required)', { exact: true }).nth(1).dblclick();
  await page.keyboard.type('pw-bob-12345');
  await page.keyboard.press('Enter');
  await page.getByText('Add', { exact: true }).click();
  await eventually('dash-bob can log in', async () =>
    (await api('POST', '/login', { username: 'dash-bob', password: 'pw-bob-12345' })).status === 200);

  // Edit a cell: rename the new user.
  await page.getByText('dash-bob', { exact: true }).dblclick();
  await page.keyboard.press('Control+a');
  await page.keyboard.type('dash-robert');
  await page.keyboard.press('Enter');
  await eventually('dash-bob is dash-robert', async () => {
    const found = await api('GET', `/users?where=${encodeURIComponent('{"username":"dash-robert"}')}`,
      undefined, master);
    return found.json.results?.length === 1;
  });

  // Delete a session: the phone's token stops working at once, the other not.
  const sessions = await api('GET', `/sessions?where=${encodeURIComponent('{"installationId":"phone"}')}`,
    undefined, master);
  const phoneSession = sessions.json.results[0].objectId;
  await page.goto(`${dashboard}/apps/${appName}/browser/_Session`);
  await page.getByText(phoneSession, { exact: true }).locator('xpath=../span[1]/input').click();
  await page.getByText('Edit', { exact: true }).click();
  await page.getByText('Delete this row', { exact: true }).click();
  await page.getByText('Delete', { exact: true }).click();
  await eventually('the phone session is gone', async () =>
    (await api('GET', '/users/me', undefined, { 'X-Parse-Session-Token': phone.json.sessionToken })).status === 400);
  const me = await api('GET', '/users/me', undefined, { 'X-Parse-Session-Token': signup.json.sessionToken });
  assert.equal(me.status, 200, 'the other session lives');

  // The Cloud Code page lists the loaded hooks and their functions.
  await page.goto(`${dashboard}/apps/${appName}/cloud_code`);
  await page.getByText('builtin:logout-from-all-devices', { exact: true }).click();
  await page.getByText('logoutFromAllDevices', { exact: true }).waitFor();

  // What the server does not do fails in the Dashboard, not the Dashboard:
  // "Delete all rows" of _User is refused (users end one by one, each
  // through its own rules) and the browser goes on working.
  await page.goto(`${dashboard}/apps/${appName}/browser/_User`);
  await page.getByText('dash-robert', { exact: true }).waitFor();
  await page.getByText('Edit', { exact: true }).click();
  await page.getByText('Delete all rows', { exact: true }).click();
  await page.locator('input').last().fill('delete all');
  const purge = page.waitForResponse((r) => r.url().includes('/purge/_User'));
  await page.getByText('Delete', { exact: true }).click();
  assert.equal((await purge).status(), 400);
  const users = await api('GET', '/users', undefined, master);
  assert.equal(users.json.results.length, 2, 'no user was deleted');
  await page.getByText('Refresh', { exact: true }).click();
  await page.getByText('dash-alice', { exact: true }).waitFor();
});
