// Silences in real headless Chromium against a real alert-server: "Silence 1 h" from a history
// row, the silences page (list by state, held-back deliveries, new, expire), Chinese, a phone.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, launch, shot, startRobot, startServer, watchErrors, T, waitUntil } from './harness.mjs';



describe('silences in the console', () => {
  let server, robot, browser, context, page, errors;

  before(async () => {
    [server, robot, browser] = await Promise.all([startServer(), startRobot(), launch()]);
    context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(T);
    page.on('dialog', (d) => d.accept());
    errors = watchErrors(page);
    const inst = await server.api('POST', 'instances', {
      name: 'ops-robot',
      kind: 'dingtalk',
      params: { webhook: robot.webhook, secret: robot.secret },
    });
    assert.equal(inst.status, 201, JSON.stringify(inst.body));
    const group = await server.api('POST', 'groups', { name: 'ops', instance_ids: [inst.body.id] });
    const bound = await server.api('POST', 'bindings', { job: '*', group_id: group.body.id });
    assert.equal(bound.status, 201, JSON.stringify(bound.body));
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all([server?.stop(), robot?.stop()]);
  });

  const failed = (n) => ({
    job_id: 'b'.repeat(32),
    job_name: 'orders_etl',
    cluster: 'prod',
    status: 'FAILED',
    occurred_at: `2026-12-06T10:0${n}:00Z`,
    error: 'java.lang.IllegalStateException: upgrade in progress',
  });

  test('"Silence 1 h" on a history row silences that job: the next change is held back, not sent', async () => {
    const first = await server.api('POST', 'events', failed(0));
    assert.equal(first.status, 202, JSON.stringify(first.body));
    await waitUntil(() => robot.received() === 1);

    await page.goto(`${server.base}/#/history`);
    const row = page.getByRole('row').filter({ hasText: 'orders_etl' });
    await row.getByText('sent', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Silence orders_etl for 1 hour' }).click();
    const dialog = page.getByRole('dialog', { name: 'New silence' });
    assert.equal(await dialog.getByLabel('Job name or glob').inputValue(), 'orders_etl');
    assert.equal(await dialog.getByLabel('Cluster (name or glob)').inputValue(), 'prod');
    assert.equal(await dialog.getByLabel('Duration').inputValue(), '1');
    // No comment: the API's 422 shows on the comment field, nothing is created.
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.locator('.field[data-field="comment"] .field-error').waitFor({ state: 'visible' });
    assert.equal((await server.api('GET', 'silences')).body.length, 0);
    await dialog.getByLabel(/^Comment/).fill('Flink upgrade of orders');
    await shot(page, 'silence-form-desktop');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });

    const silences = (await server.api('GET', 'silences')).body;
    assert.equal(silences.length, 1);
    assert.equal(silences[0].state, 'active');
    assert.deepEqual(silences[0].matchers, { job: 'orders_etl', cluster: 'prod' });
    const hours = (Date.parse(silences[0].ends_at) - Date.parse(silences[0].starts_at)) / 3_600_000;
    assert.ok(Math.abs(hours - 1) < 0.01, `one hour, got ${hours}`);

    const second = await server.api('POST', 'events', failed(1));
    assert.equal(second.status, 202, JSON.stringify(second.body));
    assert.equal(second.body.silence_id, silences[0].id);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(robot.received(), 1, 'the silenced change was not sent');
  });

  test('the silences page lists by state, links to what was held back, creates and expires', async () => {
    // The overview counts the active silence and links to them.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
    await page.getByRole('link', { name: /^1\s*Active silences$/ }).click();
    await page.getByRole('button', { name: 'active', exact: true, pressed: true }).waitFor();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Silences' }).click();
    await page.getByRole('heading', { level: 1, name: 'Silences' }).waitFor();
    const rows = page.locator('tbody tr');
    await rows.first().waitFor();
    assert.match(await rows.first().textContent(), /job=orders_etl.*cluster=prod/);
    await rows.first().getByText('active', { exact: true }).waitFor();
    await shot(page, 'silences-desktop');

    // By state.
    await page.getByRole('button', { name: 'expired', exact: true }).click();
    await page.getByText('None yet.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'expired', exact: true }).getAttribute('aria-pressed'), 'true');
    await page.getByRole('button', { name: 'active', exact: true }).click();
    await rows.first().waitFor();

    // What it held back: the history, filtered by the silence.
    await rows.first().getByRole('link', { name: 'Held back' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delivery history' }).waitFor();
    const held = page.locator('tbody tr');
    await held.first().getByText('silenced', { exact: true }).waitFor();
    assert.equal(await held.count(), 1);
    await held.first().getByRole('button', { name: 'Details' }).click();
    await page.getByRole('dialog').getByText(/Held back by silence #\d+/).waitFor();
    await page.keyboard.press('Escape');

    // A new one from the page, with a label and a day.
    await page.goto(`${server.base}/#/silences`);
    await page.getByRole('button', { name: 'New silence' }).click();
    const dialog = page.getByRole('dialog', { name: 'New silence' });
    await dialog.getByLabel('Job name or glob').fill('payments_*');
    await dialog.getByLabel('CANCELED').check();
    await dialog.getByLabel('Labels').fill('team=data');
    await dialog.getByLabel('Duration').selectOption('24');
    await dialog.getByLabel(/^Comment/).fill('payments maintenance');
    await dialog.getByLabel('Created by').fill('ops');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await waitUntil(async () => (await rows.count()) === 2);
    const made = (await server.api('GET', 'silences')).body.find((s) => s.matchers.job === 'payments_*');
    assert.deepEqual(made.matchers, { job: 'payments_*', statuses: ['CANCELED'], labels: { team: 'data' } });
    assert.equal(made.created_by, 'ops');

    // Expire the first one: it moves to "expired".
    const orders = rows.filter({ hasText: 'orders_etl' });
    await orders.getByRole('button', { name: /Expire silence #\d+/ }).click();
    await page.getByText('Expired.').waitFor();
    await page.getByRole('button', { name: 'expired', exact: true }).click();
    await rows.filter({ hasText: 'orders_etl' }).getByText('expired', { exact: true }).waitFor();
    assert.equal(await rows.filter({ hasText: 'orders_etl' }).getByRole('button', { name: /Expire/ }).count(), 0);
    // (Another status: a second FAILED this soon after the first would be held back as a repeat.)
    const third = await server.api('POST', 'events', { ...failed(2), status: 'CANCELED' });
    assert.equal(third.status, 202, JSON.stringify(third.body));
    assert.equal(third.body.silence_id, undefined, 'expired: the change is sent again');
    await waitUntil(() => robot.received() === 2);
  });

  test('in Chinese and on a phone', async () => {
    await page.goto(`${server.base}/#/silences`);
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh');
    await page.getByRole('heading', { level: 1, name: '静默' }).waitFor();
    await page.getByRole('button', { name: '新建静默' }).waitFor();
    await shot(page, 'silences-zh-desktop');
    await page.setViewportSize(PHONE);
    await page.locator('tbody tr').first().waitFor();
    await shot(page, 'silences-zh-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the silences page scrolls sideways on a phone by ${overflow}px`);
    await page.getByRole('button', { name: '新建静默' }).click();
    await page.getByRole('dialog', { name: '新建静默' }).getByLabel('作业名或通配符').waitFor();
    await shot(page, 'silence-form-zh-phone');
    const dialogOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(dialogOverflow <= 0, `the dialog scrolls sideways on a phone by ${dialogOverflow}px`);
    await page.keyboard.press('Escape');
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.setViewportSize(DESKTOP);
    assert.deepEqual(errors, []);
  });
});
