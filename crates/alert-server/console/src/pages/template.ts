// A group's message template: three editors (title, text, markdown) and, beside them, a live
// preview from POST /api/v1/templates/preview (debounced while one types), with the request
// one of the group's instances would send.

import { api, ApiError, type Template, type TemplatePreview } from '../api';
import { clear, h, uid } from '../dom';
import { t, type Key } from '../i18n';
import { field } from '../ui';

/** How long typing must pause before the preview is asked for. */
const DEBOUNCE_MS = 300;

const PARTS: { part: keyof Template; label: Key; rows: number }[] = [
  { part: 'title', label: 'tpl.title', rows: 2 },
  { part: 'text', label: 'tpl.text', rows: 6 },
  { part: 'markdown', label: 'tpl.markdown', rows: 8 },
];

export interface TemplateEditor {
  element: HTMLElement;
  /** The template to save: the parts filled in, `null` when none is (the built-in one). */
  value: () => Template | null;
  /** The group's instances changed: the preview's instance list follows. */
  setInstances: (instances: { id: number; name: string }[]) => void;
}

/** The editor of a group's template, `initial` filled in. */
export function templateEditor(initial: Template | null | undefined): TemplateEditor {
  const areas = PARTS.map(({ part, rows }) =>
    h('textarea', { name: `template.${part}`, rows, spellcheck: false, placeholder: t('tpl.builtin'), value: initial?.[part] ?? '' }),
  );
  const select = h('select', { name: 'preview-instance' }, h('option', { value: '' }, t('tpl.noInstance')));
  const status = h('p', { class: 'help', role: 'status', 'aria-live': 'polite' });
  const output = h('div', { class: 'tpl-output' });
  const previewId = uid('tpl-preview');

  const value = (): Template | null => {
    const out: Template = {};
    PARTS.forEach(({ part }, i) => {
      if (areas[i].value.trim()) out[part] = areas[i].value;
    });
    return Object.keys(out).length ? out : null;
  };

  let timer: number | undefined;
  let seq = 0;
  const schedule = (): void => {
    window.clearTimeout(timer);
    status.textContent = t('tpl.updating');
    timer = window.setTimeout(() => void refresh(), DEBOUNCE_MS);
  };

  async function refresh(): Promise<void> {
    const mine = ++seq;
    const body: Record<string, unknown> = { template: value() ?? {} };
    if (select.value) body.instance_id = Number(select.value);
    try {
      const p = await api<TemplatePreview>('POST', 'templates/preview', body);
      if (mine !== seq) return; // a newer request is on its way
      areas.forEach((a) => a.removeAttribute('aria-invalid'));
      status.textContent = t('tpl.upToDate');
      show(p);
    } catch (e) {
      if (mine !== seq) return;
      const part = e instanceof ApiError ? e.field?.replace(/^template\./, '') : undefined;
      areas.forEach((a, i) => (PARTS[i].part === part ? a.setAttribute('aria-invalid', 'true') : a.removeAttribute('aria-invalid')));
      status.textContent = '';
      clear(output);
      output.append(h('p', { class: 'form-error' }, e instanceof ApiError ? e.message : String(e)));
    }
  }

  function show(p: TemplatePreview): void {
    clear(output);
    output.append(
      h('figure', { class: 'preview' }, h('figcaption', null, t('tpl.title')), h('p', { class: 'tpl-title' }, p.title)),
      h('figure', { class: 'preview' }, h('figcaption', null, t('tpl.markdown')), h('pre', { class: 'message', tabindex: '0' }, p.markdown)),
      h('figure', { class: 'preview' }, h('figcaption', null, t('tpl.text')), h('pre', { class: 'message', tabindex: '0' }, p.text)),
    );
    const r = p.request;
    if (r) {
      output.append(
        h(
          'figure',
          { class: 'preview' },
          h('figcaption', null, t('tpl.request', { name: r.instance })),
          r.url
            ? [h('p', { class: 'tpl-url mono' }, `${r.method ?? 'POST'} ${r.url}`), h('pre', { class: 'message tpl-body', tabindex: '0' }, JSON.stringify(r.body, null, 2))]
            : h('p', { class: 'help tpl-url' }, r.note ?? ''),
        ),
      );
    }
  }

  areas.forEach((a) => a.addEventListener('input', schedule));
  select.addEventListener('change', schedule);

  const editors = h(
    'div',
    { class: 'tpl-editors' },
    PARTS.map(({ part, label }, i) => field(t(label), areas[i], { apiField: `template.${part}` })),
  );
  const preview = h(
    'section',
    { class: 'tpl-preview', 'aria-labelledby': previewId },
    h('h3', { id: previewId }, t('tpl.preview')),
    h('p', { class: 'help' }, t('tpl.previewIntro')),
    field(t('tpl.for'), select),
    status,
    output,
  );
  const element = h(
    'fieldset',
    { class: 'field template', 'data-field': 'template' },
    h('legend', null, t('tpl.legend')),
    h('p', { class: 'help' }, t('tpl.help')),
    h('div', { class: 'tpl-grid' }, editors, preview),
    h('p', { class: 'field-error', hidden: true }),
  );

  const setInstances = (instances: { id: number; name: string }[]): void => {
    const chosen = select.value;
    clear(select);
    select.append(h('option', { value: '' }, t('tpl.noInstance')), ...instances.map((i) => h('option', { value: String(i.id) }, i.name)));
    // Keep the choice while that instance stays in the group; else the first one.
    select.value = instances.some((i) => String(i.id) === chosen) ? chosen : String(instances[0]?.id ?? '');
    if (select.value !== chosen) schedule();
  };

  schedule();
  return { element, value, setInstances };
}
