// The console shell: header, navigation, language switch, sign-in, and the hash router.

import { ApiError, setToken, setUnauthorizedHandler, token } from './api';
import { clear, h } from './dom';
import { lang, setLang, t, type Key, type Lang } from './i18n';
import { bindingsPage } from './pages/bindings';
import { clustersPage } from './pages/clusters';
import { groupsPage } from './pages/groups';
import { historyPage } from './pages/history';
import { instancesPage } from './pages/instances';
import { loginView } from './pages/login';
import { silencesPage } from './pages/silences';
import { overviewPage } from './pages/overview';
import { clearNotice, errorText, notice, setNoticeRegion } from './ui';

/** What a page gets: where to render, and a hook for when it is left. */
export interface PageContext {
  onLeave(f: () => void): void;
}

/** A page renders itself into `main`. */
export type Page = (main: HTMLElement, ctx: PageContext) => Promise<void>;

const ROUTES: { path: string; key: Key; page: Page }[] = [
  { path: 'overview', key: 'nav.overview', page: overviewPage },
  { path: 'instances', key: 'nav.instances', page: instancesPage },
  { path: 'groups', key: 'nav.groups', page: groupsPage },
  { path: 'bindings', key: 'nav.bindings', page: bindingsPage },
  { path: 'clusters', key: 'nav.clusters', page: clustersPage },
  { path: 'history', key: 'nav.history', page: historyPage },
  { path: 'silences', key: 'nav.silences', page: silencesPage },
];

let leaving: (() => void)[] = [];
let loggingIn = false;
let generation = 0;

function route(): (typeof ROUTES)[number] {
  const path = location.hash.replace(/^#\/?/, '').split('?')[0];
  return ROUTES.find((r) => r.path === path) ?? ROUTES[0];
}

function leave(): void {
  for (const f of leaving) f();
  leaving = [];
}

function shell(): HTMLElement {
  const app = document.getElementById('app')!;
  clear(app);
  const current = route();
  const select = h(
    'select',
    { id: 'lang', 'aria-label': t('lang.label') },
    h('option', { value: 'en', selected: lang() === 'en', lang: 'en' }, 'English'),
    h('option', { value: 'zh', selected: lang() === 'zh', lang: 'zh-CN' }, '中文'),
  );
  select.addEventListener('change', () => {
    setLang(select.value as Lang);
    render();
    document.getElementById('lang')?.focus();
  });
  const signOut = token()
    ? h(
        'button',
        {
          type: 'button',
          class: 'link-button',
          onclick: () => {
            setToken(null);
            render();
          },
        },
        t('auth.logout'),
      )
    : null;
  const main = h('main', { id: 'main', tabindex: '-1' });
  app.append(
    h('a', { class: 'skip', href: '#main', onclick: (e: Event) => { e.preventDefault(); main.focus(); } }, t('app.skip')),
    h(
      'header',
      { class: 'top' },
      h('div', { class: 'brand' }, h('img', { src: '/assets/favicon.svg', alt: '', width: 24, height: 24 }), h('span', null, t('app.title'))),
      loggingIn ? null : nav(current),
      h('div', { class: 'tools' }, h('label', { for: 'lang', class: 'visually-hidden' }, t('lang.label')), select, signOut),
    ),
    main,
  );
  return main;
}

function nav(current: (typeof ROUTES)[number]): HTMLElement {
  return h(
    'nav',
    { 'aria-label': t('nav.label') },
    h(
      'ul',
      null,
      ROUTES.map((r) => h('li', null, h('a', { href: `#/${r.path}`, 'aria-current': r === current ? 'page' : undefined }, t(r.key)))),
    ),
  );
}

function showLogin(): void {
  leave();
  loggingIn = true;
  const main = shell();
  loginView(main, () => {
    loggingIn = false;
    render();
  });
}

/** Renders the current route (again). */
function render(): void {
  leave();
  generation += 1;
  const mine = generation;
  if (loggingIn) {
    showLogin();
    return;
  }
  const current = route();
  const main = shell();
  const region = h('div', { class: 'notice', role: 'status', 'aria-live': 'polite', hidden: true });
  main.append(region);
  setNoticeRegion(region);
  clearNotice();
  document.title = `${t(current.key)} · flink-alert`;
  current
    .page(main, { onLeave: (f) => leaving.push(f) })
    .catch((e) => {
      if (e instanceof ApiError && e.status === 401) return; // the login is shown
      if (mine === generation) notice(errorText(e), 'error');
    });
}

setUnauthorizedHandler(() => {
  if (loggingIn) return;
  setToken(null);
  showLogin();
});

setLang(lang());
window.addEventListener('hashchange', () => {
  if (!loggingIn) {
    render();
    // Move focus to the new page's heading so keyboard and screen-reader users land there.
    window.setTimeout(() => document.getElementById('page-title')?.focus(), 0);
  }
});
render();
