// The home page: at a glance, what went out in the last 24 hours and what is unhealthy
// (one `GET /api/v1/stats`, refreshed every half minute while shown).

import { api } from '../api';
import { clear, fmtTime, h } from '../dom';
import { stateLabel, t, type Key } from '../i18n';
import type { Page } from '../main';
import { badge, errorText, pageHead } from '../ui';

/** How often the overview refreshes. */
export const OVERVIEW_REFRESH_MS = 30_000;

/** The states the chart stacks, bottom up, and the totals show. */
const CHART_STATES = ['sent', 'failed', 'suppressed', 'silenced'] as const;

type Counts = Record<string, number>;

interface HourCounts extends Counts {
  hour: number;
}

interface ClusterStats {
  id: number;
  name: string;
  enabled: boolean;
  up: boolean | null;
  failed_polls: number;
  last_error: string | null;
  jobs: Record<string, number>;
  not_processing: number;
}

interface Trouble {
  id: number;
  name: string;
  kind: string;
  enabled: boolean;
  reason: 'paused' | 'throttled' | 'failing';
  paused_until: number | null;
  failed: number;
  errors: number;
  throttles: number;
  since: number | null;
  last_error_at: number | null;
  last_error: { kind?: string; code?: string; message?: string } | null;
}

/** `GET /api/v1/stats` (docs/API.md). */
export interface Stats {
  since: number;
  until: number;
  deliveries: Counts;
  hourly: HourCounts[];
  events: number;
  clusters: ClusterStats[];
  instances_in_trouble: Trouble[];
  active_silences: number;
}

export const overviewPage: Page = async (main, ctx) => {
  const refresh = h('button', { type: 'button' }, t('common.refresh'));
  const status = h('p', { class: 'muted', 'aria-live': 'off' });
  const body = h('div', { class: 'overview', 'aria-busy': 'true' }, t('common.loading'));
  main.append(pageHead(t('overview.title'), t('overview.intro'), refresh), status, body);
  let timer: number | undefined;
  ctx.onLeave(() => window.clearTimeout(timer));
  const later = () => (timer = window.setTimeout(() => void load(false), OVERVIEW_REFRESH_MS));

  async function load(first: boolean): Promise<void> {
    window.clearTimeout(timer);
    if (!first && !body.isConnected) return;
    // A background tab does not poll; it catches up when shown again.
    if (!first && document.hidden) {
      later();
      return;
    }
    try {
      render(body, await api<Stats>('GET', 'stats'));
      status.textContent = t('overview.updated', { time: fmtTime(new Date().toISOString()) });
    } catch (e) {
      if (first) throw e;
      status.textContent = errorText(e);
    }
    body.setAttribute('aria-busy', 'false');
    later();
  }
  refresh.addEventListener('click', () => void load(false));
  await load(true);
};

function render(body: HTMLElement, s: Stats): void {
  clear(body);
  body.append(totals(s), chart(s), clusters(s.clusters), trouble(s.instances_in_trouble));
}

/** The window's totals as tiles. */
function totals(s: Stats): HTMLElement {
  const tile = (label: string, value: string, tone: string) =>
    h('div', { class: `tile tile-${tone}` }, h('span', { class: 'tile-value' }, value), h('span', { class: 'tile-label' }, label));
  return h(
    'section',
    { 'aria-labelledby': 'totals-title' },
    h('h2', { id: 'totals-title' }, t('overview.last24h')),
    h(
      'div',
      { class: 'tiles' },
      CHART_STATES.map((st) => tile(stateLabel(st), String(s.deliveries[st] ?? 0), st)),
      tile(stateLabel('pending'), String(s.deliveries.pending ?? 0), 'pending'),
      tile(t('overview.events'), String(s.events), 'neutral'),
      h(
        'a',
        { class: 'tile tile-neutral tile-link', href: '#/silences?state=active' },
        h('span', { class: 'tile-value' }, String(s.active_silences)),
        h('span', { class: 'tile-label' }, t('overview.silences')),
      ),
    ),
  );
}

/** Deliveries per hour, stacked bars (CSS), with the same figures as a table for screen readers. */
function chart(s: Stats): HTMLElement {
  const max = Math.max(1, ...s.hourly.map((hr) => CHART_STATES.reduce((n, st) => n + (hr[st] ?? 0), 0)));
  const hourLabel = (ms: number) => String(new Date(ms).getHours()).padStart(2, '0') + ':00';
  const bars = h(
    'div',
    { class: 'bars', 'aria-hidden': 'true' },
    s.hourly.map((hr, i) => {
      const total = CHART_STATES.reduce((n, st) => n + (hr[st] ?? 0), 0);
      const title = `${hourLabel(hr.hour)} · ${CHART_STATES.map((st) => `${stateLabel(st)} ${hr[st] ?? 0}`).join(', ')}`;
      return h(
        'div',
        { class: 'bar', title, 'data-hour': String(hr.hour) },
        // Sizes through the CSSOM: the CSP refuses style attributes.
        sized(
          h(
            'div',
            { class: 'bar-stack' },
            CHART_STATES.filter((st) => (hr[st] ?? 0) > 0).map((st) => sized(h('span', { class: `seg seg-${st}` }), 'flexGrow', String(hr[st]))),
          ),
          'height',
          `${(100 * total) / max}%`,
        ),
        // Every sixth hour labelled, none so near the end that it would stick out.
        h('span', { class: 'bar-label' }, i % 6 === 0 && i < s.hourly.length - 2 ? hourLabel(hr.hour) : ''),
      );
    }),
  );
  const legend = h(
    'ul',
    { class: 'legend' },
    CHART_STATES.map((st) => h('li', null, h('span', { class: `swatch seg-${st}` }), stateLabel(st))),
  );
  // In a hidden div: a table grows to its content whatever its width says.
  const data = h(
    'table',
    null,
    h('caption', null, t('overview.chart')),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('overview.hour')), CHART_STATES.map((st) => h('th', { scope: 'col' }, stateLabel(st))))),
    h(
      'tbody',
      null,
      s.hourly.map((hr) => h('tr', null, h('th', { scope: 'row' }, hourLabel(hr.hour)), CHART_STATES.map((st) => h('td', null, String(hr[st] ?? 0))))),
    ),
  );
  return h('section', { class: 'panel', 'aria-labelledby': 'chart-title' }, h('h2', { id: 'chart-title' }, t('overview.chart')), legend, bars, h('div', { class: 'visually-hidden' }, data));
}

function sized<E extends HTMLElement>(el: E, prop: 'height' | 'flexGrow', value: string): E {
  el.style[prop] = value;
  return el;
}

/** One card per cluster: reachable or not, its jobs by state. */
function clusters(list: ClusterStats[]): HTMLElement {
  const section = h('section', { 'aria-labelledby': 'clusters-title' }, h('h2', { id: 'clusters-title' }, t('overview.clusters')));
  if (!list.length) {
    section.append(h('p', { class: 'empty' }, t('overview.noClusters'), ' ', h('a', { href: '#/clusters' }, t('nav.clusters'))));
    return section;
  }
  section.append(
    h(
      'ul',
      { class: 'cards-grid' },
      list.map((c) => {
        const health = !c.enabled
          ? badge('suppressed', t('overview.disabled'))
          : c.up === null
            ? badge('suppressed', t('overview.unknown'))
            : c.up
              ? badge('sent', t('cluster.reachable'))
              : badge('failed', t('cluster.unreachable', { polls: c.failed_polls }));
        const jobs = Object.entries(c.jobs).sort(([a], [b]) => jobOrder(a) - jobOrder(b) || a.localeCompare(b));
        return h(
          'li',
          { class: 'card', 'data-cluster': c.name },
          h('div', { class: 'card-head' }, h('a', { href: '#/clusters', class: 'strong' }, c.name), health),
          c.up === false && c.last_error ? h('p', { class: 'error-text' }, c.last_error) : null,
          jobs.length
            ? h('ul', { class: 'job-counts' }, jobs.map(([state, n]) => h('li', null, badge(jobTone(state), `${state} ${n}`))))
            : h('p', { class: 'muted' }, t('cluster.noJobs')),
          c.not_processing ? h('p', { class: 'warn-text' }, t('overview.notProcessing', { n: c.not_processing })) : null,
        );
      }),
    ),
  );
  return section;
}

/** Unhealthy states first. */
function jobOrder(state: string): number {
  return ['FAILED', 'FAILING', 'RESTARTING', 'UNKNOWN'].includes(state) ? 0 : state === 'RUNNING' ? 1 : 2;
}

function jobTone(state: string): string {
  if (['FAILED', 'FAILING', 'UNKNOWN'].includes(state)) return 'failed';
  if (['RESTARTING', 'CANCELLING', 'INITIALIZING', 'CREATED'].includes(state)) return 'pending';
  if (['RUNNING', 'FINISHED'].includes(state)) return 'sent';
  return 'suppressed';
}

const REASONS: Record<Trouble['reason'], Key> = {
  paused: 'overview.reason.paused',
  throttled: 'overview.reason.throttled',
  failing: 'overview.reason.failing',
};

/** The instances paused, throttled or failing, each linking to its deliveries. */
function trouble(list: Trouble[]): HTMLElement {
  const section = h('section', { 'aria-labelledby': 'trouble-title' }, h('h2', { id: 'trouble-title' }, t('overview.trouble')));
  if (!list.length) {
    section.append(h('p', { class: 'empty' }, t('overview.noTrouble')));
    return section;
  }
  section.append(
    h(
      'ul',
      { class: 'trouble-list' },
      list.map((i) => {
        const tone = i.reason === 'failing' ? 'failed' : 'pending';
        const facts = [
          i.failed ? t('overview.failedN', { n: i.failed }) : '',
          i.errors ? t('overview.errorsN', { n: i.errors }) : '',
          i.throttles ? t('overview.throttlesN', { n: i.throttles }) : '',
          i.paused_until ? t('overview.pausedUntil', { time: fmtTime(new Date(i.paused_until).toISOString()) }) : '',
        ].filter(Boolean);
        return h(
          'li',
          { class: 'card trouble', 'data-instance': String(i.id) },
          h(
            'div',
            { class: 'card-head' },
            h('a', { href: `#/history?instance_id=${i.id}`, class: 'strong' }, i.name),
            h('span', { class: 'chip' }, i.kind),
            badge(tone, t(REASONS[i.reason])),
          ),
          h('p', { class: 'muted' }, facts.join(' · ')),
          i.last_error?.message
            ? h(
                'p',
                { class: 'error-text' },
                i.last_error_at ? h('small', { class: 'muted' }, fmtTime(new Date(i.last_error_at).toISOString()), ' ') : null,
                i.last_error.message,
              )
            : null,
        );
      }),
    ),
  );
  return section;
}
