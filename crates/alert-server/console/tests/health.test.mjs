// Job-health conditions in real headless Chromium against a real alert-server: in the binding
// dialog (conditions next to the job states, thresholds with their errors inline), and on the
// cluster page (each job's last checkpoint and exception count, read from a mock JobManager).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, flinkJob, launch, shot, startFlink, startServer, waitUntil, watchErrors, T } from './harness.mjs';

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

  test('the cluster page shows each job\'s last checkpoint and exception count', async () => {
    const jid = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const other = 'ffb2c3d4e5f60718293a4b5c6d7e8f91';
    const now = Date.now();
    const failed = (id, at) => ({
      id, status: 'FAILED', is_savepoint: false, checkpoint_type: 'CHECKPOINT', trigger_timestamp: at - 10,
      latest_ack_timestamp: -1, end_to_end_duration: 10, num_subtasks: 2, num_acknowledged_subtasks: 1,
      failure_timestamp: at, failure_message: 'Checkpoint expired before completing.',
    });
    const completed = {
      id: 7, status: 'COMPLETED', is_savepoint: false, checkpoint_type: 'CHECKPOINT', trigger_timestamp: now - 125000,
      latest_ack_timestamp: now - 120000, end_to_end_duration: 4200, num_subtasks: 2, num_acknowledged_subtasks: 2,
      external_path: 'file:/tmp/chk-7',
    };
    const history = [failed(10, now - 2000), failed(9, now - 4000), failed(8, now - 6000), completed];
    const routes = {
      [`/jobs/${jid}/checkpoints`]: {
        counts: { restored: 0, total: 4, in_progress: 0, completed: 1, failed: 3 },
        latest: { completed, savepoint: null, failed: history[0], restored: null },
        history,
      },
      [`/jobs/${jid}/exceptions`]: { exceptionHistory: { entries: [], truncated: false } },
    };
    const flink = await startFlink([flinkJob(jid, 'orders_etl'), flinkJob(other, 'billing')], routes);
    try {
      // The binding of the first test asks for CHECKPOINT_FAILED on orders_*; another for EXCEPTION.
      const [binding] = (await server.api('GET', 'bindings')).body;
      const more = await server.api('POST', 'bindings', { job: 'orders_*', group_id: binding.group_id, statuses: ['EXCEPTION'] });
      assert.equal(more.status, 201, JSON.stringify(more.body));
      const created = await server.api('POST', 'clusters', { name: 'prod', url: flink.url, poll_interval_ms: 500 });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      // Two exceptions after the watcher's first poll.
      await waitUntil(async () => (await server.api('GET', `clusters/${created.body.id}/jobs`)).body.jobs?.length === 2);
      const entry = (n) => ({
        exceptionName: 'java.lang.ArithmeticException', stacktrace: 'java.lang.ArithmeticException: / by zero',
        timestamp: Date.now() + n, taskName: `Calc (1/1) - execution #${n}`, failureLabels: {},
      });
      routes[`/jobs/${jid}/exceptions`] = { exceptionHistory: { entries: [entry(2), entry(1)], truncated: false } };
      await waitUntil(async () => {
        const jobs = (await server.api('GET', `clusters/${created.body.id}/jobs`)).body.jobs;
        return jobs.find((j) => j.id === jid)?.exceptions === 2;
      });

      await page.goto(`${server.base}/#/clusters`);
      await page.getByRole('heading', { level: 1, name: 'Flink clusters' }).waitFor();
      await page.getByRole('row').filter({ hasText: 'prod' }).getByRole('button', { name: 'Show jobs' }).click();
      const row = page.getByRole('row').filter({ hasText: 'orders_etl' });
      const cell = row.locator('td[data-label="Last checkpoint"]');
      await cell.getByText('#7 2 min ago, took 4 s').waitFor();
      assert.match(await cell.textContent(), /3 failed in a row, the last \d+ s ago: Checkpoint expired before completing\./);
      assert.equal((await row.locator('td[data-label="Exceptions"]').textContent()).trim(), '2');
      // Nobody asks for billing's checkpoints: not read, and said so.
      const billing = page.getByRole('row').filter({ hasText: 'billing' }).locator('td[data-label="Last checkpoint"]');
      assert.equal((await billing.textContent()).trim(), '—');
      assert.match(await billing.locator('span').getAttribute('title'), /no binding asks/);
      await shot(page, 'cluster-checkpoints-desktop');
      await page.setViewportSize(PHONE);
      await shot(page, 'cluster-checkpoints-phone');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the jobs scroll sideways on a phone by ${overflow}px`);
      await page.setViewportSize(DESKTOP);
      await server.api('DELETE', `clusters/${created.body.id}`);
      await page.goto(`${server.base}/#/bindings`);
    } finally {
      await flink.stop();
    }
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
