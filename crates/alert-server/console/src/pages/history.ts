// Delivery history: filters, attempts and errors, and a preview of the message sent.

import { api, raw, type Group, type HistoryEntry, type Instance } from '../api';
import { clear, fmtTime, h } from '../dom';
import { t, stateLabel } from '../i18n';
import type { Page } from '../main';
import { badge, errorText, field, openDialog, pageHead, table } from '../ui';
import { silenceDialog } from './silences';

const PAGE = 50;
const STATES = ['pending', 'sent', 'failed', 'suppressed', 'silenced'];

interface Attempt {
  number: number;
  started_at: number;
  finished_at: number;
  outcome: string;
  error?: { kind?: string; code?: string; message?: string } | null;
  warnings?: string[];
}

interface EventDelivery extends HistoryEntry {
  attempt_log?: Attempt[];
}

interface EventDetail {
  id: number;
  job_id: string;
  job_name: string;
  cluster?: string;
  status: string;
  previous_status?: string | null;
  occurred_at?: string;
  error?: string | null;
  url?: string | null;
  deliveries: EventDelivery[];
}

export const historyPage: Page = async (main) => {
  const [instances, groups] = await Promise.all([api<Instance[]>('GET', 'instances'), api<Group[]>('GET', 'groups')]);
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const job = h('input', { type: 'text', name: 'job_id', autocomplete: 'off', spellcheck: 'false', value: params.get('job_id') ?? '' });
  const instance = h(
    'select',
    { name: 'instance_id' },
    h('option', { value: '' }, t('hist.any')),
    instances.map((i) => h('option', { value: String(i.id), selected: params.get('instance_id') === String(i.id) }, i.name)),
  );
  const group = h(
    'select',
    { name: 'group_id' },
    h('option', { value: '' }, t('hist.any')),
    groups.map((g) => h('option', { value: String(g.id), selected: params.get('group_id') === String(g.id) }, g.name)),
  );
  const state = h(
    'select',
    { name: 'status' },
    h('option', { value: '' }, t('hist.any')),
    STATES.map((s) => h('option', { value: s, selected: params.get('status') === s }, stateLabel(s))),
  );
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': t('hist.filters') },
    field(t('hist.jobId'), job),
    field(t('hist.instance'), instance),
    field(t('hist.group'), group),
    field(t('hist.state'), state),
    h(
      'div',
      { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'primary' }, t('hist.apply')),
      h('button', { type: 'reset' }, t('hist.reset')),
    ),
  );
  const refresh = h('button', { type: 'button' }, t('common.refresh'));
  const list = h('div', { 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'more', hidden: true }, t('hist.more'));
  main.append(pageHead(t('hist.title'), t('hist.intro'), refresh), filters, list, more);

  let rows: HistoryEntry[] = [];
  // Set when coming from a silence's "held back" link; dropped by Reset.
  let silenceId = params.get('silence_id') ?? '';

  function query(before?: number): string {
    const q = new URLSearchParams();
    if (job.value.trim()) q.set('job_id', job.value.trim());
    if (instance.value) q.set('instance_id', instance.value);
    if (group.value) q.set('group_id', group.value);
    if (state.value) q.set('status', state.value);
    if (silenceId) q.set('silence_id', silenceId);
    q.set('limit', String(PAGE));
    if (before) q.set('before', String(before));
    return q.toString();
  }

  async function load(append: boolean): Promise<void> {
    const before = append && rows.length ? rows[rows.length - 1].id : undefined;
    try {
      const page = await api<HistoryEntry[]>('GET', `history?${query(before)}`);
      rows = append ? rows.concat(page) : page;
      more.hidden = page.length < PAGE;
      render();
    } catch (e) {
      clear(list);
      list.append(h('p', { class: 'form-error' }, errorText(e)));
    }
  }

  function render(): void {
    clear(list);
    if (!rows.length) {
      list.append(h('p', { class: 'empty' }, t('common.none')));
      return;
    }
    list.append(
      table(
        t('hist.title'),
        [t('hist.time'), t('hist.job'), t('hist.instance'), t('hist.state'), t('hist.attempts'), t('hist.error'), t('common.actions')],
        rows.map((r) => [
          fmtTime(r.created_at),
          h('span', null, h('span', { class: 'strong' }, r.job_name ?? (r.event_id === null ? t('hist.digestRow') : '—')), r.status_change ? [h('br'), h('small', null, r.status_change)] : null),
          h('span', null, r.instance_name, ' ', h('small', { class: 'muted' }, r.kind)),
          badge(r.state),
          String(r.attempts),
          r.last_error ? h('span', { class: 'error-text' }, [r.last_error.code, r.last_error.message].filter(Boolean).join(' ')) : '',
          h(
            'div',
            { class: 'row-actions' },
            h('button', { type: 'button', onclick: () => details(r) }, t('hist.details')),
            r.job_name &&
              h(
                'button',
                {
                  type: 'button',
                  'aria-label': t('sil.silenceJobName', { job: r.job_name }),
                  onclick: () => silenceDialog({ job: r.job_name ?? '', cluster: r.cluster ?? '', hours: 1 }, () => undefined),
                },
                t('sil.silenceJob'),
              ),
          ),
        ]),
      ),
    );
  }

  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void load(false);
  });
  filters.addEventListener('reset', () => {
    silenceId = '';
    window.setTimeout(() => void load(false), 0);
  });
  refresh.addEventListener('click', () => void load(false));
  more.addEventListener('click', () => void load(true));
  await load(false);
};

function details(entry: HistoryEntry): void {
  openDialog(
    t('hist.detailTitle', { id: entry.id }),
    () => {
      const box = h('div', { class: 'detail', 'aria-busy': 'true' }, t('common.loading'));
      void fill(box, entry);
      return box;
    },
    true,
  );
}

async function fill(box: HTMLElement, entry: HistoryEntry): Promise<void> {
  let event: EventDetail | null = null;
  let preview: { title?: string; markdown?: string; text?: string } | null = entry.message ?? null;
  try {
    if (entry.event_id !== null) {
      event = await api<EventDetail>('GET', `events/${entry.event_id}`);
      const r = await raw('GET', `/console/api/events/${entry.event_id}/message`);
      if (r.status === 200) preview = r.body as typeof preview;
    }
  } catch (e) {
    clear(box);
    box.append(h('p', { class: 'form-error' }, errorText(e)));
    return;
  }
  const delivery = event?.deliveries.find((d) => d.id === entry.id);
  clear(box);
  box.removeAttribute('aria-busy');
  const facts: [string, string | Node][] = [];
  if (event) {
    facts.push([t('hist.job'), `${event.job_name} (${event.job_id})`]);
    if (event.cluster) facts.push([t('bind.cluster'), event.cluster]);
    facts.push([t('hist.change'), entry.status_change ?? event.status]);
    if (event.occurred_at) facts.push([t('hist.time'), fmtTime(event.occurred_at)]);
    if (event.error) facts.push([t('hist.error'), h('code', { class: 'wrap' }, event.error)]);
  }
  facts.push([t('hist.instance'), `${entry.instance_name} (${entry.kind})`]);
  facts.push([t('hist.state'), badge(entry.state)]);
  box.append(
    h('section', { 'aria-label': t('hist.event') }, h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]))),
  );
  const notes: string[] = [];
  if (entry.sent_at) notes.push(t('hist.sentAt', { time: fmtTime(entry.sent_at) }));
  if (entry.next_attempt_at) notes.push(t('hist.nextAttempt', { time: fmtTime(entry.next_attempt_at) }));
  if (entry.digest_id) notes.push(t('hist.digest', { id: entry.digest_id }));
  if (entry.silence_id) notes.push(t('hist.silence', { id: entry.silence_id }));
  if (notes.length) box.append(h('p', { class: 'muted' }, notes.join(' · ')));

  const attempts = delivery?.attempt_log ?? [];
  box.append(h('h3', null, t('hist.attemptLog')));
  if (!event) box.append(h('p', { class: 'muted' }, t('hist.attemptCount', { n: entry.attempts })));
  else if (!attempts.length) box.append(h('p', { class: 'muted' }, t('hist.noAttempts')));
  else
    box.append(
      table(
        t('hist.attemptLog'),
        [t('hist.attempt'), t('hist.started'), t('hist.finished'), t('hist.outcome'), t('hist.error')],
        attempts.map((a) => [
          String(a.number),
          fmtTime(new Date(a.started_at).toISOString()),
          `${a.finished_at - a.started_at} ms`,
          badge(a.outcome === 'sent' ? 'sent' : a.outcome === 'permanent' ? 'failed' : 'pending', a.outcome),
          a.error ? h('span', { class: 'error-text' }, [a.error.kind, a.error.code, a.error.message].filter(Boolean).join(' · ')) : (a.warnings ?? []).join('; '),
        ]),
      ),
    );

  box.append(h('h3', null, t('hist.preview')));
  if (preview && (preview.markdown || preview.text)) {
    box.append(
      h('p', { class: 'help' }, t('hist.previewNote')),
      h('figure', { class: 'preview' }, preview.title ? h('figcaption', null, preview.title) : null, h('pre', { class: 'message', tabindex: '0' }, preview.markdown ?? preview.text ?? '')),
    );
  } else box.append(h('p', { class: 'muted' }, t('hist.noPreview')));
}
