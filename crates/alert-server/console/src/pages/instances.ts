// Alert instances: list, forms generated from the plugin schemas, test sends.

import { api, ApiError, MASK, raw, type HistoryEntry, type Instance, type ParamSpec, type Plugin } from '../api';
import { clear, fmtTime, h, uid } from '../dom';
import { t } from '../i18n';
import type { Page } from '../main';
import { badge, errorText, field, formError, notice, openDialog, pageHead, provisionedMark, readOnly, revealButton, saveForm, table, toggle } from '../ui';

let pluginCache: Plugin[] | null = null;

export async function plugins(): Promise<Plugin[]> {
  if (!pluginCache) pluginCache = await api<Plugin[]>('GET', 'plugins');
  return pluginCache;
}

export const instancesPage: Page = async (main) => {
  const list = h('div', { 'aria-busy': 'true' }, t('common.loading'));
  const newBtn = h('button', { type: 'button', class: 'primary' }, t('common.new'));
  main.append(pageHead(t('inst.title'), t('inst.intro'), newBtn), list);
  const kinds = await plugins();
  newBtn.addEventListener('click', () => instanceForm(kinds, null, reload));

  async function reload(): Promise<void> {
    const instances = await api<Instance[]>('GET', 'instances');
    const last = await Promise.all(
      instances.map((i) =>
        api<HistoryEntry[]>('GET', `history?instance_id=${i.id}&limit=1`).then(
          (rows) => rows[0] ?? null,
          () => null,
        ),
      ),
    );
    clear(list);
    list.removeAttribute('aria-busy');
    if (!instances.length) {
      list.append(h('p', { class: 'empty' }, t('common.none')));
      return;
    }
    const rows = instances.map((inst, n) => {
      const result = h('output', { class: 'test-result', 'aria-live': 'polite' });
      const testBtn = h('button', { type: 'button' }, t('inst.test'));
      testBtn.addEventListener('click', () => sendTest(inst, testBtn, result));
      const plugin = kinds.find((k) => k.kind === inst.kind);
      const entry = last[n];
      return [
        h('span', { class: 'strong' }, inst.name),
        plugin ? `${plugin.name} (${inst.kind})` : inst.kind,
        (inst.provisioned ? readOnly : (x: HTMLElement) => x)(toggle(inst.enabled, t('common.enable', { name: inst.name }), async (on, box) => {
          try {
            await api('PUT', `instances/${inst.id}`, { ...body(inst), enabled: on });
            inst.enabled = on;
            notice(t('common.saved'), 'ok');
          } catch (e) {
            box.checked = !on;
            notice(errorText(e), 'error');
          }
        })),
        entry ? h('span', null, badge(entry.state), ' ', h('small', null, fmtTime(entry.sent_at ?? entry.created_at))) : h('span', { class: 'muted' }, t('state.never')),
        h(
          'div',
          { class: 'row-actions' },
          inst.provisioned ? provisionedMark() : h('button', { type: 'button', onclick: () => instanceForm(kinds, inst, reload) }, t('common.edit')),
          testBtn,
          !inst.provisioned && h('button', { type: 'button', class: 'danger', onclick: () => remove(inst) }, t('common.delete')),
          result,
        ),
      ];
    });
    list.append(
      table(t('inst.title'), [t('common.name'), t('inst.kind'), t('common.enabled'), t('inst.last'), t('common.actions')], rows),
    );
  }

  async function remove(inst: Instance): Promise<void> {
    if (!confirm(t('common.confirmDelete', { name: inst.name }))) return;
    try {
      await api('DELETE', `instances/${inst.id}`);
      notice(t('common.deleted'), 'ok');
      await reload();
    } catch (e) {
      notice(e instanceof ApiError && e.code === 'in_use' ? t('inst.inUse', { message: e.message }) : errorText(e), 'error');
    }
  }

  await reload();
};


/** The PUT body of an unchanged instance (secrets stay "******", which keeps them). */
function body(inst: Instance): Record<string, unknown> {
  return { name: inst.name, kind: inst.kind, enabled: inst.enabled, params: inst.params, rate_per_minute: inst.rate_per_minute };
}

async function sendTest(inst: Instance, btn: HTMLButtonElement, out: HTMLOutputElement): Promise<void> {
  btn.disabled = true;
  out.className = 'test-result';
  out.textContent = t('inst.testing');
  try {
    const r = await raw('POST', `instances/${inst.id}/test`);
    const b = r.body as { ok?: boolean; warnings?: string[]; error?: { kind?: string; code?: string; message?: string } } | null;
    if (r.status === 200 && b?.ok) {
      const warnings = b.warnings ?? [];
      out.textContent = warnings.length ? t('inst.testWarn', { warnings: warnings.join('; ') }) : t('inst.testOk');
      out.className = 'test-result ok';
    } else if (r.status === 502 && b?.error) {
      const err = b.error;
      out.textContent = t('inst.testFail', { message: [err.kind, err.code, err.message].filter(Boolean).join(' · ') });
      out.className = 'test-result error';
    } else {
      throw toApiError(r.status, r.body);
    }
  } catch (e) {
    out.textContent = errorText(e);
    out.className = 'test-result error';
  } finally {
    btn.disabled = false;
  }
}

function toApiError(status: number, b: unknown): ApiError {
  const d = (b as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
  return new ApiError(status, d?.code ?? `http_${status}`, d?.message ?? `HTTP ${status}`, d?.field ?? null, b);
}

/** One control per parameter of the plugin, by type. */
function paramControl(spec: ParamSpec, value: unknown, editing: boolean): HTMLElement {
  const name = `param:${spec.name}`;
  const def = spec.default;
  const placeholder = def !== null && def !== undefined && spec.type !== 'bool' ? (Array.isArray(def) ? def.join(', ') : String(def)) : '';
  if (spec.secret) {
    return h('input', {
      type: 'password',
      name,
      autocomplete: 'new-password',
      value: '',
      placeholder: editing && value === MASK ? '••••••' : placeholder,
      'data-secret': editing && value === MASK ? 'stored' : '',
    });
  }
  switch (spec.type) {
    case 'bool': {
      const checked = value === undefined || value === null ? def === true : value === true || value === 'true';
      return h('input', { type: 'checkbox', name, checked });
    }
    case 'enum': {
      const options = spec.options ?? [];
      const current = value === undefined || value === null ? (typeof def === 'string' ? def : '') : String(value);
      return h(
        'select',
        { name },
        !spec.required || !current ? h('option', { value: '' }, '—') : null,
        options.map((o) => h('option', { value: o, selected: o.toLowerCase() === current.toLowerCase() }, o)),
      );
    }
    case 'integer':
      return h('input', { type: 'number', name, step: '1', inputmode: 'numeric', value: value === undefined || value === null ? '' : String(value), placeholder });
    case 'text':
      return h('textarea', { name, rows: 4, value: value === undefined || value === null ? '' : String(value), placeholder });
    case 'list': {
      const items = Array.isArray(value) ? value.map(String) : value ? String(value).split(',') : [];
      return h('textarea', { name, rows: 3, value: items.join('\n'), placeholder: placeholder.replace(/, /g, '\n'), 'data-list': '1' });
    }
    case 'url':
      return h('input', { type: 'url', name, inputmode: 'url', autocomplete: 'off', spellcheck: 'false', value: value === undefined || value === null ? '' : String(value), placeholder });
    default:
      return h('input', { type: 'text', name, autocomplete: 'off', value: value === undefined || value === null ? '' : String(value), placeholder });
  }
}

/** Reads a parameter back; `undefined` leaves it out (the plugin's default applies). */
function paramValue(spec: ParamSpec, control: HTMLElement): unknown {
  if (spec.secret) {
    const v = (control as HTMLInputElement).value;
    if (v) return v;
    return control.dataset.secret === 'stored' ? MASK : undefined;
  }
  if (spec.type === 'bool') return (control as HTMLInputElement).checked;
  const v = (control as HTMLInputElement).value.trim();
  if (!v) return undefined;
  if (spec.type === 'integer') return /^-?\d+$/.test(v) ? Number(v) : v;
  if (spec.type === 'list') return v.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
  return v;
}

/** The create/edit dialog of an instance; the parameters follow the chosen kind's schema. */
export function instanceForm(kinds: Plugin[], inst: Instance | null, done: () => Promise<void>): void {
  openDialog(inst ? t('inst.edit', { name: inst.name }) : t('inst.new'), (dlg) => {
    const form = h('form', { novalidate: true, class: 'form' });
    const nameInput = h('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', value: inst?.name ?? '' });
    const kindSelect = h(
      'select',
      { name: 'kind', disabled: !!inst },
      kinds.map((k) => h('option', { value: k.kind, selected: (inst?.kind ?? kinds[0]?.kind) === k.kind }, `${k.name} (${k.kind})`)),
    );
    const enabledBox = h('input', { type: 'checkbox', name: 'enabled', checked: inst?.enabled ?? true });
    const rateInput = h('input', { type: 'number', name: 'rate_per_minute', min: '0', step: '1', inputmode: 'numeric', value: inst ? String(inst.rate_per_minute) : '' });
    const kindHelp = h('p', { class: 'help' });
    const paramsBox = h('fieldset', { class: 'params' });
    const controls = new Map<string, { spec: ParamSpec; control: HTMLElement }>();
    const removals = new Map<string, HTMLInputElement>();

    function renderParams(): void {
      const plugin = kinds.find((k) => k.kind === kindSelect.value);
      clear(paramsBox);
      controls.clear();
      removals.clear();
      kindHelp.textContent = plugin?.description ?? '';
      paramsBox.append(h('legend', null, t('inst.params')));
      for (const spec of plugin?.params ?? []) {
        const value = inst?.params?.[spec.name];
        const control = paramControl(spec, value, !!inst);
        controls.set(spec.name, { spec, control });
        const helps = [spec.description];
        if (spec.secret && control.dataset.secret === 'stored') helps.push(t('inst.secretKeep'));
        if (spec.type === 'list') helps.push(t('inst.listHelp'));
        if (spec.default !== null && spec.default !== undefined && spec.default !== '')
          helps.push(t('common.default', { value: Array.isArray(spec.default) ? spec.default.join(', ') : String(spec.default) }));
        const wrap = field(spec.name, control, {
          help: helps.filter(Boolean).join(' '),
          required: spec.required,
          apiField: `params.${spec.name}`,
          inline: spec.type === 'bool',
          addon: spec.secret ? revealButton(control as HTMLInputElement) : undefined,
        });
        if (spec.secret && !spec.required && control.dataset.secret === 'stored') {
          // Leaving the field empty keeps a stored secret; removing one takes an explicit choice.
          const id = uid('rm');
          const box = h('input', { type: 'checkbox', id, name: `remove:${spec.name}` });
          box.addEventListener('change', () => {
            (control as HTMLInputElement).disabled = box.checked;
          });
          removals.set(spec.name, box);
          wrap.append(h('div', { class: 'field-inline' }, box, h('label', { for: id, class: 'plain' }, t('inst.removeSecret', { name: spec.name }))));
        }
        paramsBox.append(wrap);
      }
    }
    kindSelect.addEventListener('change', renderParams);
    renderParams();

    const err = formError();
    const submit = h('button', { type: 'submit', class: 'primary' }, inst ? t('common.save') : t('common.create'));
    form.append(
      field(t('common.name'), nameInput, { required: true, apiField: 'name' }),
      field(t('inst.kind'), kindSelect, { apiField: 'kind' }),
      kindHelp,
      field(t('common.enabled'), enabledBox, { inline: true, apiField: 'enabled' }),
      field(t('inst.rate'), rateInput, { help: t('inst.rateHelp'), apiField: 'rate_per_minute' }),
      paramsBox,
      err,
      h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: dlg.close }, t('common.cancel')), submit),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const params: Record<string, unknown> = {};
      for (const [name, { spec, control }] of controls) {
        if (removals.get(name)?.checked) continue; // left out: the PUT removes it
        const v = paramValue(spec, control);
        if (v !== undefined) params[name] = v;
      }
      const rate = rateInput.value.trim();
      const payload: Record<string, unknown> = {
        name: nameInput.value.trim(),
        kind: kindSelect.value,
        enabled: enabledBox.checked,
        params,
      };
      if (rate !== '') payload.rate_per_minute = /^\d+$/.test(rate) ? Number(rate) : rate;
      await saveForm(form, submit, dlg, () => (inst ? api('PUT', `instances/${inst.id}`, payload) : api('POST', 'instances', payload)), done);
    });
    return form;
  }, true);
}
