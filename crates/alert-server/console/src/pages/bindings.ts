// Bindings: job names/globs (and a cluster) to groups, and Alertmanager label matchers (and a
// receiver) to groups.

import { api, ApiError, DEFAULT_STATUSES, JOB_STATUSES, type Binding, type Cluster, type Group } from '../api';
import { clear, h, uid } from '../dom';
import { t } from '../i18n';
import type { Page } from '../main';
import { errorText, field, formError, notice, openDialog, pageHead, provisionedMark, saveForm, showFormError, table } from '../ui';

/** The job-health conditions a binding may list in `statuses` (read by the cluster watchers). */
const HEALTH_CONDITIONS = ['CHECKPOINT_FAILED', 'CHECKPOINT_SLOW', 'EXCEPTION', 'TASKMANAGER_LOST'];
/** Their thresholds with the defaults. */
const THRESHOLDS: [string, string][] = [
  ['checkpoint_failures', '3'],
  ['checkpoint_duration_ms', '600000'],
  ['checkpoint_age_ms', '1800000'],
  ['exception_fold_ms', '600000'],
];

export const bindingsPage: Page = async (main) => {
  const list = h('div', { 'aria-busy': 'true' }, t('common.loading'));
  const newBtn = h('button', { type: 'button', class: 'primary' }, t('common.new'));
  const newAmBtn = h('button', { type: 'button', class: 'primary-soft' }, t('bind.newAm'));
  main.append(pageHead(t('bind.title'), t('bind.intro'), newBtn, newAmBtn), list);
  let groups: Group[] = [];
  let clusters: Cluster[] = [];
  newBtn.addEventListener('click', () => bindingForm(groups, clusters, reload));
  newAmBtn.addEventListener('click', () => amBindingForm(groups, reload));

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
      const am = isAlertmanager(b);
      // What the delete button and its confirmation call the binding.
      const label = am ? t('bind.amName', { id: b.id }) : b.job;
      const what = am ? amSummary(b) : h('code', null, b.job);
      return [
        what,
        am ? h('span', { class: 'muted' }, '—') : b.cluster ? b.cluster : h('span', { class: 'muted' }, t('bind.anyCluster')),
        g ? g.name : `#${b.group_id}`,
        h('ul', { class: 'chips' }, (b.statuses ?? []).map((s) => h('li', { class: 'chip' }, s))),
        h(
          'div',
          { class: 'row-actions' },
          b.provisioned && provisionedMark(),
          !b.provisioned && h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': `${t('common.delete')} ${label}`,
              onclick: async () => {
                if (!confirm(t('common.confirmDelete', { name: label || String(b.id) }))) return;
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
    list.append(table(t('bind.title'), [t('bind.match'), t('bind.cluster'), t('bind.group'), t('bind.statuses'), t('common.actions')], rows));
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
    const condBoxes = HEALTH_CONDITIONS.map((c) => h('input', { type: 'checkbox', name: 'condition', value: c }));
    const conditions = h(
      'fieldset',
      { class: 'field checks', 'data-field': 'conditions' },
      h('legend', null, t('bind.conditions')),
      h('p', { class: 'help' }, t('bind.conditionsHelp')),
      h(
        'ul',
        { class: 'check-list' },
        HEALTH_CONDITIONS.map((c, n) => {
          const id = uid('bc');
          condBoxes[n].id = id;
          return h('li', null, condBoxes[n], h('label', { for: id }, c));
        }),
      ),
    );
    const thresholdInputs = THRESHOLDS.map(([name]) => h('input', { type: 'number', name, min: '1', inputmode: 'numeric' }));
    const thresholds = h(
      'details',
      { class: 'thresholds' },
      h('summary', null, t('bind.thresholds')),
      THRESHOLDS.map(([name, def], n) =>
        field(name, thresholdInputs[n], { apiField: `thresholds.${name}`, help: t('common.default', { value: def }) }),
      ),
    );
    const submit = h('button', { type: 'submit', class: 'primary', disabled: !groups.length }, t('common.create'));
    form.append(
      field(t('bind.job'), jobInput, { required: true, apiField: 'job' }),
      field(t('bind.cluster'), clusterInput, { apiField: 'cluster' }),
      clusterList,
      field(t('bind.group'), groupSelect, { required: true, apiField: 'group_id', help: groups.length ? undefined : t('bind.noGroups') }),
      statuses,
      conditions,
      thresholds,
      formError(),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const payload: Record<string, unknown> = {
        job: jobInput.value.trim(),
        group_id: Number(groupSelect.value),
        statuses: [...boxes, ...condBoxes].filter((b) => b.checked).map((b) => b.value),
      };
      const given: Record<string, number> = {};
      THRESHOLDS.forEach(([name], n) => {
        if (thresholdInputs[n].value.trim()) given[name] = Number(thresholdInputs[n].value);
      });
      if (Object.keys(given).length) payload.thresholds = given;
      const cluster = clusterInput.value.trim();
      if (cluster) payload.cluster = cluster;
      await saveForm(form, submit, dlg, () => api('POST', 'bindings', payload), done);
    });
    return form;
  });
}

/** Whether `b` takes Alertmanager alerts (label matchers and/or a receiver) rather than job events. */
function isAlertmanager(b: Binding): boolean {
  return b.labels != null || b.receiver != null;
}

/** An Alertmanager binding's matchers (`name=~regex`, `name!~regex`), receiver and mode. */
function amSummary(b: Binding): HTMLElement {
  const matchers = Object.entries(b.labels ?? {}).map(([k, v]) => (v.startsWith('!') ? `${k}!~${v.slice(1)}` : `${k}=~${v}`));
  return h(
    'div',
    { class: 'am-match' },
    matchers.length ? h('span', null, h('small', { class: 'muted' }, `${t('bind.labels')}: `), h('code', null, matchers.join(', '))) : null,
    b.receiver ? h('span', null, h('small', { class: 'muted' }, `${t('bind.receiver')}: `), h('code', null, b.receiver)) : null,
    h('small', { class: 'muted' }, b.per_alert ? t('bind.perAlert') : t('bind.perNotification')),
  );
}

/** One label matcher row of the Alertmanager form: the label's name, its value, a remove button. */
interface MatcherRow {
  row: HTMLElement;
  name: HTMLInputElement;
  value: HTMLInputElement;
  remove: HTMLButtonElement;
}

function amBindingForm(groups: Group[], done: () => Promise<void>): void {
  openDialog(t('bind.newAm'), (dlg) => {
    const form = h('form', { novalidate: true, class: 'form' });
    const rows: MatcherRow[] = [];
    const rowsBox = h('div', { class: 'matchers' });
    const addBtn = h('button', { type: 'button', class: 'add-matcher' }, `+ ${t('bind.addMatcher')}`);
    const helpId = uid('lm-help');
    const errId = uid('lm-err');
    // The fieldset's own error line comes before the rows: showFormError takes the first one.
    const matchers = h(
      'fieldset',
      { class: 'field matcher-set', 'data-field': 'labels', 'aria-describedby': `${helpId} ${errId}` },
      h('legend', null, t('bind.matchers')),
      h('p', { class: 'help', id: helpId }, t('bind.matchersHelp')),
      h('p', { class: 'field-error', id: errId, hidden: true }),
      rowsBox,
      addBtn,
    );
    /** Keeps the remove buttons' names in step with the rows' positions. */
    const renumber = () => rows.forEach((r, n) => r.remove.setAttribute('aria-label', t('bind.removeMatcher', { n: n + 1 })));
    const addRow = (focus: boolean) => {
      const name = h('input', { type: 'text', name: 'label', autocomplete: 'off', spellcheck: 'false', placeholder: 'severity' });
      const value = h('input', { type: 'text', name: 'matcher', autocomplete: 'off', spellcheck: 'false', placeholder: 'critical' });
      const remove = h('button', { type: 'button', class: 'addon danger' }, t('bind.remove'));
      const row = h(
        'div',
        { class: 'matcher-row' },
        field(t('bind.labelName'), name),
        field(t('bind.labelValue'), value, { addon: remove }),
      );
      const r: MatcherRow = { row, name, value, remove };
      remove.addEventListener('click', () => {
        const at = rows.indexOf(r);
        rows.splice(at, 1);
        row.remove();
        renumber();
        (rows[Math.min(at, rows.length - 1)]?.name ?? addBtn).focus();
      });
      rows.push(r);
      rowsBox.append(row);
      renumber();
      if (focus) name.focus();
    };
    addBtn.addEventListener('click', () => addRow(true));
    addRow(false);
    const receiverInput = h('input', { type: 'text', name: 'receiver', autocomplete: 'off', spellcheck: 'false', placeholder: t('bind.anyReceiver') });
    const groupSelect = h('select', { name: 'group_id' }, groups.map((g) => h('option', { value: String(g.id) }, g.name)));
    const perAlertBox = h('input', { type: 'checkbox', name: 'per_alert' });
    const submit = h('button', { type: 'submit', class: 'primary', disabled: !groups.length }, t('common.create'));
    form.append(
      matchers,
      field(t('bind.receiver'), receiverInput, { apiField: 'receiver', help: t('bind.receiverHelp') }),
      field(t('bind.group'), groupSelect, { required: true, apiField: 'group_id', help: groups.length ? undefined : t('bind.noGroups') }),
      field(t('bind.perAlert'), perAlertBox, { inline: true, apiField: 'per_alert', help: t('bind.perAlertHelp') }),
      formError(),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      // The API names a bad matcher `labels.<name>`: each value's field answers to its row's name.
      // A nameless or repeated name is caught here (a JSON object would drop one of the two),
      // shown the same way on the row's name (`labels[n]`).
      const labels = new Map<string, string>();
      let problem: ApiError | null = null;
      for (const [n, r] of rows.entries()) {
        const name = r.name.value.trim();
        const value = r.value.value;
        r.name.closest('.field')?.setAttribute('data-field', `labels[${n}]`);
        r.value.closest('.field')?.setAttribute('data-field', name ? `labels.${name}` : '');
        if (problem || (!name && !value)) continue; // an empty row is left out
        if (!name) problem = new ApiError(422, 'invalid', t('bind.nameEmpty'), `labels[${n}]`, null);
        else if (labels.has(name)) problem = new ApiError(422, 'invalid', t('bind.nameTwice', { name }), `labels[${n}]`, null);
        else labels.set(name, value);
      }
      if (problem) {
        showFormError(form, problem);
        return;
      }
      const payload: Record<string, unknown> = {
        labels: Object.fromEntries(labels),
        group_id: Number(groupSelect.value),
        per_alert: perAlertBox.checked,
      };
      const receiver = receiverInput.value.trim();
      if (receiver) payload.receiver = receiver;
      await saveForm(form, submit, dlg, () => api('POST', 'bindings', payload), done);
    });
    return form;
  });
}
