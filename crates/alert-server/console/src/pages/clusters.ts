// Flink clusters: register them, and watch their jobs live (polled every few seconds).

import { api, type Cluster } from '../api';
import { clear, fmtDuration, fmtTime, h } from '../dom';
import { t } from '../i18n';
import type { Page } from '../main';
import { badge, errorText, field, formError, notice, openDialog, pageHead, provisionedMark, readOnly, saveForm, table, toggle } from '../ui';

/** How often the jobs view refreshes. */
export const JOBS_REFRESH_MS = 3000;

interface JobView {
  id: string;
  name: string;
  status: string;
  flink_state: string;
  tasks?: { running?: number; total?: number } | null;
  restarts: number;
  /** Exception-history entries counted while watched. */
  exceptions?: number;
  last_seen?: string | null;
  /** The checkpoint statistics as last read (only where a binding asks for a checkpoint condition). */
  checkpoints?: {
    read_at: string;
    enabled: boolean;
    last_completed_id?: number | null;
    last_completed_at?: string | null;
    last_completed_duration_ms?: number | null;
    last_failed_at?: string | null;
    last_failure_message?: string | null;
    consecutive_failures: number;
  } | null;
  /** Open health conditions (only those a binding asks for). */
  health?: {
    checkpoint_failed?: { since: string; failures: number } | null;
    checkpoint_slow?: { since: string } | null;
    exceptions?: { count: number; error?: string | null } | null;
  };
}

/** A job's open health conditions as chips (none: nothing). */
function healthChips(j: JobView): HTMLElement | string {
  const chips: HTMLElement[] = [];
  const hl = j.health;
  if (hl?.checkpoint_failed) chips.push(h('li', { class: 'chip chip-bad', title: fmtTime(hl.checkpoint_failed.since) }, `CHECKPOINT_FAILED ×${hl.checkpoint_failed.failures}`));
  if (hl?.checkpoint_slow) chips.push(h('li', { class: 'chip chip-bad', title: fmtTime(hl.checkpoint_slow.since) }, 'CHECKPOINT_SLOW'));
  if (hl?.exceptions) chips.push(h('li', { class: 'chip chip-bad', title: hl.exceptions.error ?? '' }, `EXCEPTION ×${hl.exceptions.count}`));
  return chips.length ? h('ul', { class: 'chips' }, chips) : '';
}

/** A job's last checkpoint: the latest completed (age, duration), failures since, or why unknown. */
function checkpointCell(j: JobView): HTMLElement {
  const cp = j.checkpoints;
  if (!cp) return h('span', { class: 'muted', title: t('cluster.cpNotRead') }, '—');
  if (!cp.enabled) return h('span', { class: 'muted' }, t('cluster.cpOff'));
  const ago = (iso: string) => fmtDuration(Date.now() - new Date(iso).getTime());
  const parts: (HTMLElement | string)[] = [
    cp.last_completed_at
      ? h('span', { title: fmtTime(cp.last_completed_at) }, t('cluster.cpCompleted', {
          id: cp.last_completed_id ?? '?',
          age: ago(cp.last_completed_at),
          took: fmtDuration(cp.last_completed_duration_ms ?? 0),
        }))
      : h('span', { class: 'error-text' }, t('cluster.cpNone')),
  ];
  if (cp.consecutive_failures > 0) {
    parts.push(
      h('br'),
      h('span', { class: 'error-text', title: cp.last_failed_at ? fmtTime(cp.last_failed_at) : '' }, t('cluster.cpFailed', {
        n: cp.consecutive_failures,
        age: cp.last_failed_at ? ago(cp.last_failed_at) : '?',
        message: cp.last_failure_message ?? '',
      })),
    );
  }
  return h('span', { class: 'checkpoint' }, parts);
}

interface JobsAnswer {
  cluster: string;
  watching: boolean;
  health?: { reachable: boolean; failed_polls: number; last_error?: string | null };
  jobs: JobView[];
}

export const clustersPage: Page = async (main, ctx) => {
  const list = h('div', { 'aria-busy': 'true' }, t('common.loading'));
  const jobs = h('section', { class: 'jobs', 'aria-labelledby': 'jobs-title', hidden: true });
  const newBtn = h('button', { type: 'button', class: 'primary' }, t('common.new'));
  main.append(pageHead(t('cluster.title'), t('cluster.intro'), newBtn), list, jobs);
  newBtn.addEventListener('click', () => clusterForm(null, reload));
  let timer: number | undefined;
  let shown: Cluster | null = null;
  ctx.onLeave(() => window.clearTimeout(timer));

  async function reload(): Promise<void> {
    const clusters = await api<Cluster[]>('GET', 'clusters');
    clear(list);
    list.removeAttribute('aria-busy');
    if (!clusters.length) {
      list.append(h('p', { class: 'empty' }, t('common.none')));
      return;
    }
    const rows = clusters.map((c) => [
      h('span', { class: 'strong' }, c.name),
      h('code', { class: 'wrap' }, c.url),
      (c.provisioned ? readOnly : (x: HTMLElement) => x)(toggle(c.enabled, t('common.enable', { name: c.name }), async (on, box) => {
        try {
          await api('PUT', `clusters/${c.id}`, { name: c.name, url: c.url, enabled: on, poll_interval_ms: c.poll_interval_ms });
          c.enabled = on;
          notice(t('common.saved'), 'ok');
          if (shown?.id === c.id) void showJobs(c);
        } catch (e) {
          box.checked = !on;
          notice(errorText(e), 'error');
        }
      })),
      String(c.poll_interval_ms),
      h(
        'div',
        { class: 'row-actions' },
        h('button', { type: 'button', class: 'primary-soft', onclick: () => showJobs(c) }, t('cluster.show')),
        c.provisioned && provisionedMark(),
        !c.provisioned && h('button', { type: 'button', onclick: () => clusterForm(c, reload) }, t('common.edit')),
        !c.provisioned && h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: async () => {
              if (!confirm(t('common.confirmDelete', { name: c.name }))) return;
              try {
                await api('DELETE', `clusters/${c.id}`);
                notice(t('common.deleted'), 'ok');
                if (shown?.id === c.id) {
                  shown = null;
                  jobs.hidden = true;
                  window.clearTimeout(timer);
                }
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
    list.append(table(t('cluster.title'), [t('common.name'), t('cluster.url'), t('common.enabled'), t('cluster.poll'), t('common.actions')], rows));
    if (!shown && clusters.length) void showJobs(clusters[0], false);
  }

  async function showJobs(c: Cluster, focus = true): Promise<void> {
    window.clearTimeout(timer);
    shown = c;
    jobs.hidden = false;
    clear(jobs);
    const status = h('p', { class: 'muted', 'aria-live': 'off' });
    const body = h('div', { 'aria-live': 'polite', 'aria-busy': 'true' }, t('common.loading'));
    const title = h('h2', { id: 'jobs-title', tabindex: '-1' }, t('cluster.jobsOf', { name: c.name }));
    jobs.append(title, status, body);
    if (focus) title.focus();
    const tick = async (): Promise<void> => {
      if (shown !== c || !jobs.isConnected) return;
      if (document.hidden) {
        // A background tab does not poll; it catches up when shown again.
        timer = window.setTimeout(tick, JOBS_REFRESH_MS);
        return;
      }
      try {
        const r = await api<JobsAnswer>('GET', `clusters/${c.id}/jobs`);
        if (shown !== c) return;
        renderJobs(body, r);
        status.textContent = t('cluster.updated', { time: fmtTime(new Date().toISOString()), secs: JOBS_REFRESH_MS / 1000 });
      } catch (e) {
        status.textContent = errorText(e);
      }
      body.setAttribute('aria-busy', 'false');
      timer = window.setTimeout(tick, JOBS_REFRESH_MS);
    };
    await tick();
  }

  await reload();
};

function renderJobs(body: HTMLElement, r: JobsAnswer): void {
  clear(body);
  const health = !r.watching
    ? h('p', null, badge('suppressed', t('cluster.notWatching')))
    : r.health && !r.health.reachable
      ? h(
          'p',
          null,
          badge('failed', t('cluster.unreachable', { polls: r.health.failed_polls })),
          ' ',
          h('span', { class: 'error-text' }, r.health.last_error ?? ''),
        )
      : h('p', null, badge('sent', t('cluster.reachable')));
  body.append(health);
  if (!r.jobs.length) {
    body.append(h('p', { class: 'empty' }, t('cluster.noJobs')));
    return;
  }
  body.append(
    table(
      t('cluster.jobs'),
      [t('cluster.job'), t('cluster.status'), t('cluster.flinkState'), t('cluster.tasks'), t('cluster.restarts'), t('cluster.exceptions'), t('cluster.checkpoint'), t('cluster.health'), t('cluster.lastSeen')],
      r.jobs.map((j) => [
        h('span', null, h('span', { class: 'strong' }, j.name), h('br'), h('small', { class: 'muted mono' }, j.id)),
        badge(jobTone(j.status), j.status),
        j.flink_state,
        j.tasks ? `${j.tasks.running ?? 0}/${j.tasks.total ?? 0}` : '',
        String(j.restarts),
        String(j.exceptions ?? 0),
        checkpointCell(j),
        healthChips(j),
        fmtTime(j.last_seen),
      ]),
    ),
  );
}

function jobTone(status: string): string {
  switch (status) {
    case 'RUNNING':
    case 'FINISHED':
      return 'sent';
    case 'FAILED':
    case 'FAILING':
    case 'UNKNOWN':
      return 'failed';
    case 'RESTARTING':
    case 'CANCELLING':
    case 'INITIALIZING':
    case 'CREATED':
      return 'pending';
    default:
      return 'suppressed';
  }
}

function clusterForm(cluster: Cluster | null, done: () => Promise<void>): void {
  openDialog(cluster ? t('cluster.edit', { name: cluster.name }) : t('cluster.new'), (dlg) => {
    const form = h('form', { novalidate: true, class: 'form' });
    const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', value: cluster?.name ?? '' });
    const url = h('input', { type: 'url', name: 'url', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'http://jobmanager:8081', value: cluster?.url ?? '' });
    const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: cluster?.enabled ?? true });
    const poll = h('input', { type: 'number', name: 'poll_interval_ms', min: '500', step: '100', inputmode: 'numeric', placeholder: '5000', value: cluster ? String(cluster.poll_interval_ms) : '' });
    const submit = h('button', { type: 'submit', class: 'primary' }, cluster ? t('common.save') : t('common.create'));
    form.append(
      field(t('common.name'), name, { required: true, apiField: 'name' }),
      field(t('cluster.url'), url, { required: true, apiField: 'url' }),
      field(t('common.enabled'), enabled, { inline: true, apiField: 'enabled' }),
      field(t('cluster.poll'), poll, { apiField: 'poll_interval_ms', help: '500 – 3600000' }),
      formError(),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const payload: Record<string, unknown> = { name: name.value.trim(), url: url.value.trim(), enabled: enabled.checked };
      const p = poll.value.trim();
      if (p) payload.poll_interval_ms = /^\d+$/.test(p) ? Number(p) : p;
      await saveForm(form, submit, dlg, () => (cluster ? api('PUT', `clusters/${cluster.id}`, payload) : api('POST', 'clusters', payload)), done);
    });
    return form;
  });
}
