// The dashboard: the sign-in form until there is a session, then the
// header, the filters (clinics, dates, source) and the page the address
// names: #/<page>?from=YYYY-MM-DD&to=YYYY-MM-DD&clinic=a,b&source=s...
// Nothing of the data is in the page before the server accepted a key.
import * as api from './api.js';
import { lang, setLang, t } from './i18n.js';
import { h, disposeCharts, resizeCharts, errorText } from './ui.js';
import { setCurrency } from './fmt.js';
import { PAGES, NAV } from './pages.js';

const root = document.getElementById('root');
const state = {
  session: null, // the answer of GET /v1/session
  gen: 0, // the render in progress: a later one makes an earlier one's results moot
  timers: [], // a page's timers, cleared when another renders
};

// --- the address ------------------------------------------------------------

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const params = Object.fromEntries(new URLSearchParams(qs || ''));
  return { page: path || 'overview', params };
}

export function hashOf(page, params) {
  const qs = api.query(params, Object.keys(params).filter((k) => params[k] === ''));
  return `#/${page}${qs ? `?${qs}` : ''}`;
}

// The filters of the address, completed with the defaults: the last 30
// days, every clinic the key sees (no clinic parameter), any source.
function filtersOf(params) {
  const to = api.isDay(params.to) ? params.to : api.today(networkTz());
  let from = api.isDay(params.from) ? params.from : api.addDays(to, -29);
  if (api.daysBetween(from, to) < 0) from = to;
  if (api.daysBetween(from, to) > 365) from = api.addDays(to, -365);
  const allowed = new Set(state.session.clinics.map((c) => c.id));
  let clinics = (params.clinic || '').split(',').filter((c) => allowed.has(c));
  if (clinics.length === allowed.size) clinics = [];
  return {
    from,
    to,
    clinics,
    source: params.source || '',
    attribution: params.attribution === 'last_non_direct' ? 'last_non_direct' : 'first_touch',
  };
}

function navigate(page, params, replace = false) {
  const next = hashOf(page, params);
  if (next === location.hash) return;
  if (replace) {
    history.replaceState(null, '', next);
    render();
  } else {
    location.hash = next;
  }
}

// --- sign-in ------------------------------------------------------------------

function clearPage() {
  state.timers.forEach((id) => clearInterval(id));
  state.timers = [];
  disposeCharts();
}

function showSignIn(message) {
  clearPage();
  state.session = null;
  state.gen++;
  root.dataset.state = 'signin';
  root.replaceChildren();
  const error = h('p', { class: 'signin-error', role: 'alert', 'data-testid': 'signin-error', text: message || '' });
  error.hidden = !message;
  const key = h('input', {
    id: 'signin-key', type: 'password', name: 'key', autocomplete: 'off', required: true,
    spellcheck: 'false', 'data-testid': 'signin-key', placeholder: 'cfk_…',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'signin-submit', text: t('signin.submit') });
  const form = h('form', { class: 'signin-card', 'data-testid': 'signin-form', novalidate: true },
    h('div', { class: 'brand brand-lg' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'ClinicFlow'),
    h('h1', { text: t('signin.title') }),
    h('p', { class: 'muted', text: t('signin.lead') }),
    h('label', { for: 'signin-key', text: t('signin.key') }),
    key,
    error,
    submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const value = key.value.trim();
    if (!value) {
      key.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('signin.busy');
    error.hidden = true;
    try {
      state.session = await api.session.create(value);
      key.value = '';
      startApp();
    } catch (e) {
      error.textContent = e.status === 401 ? t('signin.bad_key')
        : e.code === 'cross_origin' ? t('signin.cross_origin')
          : e.status === 403 ? t('signin.no_scope') : t('signin.failed');
      error.hidden = false;
      submit.disabled = false;
      submit.textContent = t('signin.submit');
      key.select();
    }
  });
  root.append(h('div', { class: 'signin' }, form, langButton(() => showSignIn(message))));
  key.focus();
}

function langButton(rerender) {
  return h('button', {
    type: 'button', class: 'btn btn-ghost lang', 'data-testid': 'lang-switch',
    'data-lang': lang(), text: t('lang.switch'),
    onclick: () => {
      setLang(lang() === 'ru' ? 'en' : 'ru');
      rerender();
    },
  });
}

async function signOut() {
  let message = '';
  try {
    await api.session.remove();
  } catch (e) {
    // The browser has forgotten the session either way (the answer clears
    // its cookie). One the server could not end (503: its store away) is
    // still good for whoever copied its id until it expires: say so.
    if (!(e instanceof api.ApiError) || e.status !== 401) message = t('signout.not_ended');
  }
  history.replaceState(null, '', location.pathname);
  showSignIn(message);
}

// --- the app ----------------------------------------------------------------------

// A clinic's time zone (GET /v1/session names it), for the times of its
// records; a record of no clinic (or a clinic of no zone) in the network's,
// whose days the reports count, never the browser's.
function clinicTz(id) {
  const c = state.session && state.session.clinics.find((x) => x.id === id);
  return c && c.tz ? c.tz : networkTz();
}

// The network's zone: the reports' days are its days, so "today" is too.
function networkTz() {
  const net = state.session && state.session.network;
  return net && net.tz ? net.tz : undefined;
}

function clinicName(id) {
  const c = state.session && state.session.clinics.find((x) => x.id === id);
  return c ? c.name : id;
}

function startApp() {
  root.dataset.state = 'app';
  setCurrency((state.session.network || {}).currency);
  render();
}

function header(page) {
  const net = state.session.network || {};
  const nav = h('nav', { class: 'nav', 'aria-label': 'main' },
    ...NAV.map((p) => h('a', {
      href: hashOf(p, carryFilters(parseHash().params)),
      class: p === page || (page === 'records' && p === parseHash().params.back) ? 'active' : '',
      'data-testid': `nav-${p}`,
      'aria-current': p === page ? 'page' : null,
      text: t(`nav.${p}`),
    })));
  return h('header', { class: 'top' },
    h('div', { class: 'top-row' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'ClinicFlow'),
      h('div', { class: 'network', 'data-testid': 'network-name', text: net.name || net.id || '' }),
      h('div', { class: 'top-actions' },
        langButton(render),
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'signout', text: t('signout'), onclick: signOut }))),
    nav);
}

// The filter parameters of an address, for the links to the other pages
// (a records page's: those of the page it was drilled from).
function carryFilters(params) {
  return api.originFilters(params);
}

function filterBar(page, params, f, def) {
  const clinics = state.session.clinics;
  const update = (changes) => {
    const next = { ...carryFilters(params), ...changes };
    for (const k of Object.keys(next)) if (next[k] === '' || next[k] === null) delete next[k];
    navigate(page === 'records' ? (params.back || 'overview') : page, next);
  };

  // clinics: a drop-down of check boxes (every one checked: no filter)
  const checked = new Set(f.clinics.length ? f.clinics : clinics.map((c) => c.id));
  const summary = h('summary', { class: 'select', 'data-testid': 'filter-clinics-summary' },
    checked.size === clinics.length ? (clinics.length === 1 ? clinics[0].name : t('filter.all_clinics'))
      : checked.size === 1 ? clinicName([...checked][0]) : t('filter.n_clinics', { n: checked.size }));
  const boxes = clinics.map((c) => h('label', { class: 'check' },
    h('input', {
      type: 'checkbox', value: c.id, checked: checked.has(c.id), disabled: clinics.length === 1,
      'data-testid': 'filter-clinic', 'data-clinic': c.id,
      onchange: (ev) => {
        const now = new Set([...ev.target.closest('.menu').querySelectorAll('input:checked')].map((i) => i.value));
        if (!now.size) {
          ev.target.checked = true;
          return;
        }
        update({ clinic: now.size === clinics.length ? '' : [...now].join(',') });
      },
    }),
    h('span', { text: c.name })));
  const clinicPicker = h('details', { class: 'picker', 'data-testid': 'filter-clinics' }, summary, h('div', { class: 'menu' }, ...boxes));

  const preset = h('select', { 'data-testid': 'filter-preset', 'aria-label': t('filter.preset') },
    ...['7', '30', '90', 'month', 'custom'].map((p) => h('option', { value: p, text: t(`filter.preset.${p}`) })));
  const td = api.today(networkTz());
  const presetOf = () => {
    if (f.to !== td) return 'custom';
    const n = api.daysBetween(f.from, f.to) + 1;
    if (n === 7 || n === 30 || n === 90) return String(n);
    if (f.from === `${td.slice(0, 8)}01`) return 'month';
    return 'custom';
  };
  preset.value = presetOf();
  preset.addEventListener('change', () => {
    const v = preset.value;
    if (v === 'custom') return;
    update({ to: td, from: v === 'month' ? `${td.slice(0, 8)}01` : api.addDays(td, -(Number(v) - 1)) });
  });
  const from = h('input', { type: 'date', value: f.from, max: f.to, 'data-testid': 'filter-from', 'aria-label': t('filter.from'), required: true });
  const to = h('input', { type: 'date', value: f.to, min: f.from, 'data-testid': 'filter-to', 'aria-label': t('filter.to'), required: true });
  const onDate = () => {
    if (api.isDay(from.value) && api.isDay(to.value) && api.daysBetween(from.value, to.value) >= 0) {
      update({ from: from.value, to: to.value });
    }
  };
  from.addEventListener('change', onDate);
  to.addEventListener('change', onDate);

  const source = h('input', {
    type: 'search', value: f.source, list: 'source-options', 'data-testid': 'filter-source',
    placeholder: t('filter.any_source'), 'aria-label': t('filter.source'), disabled: !def.takesSource,
    title: def.takesSource ? '' : t('filter.source_na'),
  });
  source.addEventListener('change', () => update({ source: source.value.trim() }));
  const options = h('datalist', { id: 'source-options' });
  if (def.takesSource) {
    // the sources of the period, as a suggestion list
    api.report('sources', api.query({ from: f.from, to: f.to, group_by: 'source' }))
      .then((rep) => rep.rows.forEach((r) => r.source && options.append(h('option', { value: r.source }))))
      .catch(() => {});
  }

  return h('div', { class: 'filters', 'data-testid': 'filters' },
    h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('filter.clinics') }), clinicPicker),
    def.noDates ? null : h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('filter.preset') }), preset),
    def.noDates ? null : h('div', { class: 'field field-date' }, h('span', { class: 'field-label', text: t('filter.from') }), from),
    def.noDates ? null : h('div', { class: 'field field-date' }, h('span', { class: 'field-label', text: t('filter.to') }), to),
    def.takesSource ? h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('filter.source') }), source, options)
      // a source chosen on another page: said not to apply here, not
      // silently left out of figures that look filtered
      : f.source ? h('div', { class: 'field' }, h('span', { class: 'field-label', text: t('filter.source') }),
        h('span', { class: 'muted', 'data-testid': 'filter-source-na', text: `${f.source}: ${t('filter.source_na')}` }))
        : null);
}

async function render() {
  if (!state.session) return;
  clearPage();
  const gen = ++state.gen;
  let { page, params } = parseHash();
  if (!PAGES[page]) page = 'overview';
  const def = PAGES[page];
  const f = filtersOf(params);
  document.title = `${t(`nav.${page}`)} · ClinicFlow`;

  const main = h('main', {
    id: 'page', class: `page page-${page}`, 'data-testid': 'page', 'data-page': page,
    'data-ready': 'false', 'data-gen': String(gen), 'data-lang': lang(),
  });
  const ctx = {
    page,
    params,
    filters: f,
    takesSource: !!def.takesSource,
    session: state.session,
    clinicName,
    clinicTz,
    gen,
    isCurrent: () => gen === state.gen,
    every: (ms, fn) => state.timers.push(setInterval(fn, ms)),
    navigate,
    hashOf,
  };
  root.replaceChildren(
    header(page),
    h('div', { class: 'wrap' },
      def.noFilters ? null : filterBar(page, params, f, def),
      main));
  main.append(h('div', { class: 'loading', text: t('loading') }));
  try {
    const content = await def.render(ctx);
    if (!ctx.isCurrent()) return;
    main.replaceChildren(...[].concat(content).filter((c) => c)); // a page leaves out what it has not
    main.dataset.ready = 'true';
  } catch (e) {
    if (!ctx.isCurrent() || e.status === 401) return;
    main.replaceChildren(h('div', { class: 'error', 'data-testid': 'page-error' },
      h('p', { text: errorText(e) }),
      h('button', { class: 'btn', type: 'button', text: t('retry'), onclick: render })));
    main.dataset.ready = 'error';
  }
}

// --- start ---------------------------------------------------------------------------

api.whenUnauthorized(() => {
  if (state.session) showSignIn(t('signin.expired'));
});

window.addEventListener('hashchange', render);
// an open drop-down closes on a click elsewhere
document.addEventListener('click', (ev) => {
  document.querySelectorAll('details.picker[open]').forEach((d) => {
    if (!d.contains(ev.target)) d.open = false;
  });
}, { capture: true });
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(resizeCharts, 100);
});

async function boot() {
  setLang(lang());
  try {
    state.session = await api.session.get();
    startApp();
  } catch (_) {
    showSignIn();
  }
}

boot();
