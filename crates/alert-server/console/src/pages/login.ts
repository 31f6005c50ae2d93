// The sign-in form: asks for the API token and checks it against the API.

import { raw, setToken } from '../api';
import { h } from '../dom';
import { t } from '../i18n';
import { errorText, field, formError, showFormError } from '../ui';
import { ApiError } from '../api';

export function loginView(main: HTMLElement, done: () => void): void {
  const form = h('form', { class: 'form login', novalidate: true, 'aria-labelledby': 'login-title' });
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('login.submit'));
  form.append(
    h('h1', { id: 'login-title', tabindex: '-1' }, t('login.title')),
    h('p', { class: 'intro' }, t('login.intro')),
    field(t('login.token'), input, { required: true, apiField: 'token' }),
    formError(),
    h('div', { class: 'form-actions' }, submit),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    submit.disabled = true;
    try {
      const r = await raw('GET', 'instances', undefined, token);
      if (r.status === 401) {
        showFormError(form, new ApiError(401, 'unauthorized', t('login.wrong'), 'token', null));
      } else {
        setToken(token);
        done();
      }
    } catch (e) {
      showFormError(form, new Error(errorText(e)));
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  input.focus();
}
