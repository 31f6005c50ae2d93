// Job-health conditions in the binding dialog, in real headless Chromium against a real
// alert-server: conditions next to the job states, thresholds with their errors inline.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, launch, shot, startServer, watchErrors, T } from './harness.mjs';

describe('job-health conditions in the binding dialog', () => {
  let server, browser, context, page, errors;

  before(async () => {
    [server, browser] = await Promise.all([startServer(), launch()]);
    context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(T);
    errors = watchErrors(page);
    const group = await server.api('POST', 'groups', { name: 'ops', instance_ids: [] });
    assert.equal(group.status, 201, JSON.stringify(group.body));
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  test('a binding with CHECKPOINT_FAILED and a threshold; a bad threshold shows on its field', async () => {
    await page.goto(`${server.base}/#/bindings`);
    await page.getByRole('heading', { level: 1, name: 'Bindings' }).waitFor();
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Job name or glob').fill('orders_*');
    await dialog.getByRole('group', { name: 'Job health' }).getByLabel('CHECKPOINT_FAILED').check();
    await dialog.getByText('Thresholds').click();
    const failures = dialog.getByLabel('checkpoint_failures');
    await failures.fill('0');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const error = dialog.locator('.field[data-field="thresholds.checkpoint_failures"] .field-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /at least 1/);
    assert.equal((await server.api('GET', 'bindings')).body.length, 0, 'nothing created');
    await failures.fill('5');
    await shot(page, 'binding-health-desktop');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });

    const [binding] = (await server.api('GET', 'bindings')).body;
    assert.ok(binding.statuses.includes('CHECKPOINT_FAILED'), JSON.stringify(binding));
    assert.ok(binding.statuses.includes('FAILED'), 'the default job states stay ticked');
    assert.equal(binding.thresholds.checkpoint_failures, 5);
    assert.equal(binding.thresholds.checkpoint_age_ms, 1800000);
    await page.getByRole('row').filter({ hasText: 'orders_*' }).getByText('CHECKPOINT_FAILED').waitFor();
  });

  test('in Chinese at 375 px', async () => {
    await page.setViewportSize(PHONE);
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh');
    await page.getByRole('button', { name: '新建', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('group', { name: '作业健康' }).waitFor();
    await shot(page, 'binding-health-zh-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the dialog scrolls sideways on a phone by ${overflow}px`);
    await page.keyboard.press('Escape');
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.setViewportSize(DESKTOP);
    assert.deepEqual(errors, []);
  });
});
