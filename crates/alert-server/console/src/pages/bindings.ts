// Bindings: job names/globs (and a cluster) to groups.

import { api, DEFAULT_STATUSES, JOB_STATUSES, type Binding, type Cluster, type Group } from '../api';
import { clear, h, uid } from '../dom';
import { t } from '../i18n';
import type { Page } from '../main';
import { errorText, field, formError, notice, openDialog, pageHead, showFormError, table } from '../ui';

export const bindingsPage: Page = async (main) => {
  const list = h('div', { 'aria-busy': 'true' }, t('common.loading'));
  const newBtn = h('button', { type: 'button', class: 'primary' }, t('common.new'));
  main.append(pageHead(t('bind.title'), t('bind.intro'), newBtn), list);
  let groups: Group[] = [];
  let clusters: Cluster[] = [];
  newBtn.addEventListener('click', () => bindingForm(groups, clusters, reload));

  async function reload(): Promise<void> {
    const [bindings, gs, cs] = await Promise.all([
      api<Binding[]>('GET', 'bindings'),
      api<Group[]>('GET', 'groups'),
      api<Cluster[]>('GET', 'clusters'),
    ]);
    groups = gs;
    clusters = cs;
    clear(list);
    list.removeAttribute('aria-busy');
    if (!bindings.length) {
      list.append(h('p', { class: 'empty' }, t('common.none')));
      return;
    }
    const rows = bindings.map((b) => {
      const g = groups.find((x) => x.id === b.group_id);
      const what = b.labels
        ? h('span', null, h('small', { class: 'muted' }, `${t('bind.labels')}: `), h('code', null, Object.entries(b.labels).map(([k, v]) => `${k}=~${v}`).join(', ')))
        : h('code', null, b.job);
      return [
        what,
        b.cluster ? b.cluster : h('span', { class: 'muted' }, t('bind.anyCluster')),
        g ? g.name : `#${b.group_id}`,
        h('ul', { class: 'chips' }, (b.statuses ?? []).map((s) => h('li', { class: 'chip' }, s))),
        h(
          'div',
          { class: 'row-actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': `${t('common.delete')} ${b.job}`,
              onclick: async () => {
                if (!confirm(t('common.confirmDelete', { name: b.job || String(b.id) }))) return;
                try {
                  await api('DELETE', `bindings/${b.id}`);
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
      ];
    });
    list.append(table(t('bind.title'), [t('bind.job'), t('bind.cluster'), t('bind.group'), t('bind.statuses'), t('common.actions')], rows));
  }
  await reload();
};

function bindingForm(groups: Group[], clusters: Cluster[], done: () => Promise<void>): void {
  openDialog(t('bind.new'), (dlg) => {
    const form = h('form', { novalidate: true, class: 'form' });
    const jobInput = h('input', { type: 'text', name: 'job', autocomplete: 'off', spellcheck: 'false', placeholder: 'orders_*' });
    const listId = uid('clusters');
    const clusterInput = h('input', { type: 'text', name: 'cluster', autocomplete: 'off', list: listId, placeholder: t('bind.anyCluster') });
    const clusterList = h('datalist', { id: listId }, clusters.map((c) => h('option', { value: c.name })));
    const groupSelect = h('select', { name: 'group_id' }, groups.map((g) => h('option', { value: String(g.id) }, g.name)));
    const errId = uid('st-err');
    const boxes = JOB_STATUSES.map((s) => h('input', { type: 'checkbox', name: 'status', value: s, checked: DEFAULT_STATUSES.includes(s) }));
    const statuses = h(
      'fieldset',
      { class: 'field checks', 'data-field': 'statuses', 'aria-describedby': errId },
      h('legend', null, t('bind.statuses')),
      h(
        'ul',
        { class: 'check-list inline' },
        JOB_STATUSES.map((s, n) => {
          const id = uid('bs');
          boxes[n].id = id;
          return h('li', null, boxes[n], h('label', { for: id }, s));
        }),
      ),
      h('p', { class: 'field-error', id: errId, hidden: true }),
    );
    const submit = h('button', { type: 'submit', class: 'primary', disabled: !groups.length }, t('common.create'));
    form.append(
      field(t('bind.job'), jobInput, { required: true, apiField: 'job' }),
      field(t('bind.cluster'), clusterInput, { apiField: 'cluster' }),
      clusterList,
      field(t('bind.group'), groupSelect, { required: true, apiField: 'group_id', help: groups.length ? undefined : t('bind.noGroups') }),
      statuses,
      formError(),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const payload: Record<string, unknown> = {
        job: jobInput.value.trim(),
        group_id: Number(groupSelect.value),
        statuses: boxes.filter((b) => b.checked).map((b) => b.value),
      };
      const cluster = clusterInput.value.trim();
      if (cluster) payload.cluster = cluster;
      submit.disabled = true;
      try {
        await api('POST', 'bindings', payload);
        dlg.close();
        notice(t('common.saved'), 'ok');
        await done();
      } catch (e) {
        showFormError(form, e);
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  });
}
