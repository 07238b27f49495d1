import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, type Me } from './api.ts';
import { announce, failure, h, loading } from './dom.ts';
import { overviewPage } from './pages/overview.ts';
import { usagePage } from './pages/usage.ts';
import { invoicesPage } from './pages/invoices.ts';
import { exportsPage } from './pages/exports.ts';
import { settingsPage } from './pages/settings.ts';
import { signInPage } from './pages/signIn.ts';

export type Page = (main: HTMLElement, me: Me) => Promise<void> | void;
const pages: Record<string, { title: string; page: Page }> = {
  overview: { title: 'Overview', page: overviewPage },
  usage: { title: 'Usage', page: usagePage },
  invoices: { title: 'Invoices', page: invoicesPage },
  exports: { title: 'Exports', page: exportsPage },
  settings: { title: 'Settings', page: settingsPage },
};

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;
let me: Me | null = null;

async function signOut() {
  await api('/portal/sign-out', { method: 'POST' });
  me = null;
  location.hash = '#/sign-in';
  await route();
}

function shell(current: string) {
  nav.hidden = false;
  nav.replaceChildren(...Object.entries(pages).map(([key, p]) => h('a', { href: `#/${key}`, ...(key === current ? { 'aria-current': 'page' } : {}) }, p.title)));
  who.replaceChildren(h('span', {}, `${me!.organization.name} · ${me!.role.replace('_', ' ')}`), ' ', h('button', { type: 'button', class: 'link', onclick: () => void signOut() }, 'Sign out'));
}

async function route() {
  const [path = 'overview'] = location.hash.replace(/^#\/?/, '').split('?');
  if (!me) {
    try {
      me = await api<Me>('/v1/portal/me');
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) {
        main.replaceChildren(failure(err));
        return;
      }
      nav.hidden = true;
      who.replaceChildren();
      document.title = 'Sign in — CurbMap';
      signInPage(main, async () => {
        me = null;
        location.hash = '#/overview';
        await route();
      });
      return;
    }
  }
  const key = pages[path] ? path : 'overview';
  const { title, page } = pages[key]!;
  document.title = `${title} — CurbMap`;
  shell(key);
  main.replaceChildren(h('h1', {}, title), loading(title.toLowerCase()));
  try {
    await page(main, me);
    announce(`${title} loaded`);
  } catch (err) {
    main.replaceChildren(h('h1', {}, title), failure(err));
  }
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => void route());
void route();
