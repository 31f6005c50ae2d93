// The overview (the console's home page) in real headless Chromium: deliveries of the last 24
// hours per hour, the clusters' jobs by state, the instances in trouble; English and Chinese,
// desktop and 375 px wide. Run: npm test (after building the binaries; see harness.mjs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, flinkJob, launch, shot, startFlink, startRobot, startServer, watchErrors, T, waitUntil } from './harness.mjs';



describe('the overview, the home page', () => {
  let server, robot, flink, browser, down;
  const jobs = [flinkJob('a'.repeat(32), 'orders_etl'), flinkJob('b'.repeat(32), 'payments_etl'), flinkJob('c'.repeat(32), 'billing_etl', 'FAILED')];

  before(async () => {
    [server, robot, flink, browser] = await Promise.all([startServer(), startRobot(), startFlink(jobs), launch()]);
    const ok = await server.api('POST', 'instances', { name: 'ops-robot', kind: 'dingtalk', rate_per_minute: 0, params: { webhook: robot.webhook, secret: robot.secret } });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    // Nobody answers there: every attempt fails with a connection error and is retried.
    down = await server.api('POST', 'instances', { name: 'down-robot', kind: 'dingtalk', rate_per_minute: 0, params: { webhook: 'http://127.0.0.1:9/robot/send?access_token=never-shown' } });
    assert.equal(down.status, 201, JSON.stringify(down.body));
    const group = await server.api('POST', 'groups', { name: 'ops', instance_ids: [ok.body.id, down.body.id] });
    for (let n = 0; n < 3; n++) {
      const r = await server.api('POST', 'events', { job_id: `job-${n}`, job_name: `orders_${n}`, status: 'FAILED', group_id: group.body.id });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    const cluster = await server.api('POST', 'clusters', { name: 'prod', url: flink.url, poll_interval_ms: 500 });
    assert.equal(cluster.status, 201, JSON.stringify(cluster.body));
    await waitUntil(async () => {
      const s = (await server.api('GET', 'stats')).body;
      return s.deliveries.sent === 3 && s.instances_in_trouble.length === 1 && s.clusters[0]?.jobs.RUNNING === 2;
    });
  });

  after(async () => {
    await browser?.close();
    await Promise.all([server?.stop(), robot?.stop(), flink?.stop()]);
  });

  test('shows the totals, the hourly chart, the cluster\'s jobs and the failing instance, linked to its history', async () => {
    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(T);
    const errors = watchErrors(page);
    await page.goto(server.base + '/');
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Overview' }).getAttribute('aria-current'), 'page');

    // Totals of the last 24 hours: three sent, none failed yet (the down robot's are retrying).
    assert.equal(await page.locator('.tile-sent .tile-value').textContent(), '3');
    assert.equal(await page.locator('.tile-failed .tile-value').textContent(), '0');
    assert.equal(await page.locator('.tile-silenced .tile-value').textContent(), '0');
    assert.equal(await page.locator('.tile-pending .tile-value').textContent(), '3');

    // One bar per hour of the window; the newest holds the sends, as the data table says.
    const stats = (await server.api('GET', 'stats')).body;
    const bars = page.locator('.bars .bar');
    assert.equal(await bars.count(), stats.hourly.length);
    assert.ok((await bars.last().locator('.seg-sent').count()) === 1, 'the newest hour has a sent segment');
    const height = await bars.last().locator('.bar-stack').evaluate((el) => el.getBoundingClientRect().height);
    assert.ok(height > 20, `the newest bar is drawn (${height}px)`);
    await page.getByRole('table', { name: 'Deliveries per hour' }).waitFor({ state: 'attached' });

    // The cluster: reachable, jobs by state, unhealthy first.
    const card = page.locator('[data-cluster="prod"]');
    await card.getByText('reachable').waitFor();
    assert.deepEqual(await card.locator('.job-counts li').allTextContents(), ['FAILED 1', 'RUNNING 2']);

    // The failing instance with its last error, never its webhook's token.
    const trouble = page.locator(`[data-instance="${down.body.id}"]`);
    await trouble.getByText('failing').waitFor();
    assert.match(await trouble.locator('.error-text').textContent(), /connect|refused/i);
    assert.equal(await page.locator('.trouble').count(), 1);
    assert.ok(!(await page.content()).includes('never-shown'), 'no secret on the page');
    await shot(page, 'overview-desktop');

    // Its link opens the history filtered on it.
    await trouble.getByRole('link', { name: 'down-robot' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delivery history' }).waitFor();
    assert.equal(await page.getByLabel('Instance').inputValue(), String(down.body.id));
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('in Chinese, 375 px wide, without horizontal scrolling', async () => {
    for (const [locale, heading, failing] of [['zh-CN', '概览', '发送失败'], ['en-US', 'Overview', 'failing']]) {
      const context = await browser.newContext({ viewport: PHONE, locale });
      const page = await context.newPage();
      page.setDefaultTimeout(T);
      const errors = watchErrors(page);
      await page.goto(server.base + '/');
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      await page.locator(`[data-instance="${down.body.id}"]`).getByText(failing).waitFor();
      await page.locator('[data-cluster="prod"] .job-counts').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      const wide = await page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
          .slice(0, 5),
      );
      assert.ok(overflow <= 0, `the overview scrolls sideways on a phone by ${overflow}px: ${wide.join(', ')}`);
      await shot(page, `overview-${locale.slice(0, 2)}-phone`);
      assert.deepEqual(errors, []);
      await context.close();
    }
  });
});
