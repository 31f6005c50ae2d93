// The console in real headless Chromium against a real alert-server and mock channels.
// Run: npm test (after building the binaries; see harness.mjs).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, flinkJob, launch, shot, startFlink, startRobot, startServer, watchErrors, T, waitUntil } from './harness.mjs';


describe('console against an open server', () => {
  let server, robot, flink, browser, context, page, errors;
  const jobs = [flinkJob('a'.repeat(32), 'orders_etl')];

  before(async () => {
    [server, robot, flink, browser] = await Promise.all([startServer(), startRobot(), startFlink(jobs), launch()]);
    context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(T);
    errors = watchErrors(page);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all([server?.stop(), robot?.stop(), flink?.stop()]);
  });

  test('serves the console at / in English for an English browser: the overview, then the instances', async () => {
    await page.goto(server.base + '/');
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'History' }).waitFor();
    await nav.getByRole('link', { name: 'Alert instances' }).click();
    await page.getByRole('heading', { level: 1, name: 'Alert instances' }).waitFor();
  });

  test('creates a DingTalk instance through the generated form, with an inline error for a bad webhook', async () => {
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'New alert instance' });
    await dialog.waitFor();
    await dialog.getByLabel('Name').fill('ops-robot');
    await dialog.getByLabel('Channel', { exact: true }).selectOption('dingtalk');
    // The parameters come from GET /api/v1/plugins: DingTalk's webhook and secret fields.
    const webhook = dialog.getByLabel(/^webhook\b/);
    const secret = dialog.getByLabel(/^secret\b/);
    // Both are secret parameters: write-only password fields.
    assert.equal(await secret.getAttribute('type'), 'password');
    assert.equal(await webhook.getAttribute('type'), 'password');
    await webhook.fill('not a url');
    await secret.fill(robot.secret);
    await shot(page, 'instance-form-desktop');
    await dialog.getByRole('button', { name: 'Create' }).click();

    // The API's 422 names params.webhook: the message sits under that field, which is invalid.
    const error = dialog.locator('.field[data-field="params.webhook"] .field-error');
    await error.waitFor({ state: 'visible' });
    const message = await error.textContent();
    assert.ok(message && message.length > 3, `an inline message for the webhook: ${message}`);
    assert.equal(await webhook.getAttribute('aria-invalid'), 'true');
    assert.ok(await webhook.evaluate((el) => el === document.activeElement), 'focus on the bad field');
    const described = await webhook.getAttribute('aria-describedby');
    assert.ok(described?.includes(await error.getAttribute('id')), 'the error describes the field');
    await shot(page, 'instance-form-error-desktop');

    await webhook.fill(robot.webhook);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'ops-robot', exact: true }).waitFor();
    const [inst] = (await server.api('GET', 'instances')).body;
    assert.equal(inst.kind, 'dingtalk');
    assert.equal(inst.params.webhook, '******', 'the webhook was stored (and is masked)');
    assert.equal(inst.params.secret, '******', 'the secret was stored (and is masked)');
  });

  test('"Send test" shows the channel\'s answer: delivered, then a refusal', async () => {
    const row = page.getByRole('row').filter({ hasText: 'ops-robot' });
    const before = robot.received();
    await row.getByRole('button', { name: 'Send test' }).click();
    await row.getByText('Test message delivered.').waitFor();
    // The mock robot prints every request it got (it looks every 300 ms).
    await waitUntil(() => robot.received() === before + 1);

    // Editing keeps the write-only secret when left empty, and a wrong one makes DingTalk refuse.
    await row.getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit alert instance “ops-robot”' });
    const secret = dialog.getByLabel(/^secret\b/);
    assert.equal(await secret.inputValue(), '', 'secrets are never shown');
    await secret.fill('SECwrong');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row2 = page.getByRole('row').filter({ hasText: 'ops-robot' });
    await row2.getByRole('button', { name: 'Send test' }).click();
    const refused = row2.locator('output.test-result.error');
    await refused.waitFor();
    assert.match(await refused.textContent(), /The channel refused: .*(sign|310000)/i);
    await shot(page, 'instances-test-refused-desktop');

    // Back to the right secret; an edit without touching the secret keeps it.
    await row2.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel(/^secret\b/).fill(robot.secret);
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.getByRole('row').filter({ hasText: 'ops-robot' }).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('dialog').getByLabel('Messages per minute').fill('30');
    await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    const row3 = page.getByRole('row').filter({ hasText: 'ops-robot' });
    const sent = robot.received();
    await row3.getByRole('button', { name: 'Send test' }).click();
    await row3.getByText('Test message delivered.').waitFor();
    await waitUntil(() => robot.received() > sent);
  });

  test('the enabled toggle is a keyboard-usable switch', async () => {
    const toggle = page.getByRole('switch', { name: 'Enable ops-robot' });
    assert.equal(await toggle.isChecked(), true);
    await toggle.focus();
    await page.keyboard.press('Space');
    await waitUntil(async () => (await server.api('GET', 'instances')).body[0].enabled === false);
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('[role=switch]')?.checked === true);
    await waitUntil(async () => (await server.api('GET', 'instances')).body[0].enabled === true);
  });

  test('every plugin gets its form from the schema: one labelled control per parameter, by type', async () => {
    const plugins = (await server.api('GET', 'plugins')).body;
    assert.ok(plugins.length >= 5, 'all channel plugins are linked');
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'New alert instance' });
    for (const plugin of plugins) {
      await dialog.getByLabel('Channel', { exact: true }).selectOption(plugin.kind);
      for (const spec of plugin.params) {
        const wrap = dialog.locator(`.field[data-field="params.${spec.name}"]`);
        assert.equal(await wrap.count(), 1, `${plugin.kind}.${spec.name} has a field`);
        const control = wrap.locator('input, select, textarea').first();
        const tag = await control.evaluate((el) => el.tagName.toLowerCase());
        const type = await control.getAttribute('type');
        const expected = spec.secret
          ? ['input', 'password']
          : { bool: ['input', 'checkbox'], integer: ['input', 'number'], url: ['input', 'url'], enum: ['select', null], list: ['textarea', null], text: ['textarea', null] }[spec.type] ?? ['input', 'text'];
        assert.deepEqual([tag, type], expected, `${plugin.kind}.${spec.name} (${spec.type}${spec.secret ? ', secret' : ''})`);
        // Labelled by the parameter's name, described by its description.
        const label = await control.evaluate((el) => el.labels?.[0]?.textContent ?? '');
        assert.ok(label.startsWith(spec.name), `${plugin.kind}.${spec.name} label: ${label}`);
        const help = await wrap.locator('.help').textContent();
        assert.ok(help.includes(spec.description), `${plugin.kind}.${spec.name} help`);
        if (spec.type === 'enum' && !spec.secret) {
          const options = await control.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
          assert.deepEqual(options, spec.options);
        }
      }
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('a WeCom app instance round-trips enums, integers and lists; a bad integer is shown on its field', async () => {
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'New alert instance' });
    await dialog.getByLabel('Name').fill('wecom-app');
    await dialog.getByLabel('Channel', { exact: true }).selectOption('wechat');
    await dialog.getByLabel(/^send_type\b/).selectOption('app');
    await dialog.getByLabel(/^corp_id\b/).fill('ww0123456789');
    await dialog.getByLabel(/^secret\b/).fill('app-secret');
    await dialog.getByLabel(/^users\b/).fill('zhangsan\nlisi');
    // type=number refuses letters in a real browser: a negative id is what the API can reject.
    await dialog.getByLabel(/^agent_id\b/).fill('1.5');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const error = dialog.locator('.field[data-field="params.agent_id"] .field-error');
    await error.waitFor({ state: 'visible' });
    await dialog.getByLabel(/^agent_id\b/).fill('1000002');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const created = (await server.api('GET', 'instances')).body.find((i) => i.name === 'wecom-app');
    assert.equal(created.params.agent_id, 1000002);
    assert.deepEqual(created.params.users, ['zhangsan', 'lisi']);
    assert.equal(created.params.secret, '******');

    // Edit without touching anything: the same parameters come back (the secret kept).
    await page.getByRole('row').filter({ hasText: 'wecom-app' }).getByRole('button', { name: 'Edit' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit alert instance “wecom-app”' });
    assert.equal(await edit.getByLabel(/^users\b/).inputValue(), 'zhangsan\nlisi');
    assert.equal(await edit.getByLabel(/^agent_id\b/).inputValue(), '1000002');
    assert.equal(await edit.getByLabel(/^send_type\b/).inputValue(), 'app');
    assert.equal(await edit.getByLabel(/^secret\b/).inputValue(), '');
    assert.equal(await edit.getByLabel('Channel', { exact: true }).isDisabled(), true, 'the kind is fixed once created');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    const saved = (await server.api('GET', `instances/${created.id}`)).body;
    assert.deepEqual(saved.params, created.params);

    // An optional stored secret (the proxy) is removed only when asked to.
    const { name, kind, enabled, rate_per_minute } = saved;
    const withProxy = await server.api('PUT', `instances/${created.id}`, { name, kind, enabled, rate_per_minute, params: { ...saved.params, proxy: 'http://127.0.0.1:3128' } });
    assert.equal(withProxy.status, 200, JSON.stringify(withProxy.body));
    await page.reload();
    await page.getByRole('row').filter({ hasText: 'wecom-app' }).getByRole('button', { name: 'Edit' }).click();
    const edit2 = page.getByRole('dialog', { name: 'Edit alert instance “wecom-app”' });
    const remove = edit2.getByRole('checkbox', { name: 'Remove the stored proxy' });
    await remove.check();
    assert.equal(await edit2.getByLabel(/^proxy\b/).isDisabled(), true);
    await edit2.getByRole('button', { name: 'Save' }).click();
    await edit2.waitFor({ state: 'detached' });
    const cleared = (await server.api('GET', `instances/${created.id}`)).body;
    assert.equal(cleared.params.proxy, undefined);
    assert.equal(cleared.params.secret, '******', 'the other secret is kept');
  });

  test('creates a group with the instance', async () => {
    await page.getByRole('link', { name: 'Alert groups' }).click();
    await page.getByRole('heading', { level: 1, name: 'Alert groups' }).waitFor();
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'New alert group' });
    await dialog.getByLabel('Name').fill('ops');
    await dialog.getByRole('checkbox', { name: /^ops-robot/ }).check();
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.getByRole('row').filter({ hasText: 'ops' });
    await row.getByText('ops-robot').waitFor();
    const [group] = (await server.api('GET', 'groups')).body;
    assert.deepEqual(group.instance_ids, [1]);
    assert.equal(await row.locator('.chip').count(), 1);
    await shot(page, 'groups-desktop');
  });

  test('a group is enabled and disabled with its switch; an instance in a group cannot be deleted', async () => {
    const toggle = page.getByRole('switch', { name: 'Enable ops' });
    await toggle.click();
    await waitUntil(async () => (await server.api('GET', 'groups')).body[0].enabled === false);
    await toggle.click();
    await waitUntil(async () => (await server.api('GET', 'groups')).body[0].enabled === true);

    await page.getByRole('link', { name: 'Alert instances' }).click();
    page.once('dialog', (d) => d.accept());
    await page.getByRole('row').filter({ hasText: 'ops-robot' }).getByRole('button', { name: 'Delete' }).click();
    await page.locator('.notice-error').getByText(/Still in groups/).waitFor();
    assert.equal((await server.api('GET', 'instances')).body.length, 2);
    await page.getByRole('link', { name: 'Alert groups' }).click();
    await page.getByRole('heading', { level: 1, name: 'Alert groups' }).waitFor();
  });

  test('binds a job glob to the group', async () => {
    await page.getByRole('link', { name: 'Bindings' }).click();
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'New binding' });
    // A bad glob first: the API's error shows on the field.
    await dialog.getByLabel('Job name or glob').fill('orders_[');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.locator('.field[data-field="job"] .field-error').waitFor({ state: 'visible' });
    await dialog.getByLabel('Job name or glob').fill('orders_*');
    await dialog.getByLabel('Alert group').selectOption({ label: 'ops' });
    assert.equal(await dialog.getByRole('checkbox', { name: 'FAILED', exact: true }).isChecked(), true);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'orders_*', exact: true }).waitFor();
    await shot(page, 'bindings-desktop');
  });

  test('registers a Flink cluster and shows its jobs live', async () => {
    await page.getByRole('link', { name: 'Flink clusters' }).click();
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Register a Flink cluster' });
    await dialog.getByLabel('Name').fill('local');
    await dialog.getByLabel('JobManager REST URL').fill(flink.url);
    await dialog.getByLabel('Poll interval (ms)').fill('500');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const jobsSection = page.locator('section.jobs');
    await jobsSection.getByText('orders_etl').waitFor();
    await jobsSection.getByText('reachable').waitFor();
    // A job appears in Flink: the view picks it up without a reload.
    const marker = await page.evaluate(() => (window.__noReload = Math.random()));
    jobs.push(flinkJob('b'.repeat(32), 'payments_etl'));
    await jobsSection.getByText('payments_etl').waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => window.__noReload), marker, 'the page was not reloaded');
    await shot(page, 'clusters-desktop');
  });

  test('an event shows in the history with its attempts and message preview', async () => {
    const posted = await server.api('POST', 'events', {
      job_id: '5f3c0a3a1f1e4c2b9d8e7f6a5b4c3d2e',
      job_name: 'orders_etl',
      cluster: 'prod',
      status: 'FAILED',
      previous_status: 'RUNNING',
      error: 'java.lang.ArithmeticException: / by zero',
    });
    assert.equal(posted.status, 202, JSON.stringify(posted.body));
    assert.equal(posted.body.deliveries, 1);
    await waitUntil(() => robot.output().includes('ArithmeticException'));

    await page.getByRole('link', { name: 'History' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delivery history' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'orders_etl' });
    await waitUntil(async () => {
      if (await row.getByText('sent', { exact: true }).count()) return true;
      await page.getByRole('button', { name: 'Refresh' }).click();
      return false;
    });
    await row.getByText('RUNNING → FAILED').waitFor();

    // Filters: state "failed" hides it, "sent" shows it.
    await page.getByLabel('State').selectOption('failed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('None yet.').waitFor();
    await page.getByLabel('State').selectOption('sent');
    await page.getByLabel('Instance').selectOption({ label: 'ops-robot' });
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await row.waitFor();
    await shot(page, 'history-desktop');

    await row.getByRole('button', { name: 'Details' }).click();
    const dialog = page.getByRole('dialog', { name: /Delivery #\d+/ });
    await dialog.getByRole('heading', { name: 'Attempts' }).waitFor();
    await dialog.getByRole('cell', { name: 'sent' }).first().waitFor();
    const preview = dialog.locator('pre.message');
    await preview.waitFor();
    const text = await preview.textContent();
    assert.match(text, /orders_etl/);
    assert.match(text, /ArithmeticException/);
    // What the robot printed is that message.
    assert.ok(robot.output().includes('orders_etl'), robot.output());
    await shot(page, 'history-details-desktop');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('switches to Chinese, and remembers it', async () => {
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh');
    await page.getByRole('heading', { level: 1, name: '告警历史' }).waitFor();
    await page.getByRole('link', { name: '告警实例' }).click();
    await page.getByRole('heading', { level: 1, name: '告警实例' }).waitFor();
    await page.getByRole('button', { name: '发送测试' }).first().waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: '告警实例' }).waitFor();
    await shot(page, 'instances-zh-desktop');
    await page.getByRole('button', { name: '新建' }).click();
    await page.getByRole('dialog', { name: '新建告警实例' }).getByLabel('名称').waitFor();
    await shot(page, 'instance-form-zh-desktop');
    await page.keyboard.press('Escape');
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.getByRole('heading', { level: 1, name: 'Alert instances' }).waitFor();
  });

  test('every page at desktop and phone width (screenshots), without horizontal scrolling on a phone', async () => {
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      for (const [hash, heading] of [
        ['overview', 'Overview'],
        ['instances', 'Alert instances'],
        ['groups', 'Alert groups'],
        ['bindings', 'Bindings'],
        ['clusters', 'Flink clusters'],
        ['history', 'Delivery history'],
      ]) {
        await page.goto(`${server.base}/#/${hash}`);
        await page.getByRole('heading', { level: 1, name: heading }).waitFor();
        await page.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' }).catch(() => {});
        if (hash === 'clusters') await page.locator('section.jobs').getByText('payments_etl').waitFor();
        if (hash === 'history') await page.getByRole('button', { name: 'Details' }).first().waitFor();
        if (hash === 'overview') await page.locator('[data-cluster="local"]').getByText('RUNNING 2').waitFor();
        await shot(page, `${hash}-${size}`);
        if (size === 'phone') {
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 0, `${hash} scrolls sideways on a phone by ${overflow}px`);
        }
      }
    }
    await page.goto(`${server.base}/#/instances`);
    await page.getByRole('button', { name: 'New', exact: true }).click();
    await page.getByRole('dialog').getByLabel('Channel', { exact: true }).selectOption('dingtalk');
    await shot(page, 'instance-form-phone');
    await page.keyboard.press('Escape');
    await page.goto(`${server.base}/#/history`);
    await page.getByRole('button', { name: 'Details' }).first().click();
    await page.getByRole('dialog').locator('pre.message').waitFor();
    await shot(page, 'history-details-phone');
    await page.setViewportSize(DESKTOP);
  });

  test('a cluster that stops answering shows as unreachable, live', async () => {
    await page.goto(`${server.base}/#/clusters`);
    await page.reload();
    const jobsSection = page.locator('section.jobs');
    await jobsSection.getByText('reachable', { exact: true }).waitFor();
    await flink.stop();
    await jobsSection.getByText(/unreachable \(\d+ failed polls\)/).waitFor({ timeout: 10000 });
    await shot(page, 'clusters-unreachable-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'clusters-unreachable-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the long error scrolls sideways by ${overflow}px`);
    await page.setViewportSize(DESKTOP);
  });

  test('is keyboard usable: skip link, focus visible, dialog closes with Escape and returns focus', async () => {
    await page.goto(`${server.base}/#/instances`);
    await page.reload(); // a fresh load: focus at the start of the document
    await page.getByRole('heading', { level: 1, name: 'Alert instances' }).waitFor();
    await page.keyboard.press('Tab');
    const skip = page.getByRole('link', { name: 'Skip to content' });
    assert.ok(await skip.evaluate((el) => el === document.activeElement), 'the skip link comes first');
    const outline = await skip.evaluate((el) => getComputedStyle(el).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    const newBtn = page.getByRole('button', { name: 'New', exact: true });
    await newBtn.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'name', 'focus in the first field');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    assert.ok(await newBtn.evaluate((el) => el === document.activeElement), 'focus back on the opener');
    // Every form control has a label.
    await newBtn.click();
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !el.labels?.length && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML),
    );
    assert.deepEqual(unlabeled, []);
    await page.keyboard.press('Escape');
  });

  test('serves assets with their types and a CSP, and no page error happened', async () => {
    const res = await fetch(server.base + '/assets/app.js');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /javascript/);
    const html = await fetch(server.base + '/');
    assert.match(html.headers.get('content-security-policy'), /script-src 'self'/);
    assert.deepEqual(errors, []);
  });
});

describe('console with a Chinese browser', () => {
  let server, browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launch()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('picks Chinese from navigator.language', async () => {
    const context = await browser.newContext({ viewport: PHONE, locale: 'zh-CN' });
    const page = await context.newPage();
    page.setDefaultTimeout(T);
    await page.goto(server.base + '/');
    await page.getByRole('heading', { level: 1, name: '概览' }).waitFor();
    await page.getByText('所有告警实例发送正常。').waitFor();
    await shot(page, 'overview-empty-zh-phone');
    await page.getByRole('link', { name: '告警实例' }).click();
    await page.getByRole('heading', { level: 1, name: '告警实例' }).waitFor();
    await page.getByRole('link', { name: '告警组' }).waitFor();
    await shot(page, 'instances-empty-zh-phone');
    await context.close();
  });
});

describe('provisioned objects (serve --provision) are read-only in the console', () => {
  let server, browser;
  const file = `
[[instances]]
name = "ops-robot"
kind = "webhook"
params = { url = "http://127.0.0.1:9/hook" }

[[groups]]
name = "ops"
instances = ["ops-robot"]

[[bindings]]
job = "orders_*"
group = "ops"
`;
  before(async () => {
    [server, browser] = await Promise.all([startServer({ provision: file }), launch()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('shows the mark instead of edit and delete, with a disabled switch; objects made here stay editable', async () => {
    const made = await server.api('POST', 'instances', { name: 'by-hand', kind: 'webhook', params: { url: 'http://127.0.0.1:9/other' } });
    assert.equal(made.status, 201);
    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(T);
    const errors = watchErrors(page);
    await page.goto(server.base + '/#/instances');
    const provisioned = page.getByRole('row').filter({ hasText: 'ops-robot' });
    await provisioned.getByText('Provisioned').waitFor();
    assert.equal(await provisioned.getByRole('button', { name: 'Edit' }).count(), 0);
    assert.equal(await provisioned.getByRole('button', { name: 'Delete' }).count(), 0);
    assert.equal(await provisioned.getByRole('switch').isDisabled(), true);
    const byHand = page.getByRole('row').filter({ hasText: 'by-hand' });
    await byHand.getByRole('button', { name: 'Edit' }).waitFor();
    assert.equal(await byHand.getByRole('switch').isDisabled(), false);
    await shot(page, 'instances-provisioned-desktop');
    await page.getByRole('link', { name: 'Alert groups' }).click();
    const group = page.getByRole('row').filter({ hasText: 'ops' });
    await group.getByText('Provisioned').waitFor();
    assert.equal(await group.getByRole('button', { name: 'Edit' }).count(), 0);
    await page.getByRole('link', { name: 'Bindings' }).click();
    const binding = page.getByRole('row').filter({ hasText: 'orders_*' });
    await binding.getByText('Provisioned').waitFor();
    assert.equal(await binding.getByRole('button', { name: /Delete/ }).count(), 0);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('history paging and failing deliveries', () => {
  let server, browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer(), launch()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('"Load more" pages through the history; retrying deliveries show their error and attempts', async () => {
    // A robot nobody answers: every attempt fails with a connection error and is retried.
    const inst = await server.api('POST', 'instances', {
      name: 'down-robot',
      kind: 'dingtalk',
      rate_per_minute: 0,
      params: { webhook: 'http://127.0.0.1:9/robot/send?access_token=x' },
    });
    assert.equal(inst.status, 201, JSON.stringify(inst.body));
    const group = await server.api('POST', 'groups', { name: 'down', instance_ids: [inst.body.id] });
    for (let n = 0; n < 55; n++) {
      const r = await server.api('POST', 'events', {
        job_id: `job-${n}`,
        job_name: `batch_${String(n).padStart(2, '0')}`,
        status: 'FAILED',
        group_id: group.body.id,
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    await waitUntil(async () => (await server.api('GET', 'history?limit=1000')).body.every((d) => d.attempts >= 1));

    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(T);
    await page.goto(server.base + '/#/history');
    const rows = page.locator('tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 50);
    await page.getByRole('button', { name: 'Load more' }).click();
    await waitUntil(async () => (await rows.count()) === 55);
    assert.equal(await page.getByRole('button', { name: 'Load more' }).isHidden(), true);
    // Newest first: batch_54 on top, batch_00 last.
    assert.match(await rows.first().textContent(), /batch_54/);
    assert.match(await rows.last().textContent(), /batch_00/);
    const first = rows.first();
    assert.match(await first.locator('.error-text').textContent(), /connect|refused/i);
    await shot(page, 'history-errors-desktop');

    // Filter by job id through the API's job_id parameter.
    await page.getByLabel('Job ID').fill('job-7');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await waitUntil(async () => (await rows.count()) === 1);
    assert.match(await rows.first().textContent(), /batch_07/);
    await rows.first().getByRole('button', { name: 'Details' }).click();
    const dialog = page.getByRole('dialog');
    const attempts = dialog.locator('tbody tr');
    await attempts.first().waitFor();
    assert.match(await attempts.first().textContent(), /retry/);
    await dialog.locator('pre.message').getByText(/batch_07/).waitFor();
    await shot(page, 'history-errors-details-desktop');
    await context.close();
  });
});

describe('console with an API token', () => {
  const token = 'console-test-token';
  let server, browser;
  before(async () => {
    [server, browser] = await Promise.all([startServer({ token }), launch()]);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('asks for the token, refuses a wrong one, and keeps it for the tab', async () => {
    // The console is public, the API is not.
    assert.equal((await fetch(server.base + '/')).status, 200);
    assert.equal((await fetch(server.base + '/api/v1/instances')).status, 401);

    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(T);
    const errors = watchErrors(page);
    await page.goto(server.base + '/#/groups');
    const login = page.getByRole('form', { name: 'Sign in' });
    await login.waitFor();
    await shot(page, 'login-desktop');
    await login.getByLabel('API token').fill('wrong');
    await login.getByRole('button', { name: 'Sign in' }).click();
    await login.getByText('The server refused this token.').waitFor();
    await login.getByLabel('API token').fill(token);
    await login.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Alert groups' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('flink-alert.token')), token);
    assert.equal(await page.evaluate(() => localStorage.getItem('flink-alert.token')), null, 'not kept beyond the session');

    // Still signed in after a reload (same tab); signed out by the button.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Alert groups' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('form', { name: 'Sign in' }).waitFor();

    // A phone-width login.
    await page.setViewportSize(PHONE);
    await shot(page, 'login-phone');
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('Alertmanager bindings through the console (token-protected server)', () => {
  const token = 'am-console-token';
  let server, robot, browser, context, page, errors, oncall;

  /** An Alertmanager webhook payload (version 4), one alert per [labels, fingerprint]. */
  const notification = (alerts) => ({
    version: '4',
    groupKey: '{}:{alertname="FlinkJobRestarting"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'flink-oncall',
    groupLabels: { alertname: 'FlinkJobRestarting' },
    commonLabels: { alertname: 'FlinkJobRestarting' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: alerts.map(([labels, fingerprint]) => ({
      status: 'firing',
      labels: { alertname: 'FlinkJobRestarting', ...labels },
      annotations: { summary: `${labels.flink_job} restarted 3 times` },
      startsAt: '2026-11-25T10:00:00.123Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph?g0.expr=x',
      fingerprint,
    })),
  });
  /** POST /api/v1/ingest/alertmanager as Alertmanager does, with the bearer token (or `auth`). */
  const ingest = async (body, auth = `Bearer ${token}`) => {
    const headers = { 'Content-Type': 'application/json' };
    if (auth) headers.Authorization = auth;
    const res = await fetch(`${server.base}/api/v1/ingest/alertmanager`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json().catch(() => null) };
  };

  before(async () => {
    [server, robot, browser] = await Promise.all([startServer({ token }), startRobot(), launch()]);
    const inst = await server.api('POST', 'instances', { name: 'oncall-robot', kind: 'dingtalk', params: { webhook: robot.webhook, secret: robot.secret } });
    assert.equal(inst.status, 201, JSON.stringify(inst.body));
    await server.api('POST', 'groups', { name: 'other', instance_ids: [] });
    oncall = (await server.api('POST', 'groups', { name: 'oncall', instance_ids: [inst.body.id] })).body;
    context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(T);
    errors = watchErrors(page);
    await page.goto(server.base + '/#/bindings');
    const login = page.getByRole('form', { name: 'Sign in' });
    await login.getByLabel('API token').fill(token);
    await login.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Bindings' }).waitFor();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all([server?.stop(), robot?.stop()]);
  });

  test('creates an Alertmanager binding with two label matchers through the form', async () => {
    await page.getByRole('button', { name: 'New Alertmanager binding' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Alertmanager binding' });
    await dialog.waitFor();
    await dialog.getByText(/anchored regular expression.*A leading ! negates/).waitFor();
    const names = dialog.getByRole('textbox', { name: 'Label', exact: true });
    const values = dialog.getByRole('textbox', { name: 'Value (regex)', exact: true });
    assert.ok(await names.first().evaluate((el) => el === document.activeElement), 'focus in the first label');
    await names.nth(0).fill('severity');
    await values.nth(0).fill('critical|page');
    await dialog.getByRole('button', { name: 'Add matcher' }).click();
    assert.ok(await names.nth(1).evaluate((el) => el === document.activeElement), 'focus in the new row');
    await names.nth(1).fill('job');
    await values.nth(1).fill('!flink-test');
    // A third row, removed again.
    await dialog.getByRole('button', { name: 'Add matcher' }).click();
    await names.nth(2).fill('team');
    await dialog.getByRole('button', { name: 'Remove matcher 3' }).click();
    assert.equal(await names.count(), 2);
    await dialog.getByLabel('Receiver').fill('flink-oncall');
    await dialog.getByLabel('Alert group').selectOption({ label: 'oncall' });
    await dialog.getByRole('checkbox', { name: 'One message per alert' }).check();
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('dialog input, dialog select, dialog textarea')]
        .filter((el) => !el.labels?.length && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML),
    );
    assert.deepEqual(unlabeled, [], 'every control has a label');
    await shot(page, 'am-binding-form-desktop');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.getByRole('row').filter({ hasText: 'severity=~critical|page' });
    await row.getByText('job!~flink-test').waitFor();
    await row.getByText('flink-oncall').waitFor();
    await row.getByText('One message per alert').waitFor();
    await shot(page, 'am-bindings-desktop');

    const bindings = (await server.api('GET', 'bindings')).body;
    assert.equal(bindings.length, 1, JSON.stringify(bindings));
    const [b] = bindings;
    assert.deepEqual(b.labels, { severity: 'critical|page', job: '!flink-test' });
    assert.equal(b.receiver, 'flink-oncall');
    assert.equal(b.per_alert, true);
    assert.equal(b.group_id, oncall.id);
    assert.equal(b.job, '');
    assert.deepEqual(b.statuses, []);
  });

  test('an invalid regex shows on its field and creates nothing; so do a repeated label and an empty binding', async () => {
    await page.getByRole('button', { name: 'New Alertmanager binding' }).click();
    const dialog = page.getByRole('dialog', { name: 'New Alertmanager binding' });
    const names = dialog.getByRole('textbox', { name: 'Label', exact: true });
    const values = dialog.getByRole('textbox', { name: 'Value (regex)', exact: true });
    await names.nth(0).fill('severity');
    await values.nth(0).fill('critical(');
    await dialog.getByRole('button', { name: 'Create' }).click();
    // The API's 422 names labels.severity: the message sits under that row's value.
    const error = dialog.locator('.field[data-field="labels.severity"] .field-error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /not a valid regex/);
    assert.equal(await values.nth(0).getAttribute('aria-invalid'), 'true');
    assert.ok(await values.nth(0).evaluate((el) => el === document.activeElement), 'focus on the bad value');
    assert.ok((await values.nth(0).getAttribute('aria-describedby')).includes(await error.getAttribute('id')), 'the error describes the field');
    await dialog.getByText('Please correct the highlighted field.').waitFor();
    await shot(page, 'am-binding-form-error-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'am-binding-form-error-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the form scrolls sideways on a phone by ${overflow}px`);
    await page.setViewportSize(DESKTOP);
    assert.equal((await server.api('GET', 'bindings')).body.length, 1, 'nothing was created');

    // The same label twice: caught on the second row's name before anything is sent.
    await values.nth(0).fill('critical');
    await dialog.getByRole('button', { name: 'Add matcher' }).click();
    await names.nth(1).fill('severity');
    await values.nth(1).fill('page');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.locator('.field[data-field="labels[1]"] .field-error').getByText(/already matched/).waitFor();
    assert.equal(await names.nth(1).getAttribute('aria-invalid'), 'true');
    assert.equal(await values.nth(0).getAttribute('aria-invalid'), null, 'the earlier error is cleared');

    // No matcher and no receiver: the API's error on the matchers.
    await dialog.getByRole('button', { name: 'Remove matcher 2' }).click();
    await dialog.getByRole('button', { name: 'Remove matcher 1' }).click();
    assert.ok(await dialog.getByRole('button', { name: 'Add matcher' }).evaluate((el) => el === document.activeElement), 'focus on "Add matcher" once no row is left');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.locator('fieldset[data-field="labels"] > .field-error').getByText(/at least one label matcher or a receiver/).waitFor();
    assert.equal((await server.api('GET', 'bindings')).body.length, 1, 'nothing was created');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  test('an Alertmanager notification is routed through the binding the form made', async () => {
    const body = notification([
      [{ severity: 'critical', job: 'flink-prod', flink_job: 'orders' }, 'fp-orders'],
      [{ severity: 'critical', job: 'flink-test', flink_job: 'scratch' }, 'fp-scratch'],
    ]);
    assert.equal((await ingest(body, null)).status, 401, 'the ingest endpoint needs the token');
    const before = robot.received();
    const r = await ingest(body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.alerts, 2);
    assert.ok(r.body.deliveries > 0, `the matching alert was routed: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.deliveries, 1, 'one alert (per_alert) to the one instance of the group');
    assert.equal(r.body.unrouted, 1, 'job=flink-test is negated away');
    await waitUntil(() => robot.received() > before);
    assert.ok(robot.output().includes('orders restarted 3 times'), robot.output());
    assert.ok(!robot.output().includes('scratch'), 'the unmatched alert was not sent');
  });

  test('deletes the Alertmanager binding like a job binding', async () => {
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Delete Alertmanager binding #' + (await server.api('GET', 'bindings')).body[0].id }).click();
    await page.getByText('None yet.').waitFor();
    assert.deepEqual((await server.api('GET', 'bindings')).body, []);
    // Without it, a new matching alert reaches nobody.
    const r = await ingest(notification([[{ severity: 'critical', job: 'flink-prod', flink_job: 'billing' }, 'fp-billing']]));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.deliveries, 0);
    assert.equal(r.body.unrouted, 1);
    assert.deepEqual(errors, []);
  });
});

