// Shared widgets: notices, dialogs, labelled fields with inline errors, state badges.

import { ApiError } from './api';
import { h, uid, type Child } from './dom';
import { stateLabel, t } from './i18n';

let noticeRegion: HTMLElement | null = null;

/** The live region page-level messages go to (the page sets it). */
export function setNoticeRegion(el: HTMLElement): void {
  noticeRegion = el;
}

/** Shows a page-level message (polite live region); errors stay until the next notice. */
let noticeTimer: number | undefined;

export function notice(message: string, kind: 'ok' | 'error' | 'info' = 'info'): void {
  if (!noticeRegion) return;
  const region = noticeRegion;
  window.clearTimeout(noticeTimer);
  region.className = `notice notice-${kind}`;
  region.textContent = message;
  region.hidden = false;
  // Confirmations fade after a while; errors stay until the next message.
  if (kind === 'ok') noticeTimer = window.setTimeout(() => (region.hidden = true), 6000);
}

export function clearNotice(): void {
  if (noticeRegion) {
    noticeRegion.hidden = true;
    noticeRegion.textContent = '';
  }
}

/** A message for any failure. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return t('common.error', { message: e.message });
  return t('common.network', { message: e instanceof Error ? e.message : String(e) });
}

export interface DialogHandle {
  dialog: HTMLDialogElement;
  close: () => void;
}

/** A modal dialog (native <dialog>: focus kept inside, Escape closes), focus back on close. */
export function openDialog(title: string, body: (handle: DialogHandle) => Child, wide = false): DialogHandle {
  const opener = document.activeElement as HTMLElement | null;
  const titleId = uid('dlg-title');
  const dialog = h('dialog', { class: wide ? 'dialog dialog-wide' : 'dialog', 'aria-labelledby': titleId });
  const handle: DialogHandle = {
    dialog,
    close: () => dialog.close(),
  };
  const closeBtn = h('button', { type: 'button', class: 'icon-button', 'aria-label': t('common.close'), onclick: handle.close }, '×');
  dialog.append(h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title), closeBtn));
  const content = h('div', { class: 'dialog-body' });
  dialog.append(content);
  const built = body(handle);
  if (built) content.append(...(Array.isArray(built) ? (built as Node[]) : [built as Node]));
  dialog.addEventListener('close', () => {
    dialog.remove();
    opener?.focus?.();
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = content.querySelector<HTMLElement>('input:not([type=hidden]), select, textarea, button');
  first?.focus();
  return handle;
}

/**
 * Saves a dialog's form: runs `save` (the API call) with the submit button disabled; on success
 * closes the dialog, says so and runs `done` (the page reloads); on failure shows the error in
 * the form, inline where it names a field.
 */
export async function saveForm(
  form: HTMLElement,
  submit: HTMLButtonElement,
  dlg: DialogHandle,
  save: () => Promise<unknown>,
  done: () => Promise<void>,
): Promise<void> {
  submit.disabled = true;
  try {
    await save();
    dlg.close();
    notice(t('common.saved'), 'ok');
    await done();
  } catch (e) {
    showFormError(form, e);
  } finally {
    submit.disabled = false;
  }
}

export interface FieldOpts {
  help?: string;
  required?: boolean;
  /** The API's name for it, e.g. `params.webhook` (inline errors are matched on it). */
  apiField?: string;
  inline?: boolean;
  /** A button next to the control (e.g. show/hide a secret). */
  addon?: HTMLElement;
}

/** A label, its control, help text and an (empty) error line, wired with ids and aria. */
export function field(label: string, control: HTMLElement, opts: FieldOpts = {}): HTMLElement {
  const id = control.id || uid('f');
  control.id = id;
  const described: string[] = [];
  const helpId = `${id}-help`;
  const errId = `${id}-err`;
  if (opts.help) described.push(helpId);
  described.push(errId);
  control.setAttribute('aria-describedby', described.join(' '));
  if (opts.required) control.setAttribute('aria-required', 'true');
  const labelEl = h('label', { for: id }, label, opts.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null);
  const wrap = h(
    'div',
    { class: opts.inline ? 'field field-inline' : 'field', 'data-field': opts.apiField ?? '' },
    opts.inline ? [control, labelEl] : [labelEl, opts.addon ? h('div', { class: 'with-addon' }, control, opts.addon) : control],
    opts.help ? h('p', { class: 'help', id: helpId }, opts.help) : null,
    h('p', { class: 'field-error', id: errId, hidden: true }),
  );
  return wrap;
}

/** Clears every inline error of `form`. */
export function clearErrors(form: HTMLElement): void {
  form.querySelectorAll<HTMLElement>('.field-error').forEach((p) => {
    p.hidden = true;
    p.textContent = '';
  });
  form.querySelectorAll('[aria-invalid]').forEach((c) => c.removeAttribute('aria-invalid'));
  form.querySelectorAll<HTMLElement>('.form-error').forEach((p) => {
    p.hidden = true;
    p.textContent = '';
  });
}

/**
 * Shows an API error in `form`: next to the field it names (`error.field`, or its closest
 * parent such as `params` for `params.webhook[0]`), focusing it; otherwise in the form's
 * error line. Returns whether a field took it.
 */
export function showFormError(form: HTMLElement, e: unknown): boolean {
  clearErrors(form);
  if (e instanceof ApiError && e.field) {
    let name = e.field;
    for (;;) {
      const wrap = form.querySelector<HTMLElement>(`.field[data-field="${CSS.escape(name)}"]`);
      if (wrap) {
        const p = wrap.querySelector<HTMLElement>('.field-error');
        const control = wrap.querySelector<HTMLElement>('input, select, textarea');
        if (p) {
          p.textContent = e.message;
          p.hidden = false;
        }
        control?.setAttribute('aria-invalid', 'true');
        control?.focus();
        const general = form.querySelector<HTMLElement>('.form-error');
        if (general) {
          general.textContent = t('inst.fixFields');
          general.hidden = false;
        }
        return true;
      }
      const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('['));
      if (cut <= 0) break;
      name = name.slice(0, cut);
    }
  }
  const general = form.querySelector<HTMLElement>('.form-error');
  if (general) {
    general.textContent = errorText(e);
    general.hidden = false;
    general.focus();
  }
  return false;
}

/** The form's general error line (role=alert). */
export function formError(): HTMLElement {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
}

/** A coloured badge for a delivery or job state (text, not colour alone). */
export function badge(state: string, label?: string): HTMLElement {
  return h('span', { class: `badge badge-${state.toLowerCase()}` }, label ?? stateLabel(state));
}

/** A page header: title, intro and optional actions. */
export function pageHead(title: string, intro: string, ...actions: Child[]): HTMLElement {
  return h(
    'div',
    { class: 'page-head' },
    h('div', null, h('h1', { id: 'page-title', tabindex: '-1' }, title), h('p', { class: 'intro' }, intro)),
    actions.length ? h('div', { class: 'page-actions' }, actions) : null,
  );
}

/** A table whose cells show their column name on narrow screens (CSS turns rows into cards). */
export function table(caption: string, columns: string[], rows: Child[][]): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'cards' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        null,
        rows.map((cells) => h('tr', null, cells.map((c, i) => h('td', { 'data-label': columns[i] }, c)))),
      ),
    ),
  );
}

/** A toggle switch: a real checkbox with an accessible name. */
export function toggle(checked: boolean, label: string, onChange: (checked: boolean, box: HTMLInputElement) => void): HTMLElement {
  const box = h('input', { type: 'checkbox', class: 'switch', role: 'switch', checked, 'aria-label': label });
  box.addEventListener('change', () => onChange(box.checked, box));
  return box;
}

/** The mark of an object from a provisioning file: shown instead of its edit and delete buttons
 * (the API answers 409 to writes on it; docs/PROVISIONING.md). */
export function provisionedMark(): HTMLElement {
  return h('span', { class: 'chip provisioned', title: t('common.provisionedHint') }, t('common.provisioned'));
}

/** A switch that cannot be changed (a provisioned object's `enabled`). */
export function readOnly(box: HTMLElement): HTMLElement {
  (box as HTMLInputElement).disabled = true;
  return box;
}

/** A "Show" button that reveals a password field's value while pressed. */
export function revealButton(input: HTMLInputElement): HTMLButtonElement {
  const btn = h('button', { type: 'button', class: 'addon', 'aria-pressed': 'false' }, t('inst.show'));
  btn.addEventListener('click', () => {
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    btn.setAttribute('aria-pressed', String(show));
    input.focus();
  });
  if (!input.id) input.id = uid('secret');
  btn.setAttribute('aria-controls', input.id);
  return btn;
}
