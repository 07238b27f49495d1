/** Elements built from data without HTML strings: nothing the API returns is ever parsed as markup. */
type Child = Node | string | number | null | undefined | false;
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | number | EventListener | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === 'style') el.style.cssText = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
}

export function announce(text: string): void {
  const status = document.getElementById('status');
  if (status) status.textContent = text;
}

/** The loading, empty and error states every page uses. */
export const loading = (what: string) => h('p', { class: 'state', 'aria-busy': 'true' }, `Loading ${what}…`);
export const empty = (text: string) => h('p', { class: 'state empty' }, text);
export const failure = (err: unknown) => h('p', { class: 'state error', role: 'alert' }, `Something went wrong: ${err instanceof Error ? err.message : String(err)}`);

/** A wide table scrolls inside its own region on a narrow screen (focusable, so the keyboard can scroll it). */
export const scrollable = (label: string, table: HTMLElement) => h('div', { class: 'scroll', role: 'region', 'aria-label': label, tabindex: 0 }, table);
