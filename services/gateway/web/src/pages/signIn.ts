import { api } from '../api.ts';
import { h } from '../dom.ts';

/** Sign-in with an API key: posted once, turned into an HttpOnly session cookie; the key is not kept in the page. */
export function signInPage(main: HTMLElement, done: () => Promise<void>): void {
  const expired = location.hash.includes('link=expired');
  const input = h('input', { id: 'api-key', name: 'apiKey', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const error = h('p', { class: 'state error', role: 'alert', hidden: true });
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    expired ? h('p', { class: 'state error', role: 'alert' }, 'That sign-in link has expired or was revoked. Ask for a new one, or sign in with an API key.') : null,
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { class: 'hint' }, 'The key is sent once to open a session; it is not stored in this browser.'),
    error,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await api('/portal/sign-in', { method: 'POST', body: { apiKey: input.value } });
      input.value = '';
      await done();
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : String(err);
      error.hidden = false;
    }
  });
  main.replaceChildren(form);
  input.focus();
}
