// Silences: create (also from a history row: "silence this job for 1 h"), list by state, expire.

import { api, JOB_STATUSES, type Silence } from '../api';
import { clear, fmtTime, h, uid } from '../dom';
import { t } from '../i18n';
import type { Page } from '../main';
import { badge, errorText, field, formError, notice, openDialog, pageHead, saveForm, table } from '../ui';

const STATES = ['', 'active', 'pending', 'expired'] as const;

/** Durations offered in the dialog, in hours (the last choice is a date). */
const DURATIONS_H = [1, 2, 4, 8, 24, 72, 168];

export const silencesPage: Page = async (main) => {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  let state = STATES.find((s) => s === params.get('state')) ?? '';
  const newBtn = h('button', { type: 'button', class: 'primary' }, t('sil.new'));
  const filter = h('div', { class: 'segmented', role: 'group', 'aria-label': t('sil.filter') });
  const list = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, t('common.loading'));
  main.append(pageHead(t('sil.title'), t('sil.intro'), newBtn), filter, list);
  newBtn.addEventListener('click', () => silenceDialog({}, reload));

  function filters(): void {
    clear(filter);
    for (const s of STATES) {
      filter.append(
        h(
          'button',
          {
            type: 'button',
            'aria-pressed': String(s === state),
            onclick: () => {
              state = s;
              filters();
              void reload();
            },
          },
          s ? t(`state.${s}`) : t('sil.all'),
        ),
      );
    }
  }

  async function reload(): Promise<void> {
    let silences: Silence[];
    try {
      silences = await api<Silence[]>('GET', `silences${state ? `?state=${state}` : ''}`);
    } catch (e) {
      clear(list);
      list.append(h('p', { class: 'form-error' }, errorText(e)));
      return;
    }
    clear(list);
    list.removeAttribute('aria-busy');
    if (!silences.length) {
      list.append(h('p', { class: 'empty' }, t('common.none')));
      return;
    }
    const rows = silences.map((s) => [
      matchersView(s),
      badge(s.state),
      fmtTime(s.starts_at),
      fmtTime(s.ends_at),
      h('span', null, s.comment, s.created_by ? [h('br'), h('small', { class: 'muted' }, s.created_by)] : null),
      h(
        'div',
        { class: 'row-actions' },
        h('a', { href: `#/history?silence_id=${s.id}` }, t('sil.held')),
        s.state !== 'expired' &&
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'aria-label': t('sil.expireName', { id: s.id }),
              onclick: async () => {
                if (!confirm(t('sil.confirmExpire', { id: s.id }))) return;
                try {
                  await api('DELETE', `silences/${s.id}`);
                  notice(t('sil.expired'), 'ok');
                  await reload();
                } catch (e) {
                  notice(errorText(e), 'error');
                }
              },
            },
            t('sil.expire'),
          ),
      ),
    ]);
    list.append(
      table(t('sil.title'), [t('sil.matchers'), t('hist.state'), t('sil.starts'), t('sil.ends'), t('sil.comment'), t('common.actions')], rows),
    );
  }

  filters();
  await reload();
};

/** A silence's matchers as `job=… cluster=… status=… name=value` chips. */
function matchersView(s: Silence): HTMLElement {
  const m = s.matchers;
  const parts = [`job=${m.job}`];
  if (m.cluster) parts.push(`cluster=${m.cluster}`);
  if (m.statuses?.length) parts.push(`status=${m.statuses.join('|')}`);
  for (const [k, v] of Object.entries(m.labels ?? {})) parts.push(`${k}=${v}`);
  return h('ul', { class: 'chips' }, parts.map((p) => h('li', { class: 'chip' }, h('code', null, p))));
}

/** What the dialog starts with (a history row fills job, cluster and one hour). */
export interface SilencePrefill {
  job?: string;
  cluster?: string | null;
  hours?: number;
}

/** The "new silence" dialog; `done` runs after it was created. */
export function silenceDialog(prefill: SilencePrefill, done: () => Promise<void> | void): void {
  openDialog(t('sil.new'), (dlg) => {
    const form = h('form', { novalidate: true, class: 'form' });
    const job = h('input', { type: 'text', name: 'job', autocomplete: 'off', spellcheck: 'false', placeholder: 'orders_*', value: prefill.job ?? '' });
    const cluster = h('input', { type: 'text', name: 'cluster', autocomplete: 'off', spellcheck: 'false', placeholder: t('sil.anyCluster'), value: prefill.cluster ?? '' });
    const boxes = JOB_STATUSES.map((s) => h('input', { type: 'checkbox', name: 'status', value: s }));
    const statuses = h(
      'fieldset',
      { class: 'field checks', 'data-field': 'matchers.statuses' },
      h('legend', null, t('sil.statuses')),
      h(
        'ul',
        { class: 'check-list inline' },
        JOB_STATUSES.map((s, n) => {
          const id = uid('ss');
          boxes[n].id = id;
          return h('li', null, boxes[n], h('label', { for: id }, s));
        }),
      ),
    );
    const labels = h('textarea', { name: 'labels', rows: 2, spellcheck: 'false', placeholder: 'team=data' });
    const hours = prefill.hours ?? 2;
    const duration = h(
      'select',
      { name: 'duration' },
      DURATIONS_H.map((n) => h('option', { value: String(n), selected: n === hours }, n < 24 ? `${n} h` : `${n / 24} d`)),
      h('option', { value: 'custom' }, t('sil.custom')),
    );
    const endsAt = h('input', { type: 'datetime-local', name: 'ends_at' });
    const endsField = field(t('sil.endsAt'), endsAt, { apiField: 'ends_at' });
    endsField.hidden = true;
    duration.addEventListener('change', () => {
      endsField.hidden = duration.value !== 'custom';
    });
    const startsAt = h('input', { type: 'datetime-local', name: 'starts_at' });
    const comment = h('textarea', { name: 'comment', rows: 2 });
    const createdBy = h('input', { type: 'text', name: 'created_by', autocomplete: 'username' });
    const submit = h('button', { type: 'submit', class: 'primary' }, t('common.create'));
    form.append(
      field(t('sil.job'), job, { required: true, apiField: 'matchers.job', help: t('sil.jobHelp') }),
      field(t('sil.cluster'), cluster, { apiField: 'matchers.cluster' }),
      statuses,
      field(t('sil.labels'), labels, { apiField: 'matchers.labels', help: t('sil.labelsHelp') }),
      field(t('sil.duration'), duration),
      endsField,
      field(t('sil.startsAt'), startsAt, { apiField: 'starts_at' }),
      field(t('sil.comment'), comment, { required: true, apiField: 'comment', help: t('sil.commentHelp') }),
      field(t('sil.createdBy'), createdBy, { apiField: 'created_by' }),
      formError(),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const matchers: Record<string, unknown> = { job: job.value.trim() };
      if (cluster.value.trim()) matchers.cluster = cluster.value.trim();
      const ticked = boxes.filter((b) => b.checked).map((b) => b.value);
      if (ticked.length) matchers.statuses = ticked;
      const pairs: Record<string, string> = {};
      const lines = labels.value.split('\n').map((l) => l.trim());
      for (const [n, line] of lines.entries()) {
        if (!line) continue;
        const at = line.indexOf('=');
        if (at <= 0) {
          notice(t('sil.badLabel', { n: n + 1 }), 'error');
          labels.focus();
          return;
        }
        pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      if (Object.keys(pairs).length) matchers.labels = pairs;
      const start = startsAt.value ? new Date(startsAt.value) : new Date();
      const end =
        duration.value === 'custom'
          ? endsAt.value
            ? new Date(endsAt.value)
            : null
          : new Date(start.getTime() + Number(duration.value) * 3_600_000);
      const payload: Record<string, unknown> = { matchers, comment: comment.value.trim() };
      if (end) payload.ends_at = end.toISOString();
      if (startsAt.value) payload.starts_at = start.toISOString();
      if (createdBy.value.trim()) payload.created_by = createdBy.value.trim();
      await saveForm(
        form,
        submit,
        dlg,
        () => api<Silence>('POST', 'silences', payload),
        async () => {
          await done();
        },
      );
    });
    return form;
  });
}
