// The group dialog's message template: editors with a live preview beside them (debounced calls
// to POST /api/v1/templates/preview), errors with their line and column, saving, zh and en, a
// phone's width; then a job event of the group reaching the mock robot in that form.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DESKTOP, PHONE, launch, shot, startRobot, startServer, watchErrors, T, waitUntil } from './harness.mjs';



/** The dialog's horizontal overflow in px (0 when nothing scrolls sideways). */
async function overflow(page) {
  return page.evaluate(() => {
    const d = document.querySelector('dialog');
    return Math.max(document.documentElement.scrollWidth - window.innerWidth, d ? d.scrollWidth - d.clientWidth : 0);
  });
}

describe('group message templates in the console', () => {
  let server, robot, browser, context, page, errors, instance;

  before(async () => {
    [server, robot, browser] = await Promise.all([startServer(), startRobot(), launch()]);
    instance = (
      await server.api('POST', 'instances', {
        name: 'ops-robot',
        kind: 'dingtalk',
        params: { webhook: robot.webhook, secret: robot.secret },
      })
    ).body;
    context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    page = await context.newPage();
    page.setDefaultTimeout(T);
    errors = watchErrors(page);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await Promise.all([server?.stop(), robot?.stop()]);
  });

  test('the preview follows typing, shows errors with line and column, and the request of an instance', async () => {
    await page.goto(`${server.base}/#/groups`);
    await page.getByRole('heading', { level: 1, name: 'Alert groups' }).waitFor();
    await page.getByRole('button', { name: 'New', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'New alert group' });
    await dialog.getByLabel('Name').fill('ops');
    const preview = dialog.getByRole('region', { name: 'Preview' });
    // Before anything is typed: the built-in template on the sample event.
    await preview.locator('.tpl-title').getByText('[Flink] sample-job RUNNING → FAILED').waitFor();

    // A misspelled variable: the preview names the part, line and column; the editor is marked.
    const title = dialog.getByLabel('Title', { exact: true });
    await title.fill('[{{ cluster }}]\n{{ job_nmae }}');
    await preview.locator('.form-error').getByText(/title template: .*line 2, column 4/).waitFor();
    assert.equal(await title.getAttribute('aria-invalid'), 'true');

    // Fixed, and a markdown of one's own: rendered as typed (the other parts stay built in).
    await title.fill('[{{ cluster }}] {{ job_name }}');
    await dialog.getByLabel('Markdown', { exact: true }).fill('### {{ icon }} {{ job_name }} is {{ status }}\n\n{{ error | quote }}');
    await preview.locator('.tpl-title').getByText('[sample-cluster] sample-job').waitFor();
    await preview.locator('pre.message').first().getByText('### 🔴 sample-job is FAILED').waitFor();
    assert.equal(await title.getAttribute('aria-invalid'), null);

    // With the instance checked, the request it would send: the body and the URL, token masked.
    await dialog.getByRole('checkbox', { name: /^ops-robot/ }).check();
    const request = preview.locator('figure').filter({ hasText: 'Request to ops-robot' });
    await request.locator('.tpl-body').getByText(/"text": "### 🔴 sample-job is FAILED/).waitFor();
    const url = await request.locator('.tpl-url').textContent();
    assert.match(url, /^POST http:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=\*\*\*&timestamp=\d+&sign=\*\*\*$/);
    assert.ok(!(await dialog.textContent()).includes(robot.secret), 'no secret in the dialog');
    assert.equal(robot.received(), 0, 'a preview sends nothing');
    await shot(page, 'group-template-desktop');

    // Saving a part that does not check: the API's 422 sits under that editor.
    const text = dialog.getByLabel('Plain text', { exact: true });
    await text.fill('ok\n{% if %}');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const inline = dialog.locator('.field[data-field="template.text"] .field-error');
    await inline.getByText(/line 2/).waitFor();
    assert.equal(await text.getAttribute('aria-invalid'), 'true');
    await shot(page, 'group-template-error-desktop');

    await text.fill('');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const [group] = (await server.api('GET', 'groups')).body;
    assert.deepEqual(group.template, {
      title: '[{{ cluster }}] {{ job_name }}',
      markdown: '### {{ icon }} {{ job_name }} is {{ status }}\n\n{{ error | quote }}',
    });
    await page.getByRole('row').filter({ hasText: 'ops' }).getByText('own template').waitFor();
  });

  test('the group switch keeps the template, and a job event of the group reaches the robot in its form', async () => {
    await page.getByRole('switch', { name: 'Enable ops' }).click();
    await waitUntil(async () => (await server.api('GET', 'groups')).body[0].enabled === false);
    await page.getByRole('switch', { name: 'Enable ops' }).click();
    await waitUntil(async () => (await server.api('GET', 'groups')).body[0].enabled === true);
    const [group] = (await server.api('GET', 'groups')).body;
    assert.equal(group.template.title, '[{{ cluster }}] {{ job_name }}');

    assert.equal((await server.api('POST', 'bindings', { job: 'orders_*', group_id: group.id })).status, 201);
    const event = {
      job_id: 'b'.repeat(32),
      job_name: 'orders_etl',
      cluster: 'prod',
      status: 'FAILED',
      previous_status: 'RUNNING',
      error: 'java.lang.RuntimeException: boom',
    };
    assert.equal((await server.api('POST', 'events', event)).status, 202);
    await waitUntil(() => robot.output().includes('### 🔴 orders_etl is FAILED'));
    assert.ok(robot.output().includes('> java.lang.RuntimeException: boom'), robot.output());
  });

  test('at a phone width and in Chinese, the editors and the preview stack without scrolling sideways', async () => {
    await page.setViewportSize(PHONE);
    await page.getByRole('row').filter({ hasText: 'ops' }).getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit alert group “ops”' });
    await dialog.getByRole('region', { name: 'Preview' }).locator('.tpl-body').waitFor();
    assert.equal(await dialog.getByLabel('Title', { exact: true }).inputValue(), '[{{ cluster }}] {{ job_name }}');
    assert.ok((await overflow(page)) <= 0, `the dialog scrolls sideways by ${await overflow(page)}px`);
    await shot(page, 'group-template-phone');
    await dialog.getByRole('region', { name: 'Preview' }).locator('.tpl-body').scrollIntoViewIfNeeded();
    await shot(page, 'group-template-preview-phone');
    await page.keyboard.press('Escape');

    const zhContext = await browser.newContext({ viewport: PHONE, locale: 'zh-CN' });
    const zh = await zhContext.newPage();
    zh.setDefaultTimeout(T);
    const zhErrors = watchErrors(zh);
    await zh.goto(`${server.base}/#/groups`);
    await zh.getByRole('heading', { level: 1, name: '告警组' }).waitFor();
    await zh.getByRole('row').filter({ hasText: 'ops' }).getByText('自定义模板').waitFor();
    await zh.getByRole('button', { name: '编辑' }).click();
    const zhDialog = zh.getByRole('dialog', { name: '编辑告警组“ops”' });
    await zhDialog.getByRole('group', { name: '消息模板' }).waitFor();
    const zhPreview = zhDialog.getByRole('region', { name: '预览' });
    await zhPreview.getByText('发往 ops-robot 的请求').waitFor();
    await zhDialog.getByLabel('纯文本', { exact: true }).fill('{{ job_name }}：{{ status_zh }}');
    await zhPreview.locator('pre.message').nth(1).getByText('sample-job：已失败').waitFor();
    assert.ok((await overflow(zh)) <= 0, `the zh dialog scrolls sideways by ${await overflow(zh)}px`);
    await shot(zh, 'group-template-zh-phone');
    assert.deepEqual(zhErrors, []);
    await zhContext.close();
    assert.deepEqual(errors, []);
    await page.setViewportSize(DESKTOP);
  });
});
