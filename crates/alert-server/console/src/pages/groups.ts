// Alert groups: a named set of instances; enable/disable.

import { api, type Group, type Instance } from '../api';
import { clear, h, uid } from '../dom';
import { t } from '../i18n';
import type { Page } from '../main';
import { errorText, field, formError, notice, openDialog, pageHead, provisionedMark, readOnly, saveForm, table, toggle } from '../ui';
import { templateEditor } from './template';

export const groupsPage: Page = async (main) => {
  const list = h('div', { 'aria-busy': 'true' }, t('common.loading'));
  const newBtn = h('button', { type: 'button', class: 'primary' }, t('common.new'));
  main.append(pageHead(t('group.title'), t('group.intro'), newBtn), list);
  let instances: Instance[] = [];
  newBtn.addEventListener('click', () => groupForm(instances, null, reload));

  async function reload(): Promise<void> {
    const [groups, insts] = await Promise.all([api<Group[]>('GET', 'groups'), api<Instance[]>('GET', 'instances')]);
    instances = insts;
    clear(list);
    list.removeAttribute('aria-busy');
    if (!groups.length) {
      list.append(h('p', { class: 'empty' }, t('common.none')));
      return;
    }
    const rows = groups.map((g) => [
      h('span', null, h('span', { class: 'strong' }, g.name), g.template ? [' ', h('span', { class: 'chip' }, t('tpl.custom'))] : null),
      (g.provisioned ? readOnly : (x: HTMLElement) => x)(toggle(g.enabled, t('common.enable', { name: g.name }), async (on, box) => {
        try {
          await api('PUT', `groups/${g.id}`, { name: g.name, enabled: on, instance_ids: g.instance_ids, template: g.template ?? null });
          g.enabled = on;
          notice(t('common.saved'), 'ok');
        } catch (e) {
          box.checked = !on;
          notice(errorText(e), 'error');
        }
      })),
      h(
        'ul',
        { class: 'chips' },
        g.instance_ids.map((id) => {
          const inst = instances.find((i) => i.id === id);
          return h('li', { class: inst && !inst.enabled ? 'chip off' : 'chip' }, inst ? inst.name : `#${id}`);
        }),
      ),
      h(
        'div',
        { class: 'row-actions' },
        g.provisioned && provisionedMark(),
        !g.provisioned && h('button', { type: 'button', onclick: () => groupForm(instances, g, reload) }, t('common.edit')),
        !g.provisioned && h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: async () => {
              if (!confirm(t('common.confirmDelete', { name: g.name }))) return;
              try {
                await api('DELETE', `groups/${g.id}`);
                notice(t('common.deleted'), 'ok');
                await reload();
              } catch (e) {
                notice(errorText(e), 'error');
              }
            },
          },
          t('common.delete'),
        ),
      ),
    ]);
    list.append(table(t('group.title'), [t('common.name'), t('common.enabled'), t('group.instances'), t('common.actions')], rows));
  }
  await reload();
};

function groupForm(instances: Instance[], group: Group | null, done: () => Promise<void>): void {
  openDialog(group ? t('group.edit', { name: group.name }) : t('group.new'), (dlg) => {
    const form = h('form', { novalidate: true, class: 'form' });
    const nameInput = h('input', { type: 'text', name: 'name', autocomplete: 'off', value: group?.name ?? '' });
    const enabledBox = h('input', { type: 'checkbox', name: 'enabled', checked: group?.enabled ?? true });
    const errId = uid('inst-err');
    const boxes = instances.map((i) =>
      h('input', { type: 'checkbox', name: 'instance', value: String(i.id), checked: group?.instance_ids.includes(i.id) ?? false }),
    );
    const set = h(
      'fieldset',
      { class: 'field checks', 'data-field': 'instance_ids', 'aria-describedby': errId },
      h('legend', null, t('group.instances')),
      instances.length
        ? h(
            'ul',
            { class: 'check-list' },
            instances.map((i, n) => {
              const id = uid('gi');
              boxes[n].id = id;
              return h('li', null, boxes[n], h('label', { for: id }, i.name, ' ', h('small', { class: 'muted' }, i.kind)));
            }),
          )
        : h('p', { class: 'muted' }, t('group.noInstances')),
      h('p', { class: 'field-error', id: errId, hidden: true }),
    );
    const submit = h('button', { type: 'submit', class: 'primary' }, group ? t('common.save') : t('common.create'));
    const editor = templateEditor(group?.template);
    const members = (): Instance[] => instances.filter((_, n) => boxes[n].checked);
    boxes.forEach((b) => b.addEventListener('change', () => editor.setInstances(members())));
    editor.setInstances(members());
    form.append(
      field(t('common.name'), nameInput, { required: true, apiField: 'name' }),
      field(t('common.enabled'), enabledBox, { inline: true, apiField: 'enabled' }),
      set,
      editor.element,
      formError(),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const payload = {
        name: nameInput.value.trim(),
        enabled: enabledBox.checked,
        instance_ids: boxes.filter((b) => b.checked).map((b) => Number(b.value)),
        template: editor.value(),
      };
      await saveForm(form, submit, dlg, () => (group ? api('PUT', `groups/${group.id}`, payload) : api('POST', 'groups', payload)), done);
    });
    return form;
  }, true);
}
