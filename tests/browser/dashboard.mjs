// The analytics dashboard in Debian's chromium (playwright-core; no browser
// download). Run by tests/integration/dashboard/test_dashboard.py, which
// starts clinicflow-analytics with the business scenario fed and passes:
//   CF_DASHBOARD_URL    the service's base URL (http://127.0.0.1:port)
//   CF_READ_KEY         a read key of the network (all clinics)
//   CF_LIMITED_KEY      a read key limited to CF_LIMITED_CLINICS (comma-separated)
//   CF_FROM, CF_TO      the scenario's range (YYYY-MM-DD)
//   CF_SCREENSHOTS      where the screenshots go
//   CF_CHROMIUM         the browser (default /usr/bin/chromium)
// Control channel: prints "CONTROL worklist-ready" when the worklist is on
// screen and reads "produced <task id>" on stdin once the test has
// produced a new missed call; then waits for that task's row.
//
// What it checks: every figure on a page (an element with data-report,
// data-q, data-row, data-field, data-value) equals the API's answer to the
// same query asked with the Bearer key; pages, filters, drill-down,
// sign-in, sign-out, a limited key, the live worklist and what each of its
// tasks is about, no overflow on a phone; screenshots of every page in
// English and Russian.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const BASE = need('CF_DASHBOARD_URL');
const READ_KEY = need('CF_READ_KEY');
const LIMITED_KEY = need('CF_LIMITED_KEY');
const LIMITED_CLINICS = need('CF_LIMITED_CLINICS').split(',');
const FROM = need('CF_FROM');
const TO = need('CF_TO');
const SHOTS = need('CF_SCREENSHOTS');
const CHROMIUM = process.env.CF_CHROMIUM || '/usr/bin/chromium';
const PAGES = ['overview', 'sources', 'calls', 'leads', 'operators', 'doctors', 'reminders', 'recall',
  'load', 'cohorts', 'worklist'];
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT_MS = 20000;

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.log(`FAIL: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const started = Date.now();
function log(msg) {
  console.log(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s ${msg}`);
}

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

// --- the control channel ------------------------------------------------------------
const stdinLines = [];
let stdinWaiter = null;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (stdinWaiter) {
    const w = stdinWaiter;
    stdinWaiter = null;
    w(line);
  } else {
    stdinLines.push(line);
  }
});
function nextControlLine(timeoutMs) {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure('no answer on the control channel')), timeoutMs);
    stdinWaiter = (line) => {
      clearTimeout(timer);
      resolve(line);
    };
  });
}

// --- the API as the test asks it ------------------------------------------------------
const apiCache = new Map();
async function api(path, key, { cache = true } = {}) {
  const id = `${key}|${path}`;
  if (cache && apiCache.has(id)) return apiCache.get(id);
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const resp = await fetch(BASE + path, { headers });
  const text = await resp.text();
  const out = { status: resp.status, body: text ? JSON.parse(text) : null };
  if (cache) apiCache.set(id, out);
  return out;
}

function sameNumber(got, want) {
  if (want === null || got === null) return want === got;
  if (typeof got !== 'number' || typeof want !== 'number') return false;
  return Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want));
}

function findRow(rep, rowSpec) {
  if (rowSpec === 'totals') return rep.totals;
  const want = JSON.parse(rowSpec);
  const matches = rep.rows.filter((r) => Object.entries(want).every(([k, v]) => r[k] === v));
  return matches.length === 1 ? matches[0] : undefined;
}

// Every figure of the page equals the API's: returns how many were compared.
async function verifyFigures(page, key, what) {
  const figs = await page.$$eval('[data-report][data-field][data-q]', (els) => els.map((e) => ({
    report: e.dataset.report, q: e.dataset.q, row: e.dataset.row, field: e.dataset.field,
    value: e.dataset.value, text: e.textContent,
  })));
  const bad = [];
  for (const f of figs) {
    const got = JSON.parse(f.value);
    const answer = await api(`/v1/reports/${f.report}?${f.q}`, key);
    if (answer.status !== 200) {
      bad.push(`${f.report}?${f.q}: API ${answer.status}`);
      continue;
    }
    const row = findRow(answer.body, f.row);
    if (row === undefined) {
      bad.push(`${f.report}?${f.q} row ${f.row}: not in the API's answer`);
      continue;
    }
    const want = row[f.field];
    if (!sameNumber(got, want === undefined ? null : want)) {
      bad.push(`${f.report}?${f.q} row ${f.row} ${f.field}: page ${f.value}, API ${JSON.stringify(want)}`);
      continue;
    }
    // a whole count reads as its digits (grouping aside)
    if (Number.isInteger(want) && want >= 0 && !/(share|rate|romi|uplift|acceptance|conversion|_s$|seconds|nps)/.test(f.field)
      && f.text.replace(/\D/g, '') !== String(want)) {
      bad.push(`${f.report} ${f.field}: shows "${f.text}" for ${want}`);
    }
    // money in the network's currency (the demo network's is RUB): with its sign
    if (/^(revenue|spend)$/.test(f.field) && want !== null && !/₽|RUB/.test(f.text)) {
      bad.push(`${f.report} ${f.field}: shows "${f.text}" without the currency`);
    }
  }
  check(!bad.length, `${what}: figures differ from the API:\n  ${bad.slice(0, 15).join('\n  ')}`);
  return figs.length;
}

// The figures that are counts of records: each one's link must open exactly
// that many (a share, a median or an amount opens what it is taken over).
const COUNT_FIELDS = new Set(('contacts unique_contacts new_persons new_persons_booked bookings arrivals no_shows '
  + 'cancellations plans_proposed plans_accepted repeat_visits inbound outbound answered missed abandoned unique '
  + 'targeted callback_tasks called_back called_back_on_time lost answered_call_center answered_reception leads '
  + 'responded unanswered sla_breaches booked spam calls_handled inbound_answered arrived_new_patients nps_answers '
  + 'members target holdout contacted agreed opt_outs booked_target booked_holdout arrived_target inbound_calls '
  + 'patients sent calls sms not_reached confirmed declined reschedule_requested not_confirmed confirmed_visits '
  + 'unconfirmed_visits').split(' '));

// Every count on the page that links to records opens as many records (the
// API's pages followed to the end); a non-zero figure without a link is a
// gap. Returns how many links were followed.
async function verifyDrills(page, what) {
  const figs = await page.$$eval('[data-value]', (els) => els.map((e) => {
    const a = e.closest('a');
    return { field: e.dataset.field, v: e.dataset.value, href: a ? a.getAttribute('href') : null };
  }));
  const bad = [];
  let n = 0;
  for (const f of figs) {
    if (f.v === '' || f.v === '0' || f.v === 'null') continue;
    if (!f.href) {
      bad.push(`${f.field} ${f.v}: no link`);
      continue;
    }
    if (!COUNT_FIELDS.has(f.field)) continue;
    const q = new URLSearchParams(f.href.split('?')[1]);
    const kind = q.get('kind');
    q.delete('kind');
    q.delete('back');
    q.set('limit', '1000');
    const got = await page.evaluate(async ([k, qs]) => {
      let count = 0;
      let cursor = null;
      do {
        const r = await fetch(`/v1/records/${k}?${qs}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (r.status !== 200) return `status ${r.status}`;
        const b = await r.json();
        count += b.records.length;
        cursor = b.next_cursor;
      } while (cursor);
      return count;
    }, [kind, q.toString()]);
    n++;
    if (String(got) !== f.v) bad.push(`${f.field} ${f.v}: ${kind}?${q} has ${got}`);
  }
  check(!bad.length, `${what}: figures and their records differ:\n  ${bad.slice(0, 15).join('\n  ')}`);
  return n;
}

// --- the page -------------------------------------------------------------------------------

async function gen(page) {
  return page.evaluate(() => {
    const el = document.querySelector('[data-testid=page]');
    return el ? Number(el.dataset.gen) : 0;
  });
}

// Until the page named is rendered (a render later than after).
async function waitReady(page, name, after = 0) {
  try {
    await page.waitForFunction(([n, g]) => {
      const el = document.querySelector('[data-testid=page]');
      return el && el.dataset.page === n && Number(el.dataset.gen) > g && el.dataset.ready !== 'false';
    }, [name, after], { timeout: WAIT_MS });
  } catch (e) {
    throw new Failure(`page ${name} did not render: ${e.message.split('\n')[0]}`);
  }
  const state = await page.$eval('[data-testid=page]', (el) => ({ ready: el.dataset.ready, text: el.textContent.slice(0, 300) }));
  check(state.ready === 'true', `page ${name} failed to load: ${state.text}`);
}

async function goto(page, name, params = {}) {
  const before = await gen(page);
  const qs = new URLSearchParams({ from: FROM, to: TO, ...params }).toString();
  await page.evaluate((h) => { location.hash = h; }, `#/${name}?${qs}`);
  await waitReady(page, name, before);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function noDataShown(page, what) {
  const n = await page.$$eval('[data-value], [data-testid=page], [data-testid=kpi-contacts]', (els) => els.length);
  check(n === 0, `${what}: ${n} data elements are on the page`);
  const text = await page.textContent('body');
  check(!/\d{2,}/.test(text.replace(/cfk_/g, '')), `${what}: numbers on the page: ${text.slice(0, 200)}`);
}

async function signIn(page, key) {
  await page.waitForSelector('[data-testid=signin-form]', { timeout: WAIT_MS });
  await page.fill('[data-testid=signin-key]', key);
  await page.click('[data-testid=signin-submit]');
}

async function newContext(browser, locale, viewport = { width: 1366, height: 900 }, extra = {}) {
  return browser.newContext({ locale, viewport, reducedMotion: 'reduce', ...extra });
}

function attach(page, errors) {
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/401|Unauthorized|403|Forbidden/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== new URL(BASE).origin && u.protocol !== 'data:') errors.push(`request outside the service: ${r.url()}`);
  });
}

// --- the steps ----------------------------------------------------------------------------------

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const errors = [];
  let current = null;
  try {
    // 1. No session: the sign-in form only, and the API refuses without the cookie.
    const ctx = await newContext(browser, 'en-US');
    const page = await ctx.newPage();
    current = page;
    attach(page, errors);
    for (const [path, want] of [['/v1/session', 401], [`/v1/reports/funnel?from=${FROM}&to=${TO}`, 401],
      [`/v1/records/calls?from=${FROM}&to=${TO}`, 401], ['/v1/worklist', 401]]) {
      const r = await api(path, null, { cache: false });
      check(r.status === want, `GET ${path} without a key: ${r.status}, expected ${want}`);
    }
    await page.goto(`${BASE}/#/sources?from=${FROM}&to=${TO}`);
    await page.waitForSelector('[data-testid=signin-form]', { timeout: WAIT_MS });
    await noDataShown(page, 'before sign-in');
    check(await page.evaluate(() => document.documentElement.lang) === 'en', 'an en-US browser does not start in English');
    const inPage = await page.evaluate(async (q) => (await fetch(`/v1/reports/funnel?${q}`, { credentials: 'same-origin' })).status,
      `from=${FROM}&to=${TO}`);
    check(inPage === 401, `the page's own fetch without a session: ${inPage}`);
    await shot(page, 'en-signin');
    log('no session: sign-in form only, API 401');

    // 2. A wrong key is refused, and still nothing shows.
    await signIn(page, 'cfk_0000000000000000000000000000000000000000');
    await page.waitForSelector('[data-testid=signin-error]:not([hidden])', { timeout: WAIT_MS });
    await noDataShown(page, 'after a wrong key');
    log('a wrong key is refused');

    // 3. Sign in: an HttpOnly SameSite cookie the page cannot read.
    await signIn(page, READ_KEY);
    await waitReady(page, 'sources');
    const cookies = await ctx.cookies();
    const session = cookies.find((c) => c.name === 'cf_session');
    check(session, `no cf_session cookie after sign-in: ${JSON.stringify(cookies.map((c) => c.name))}`);
    check(session.httpOnly, 'the session cookie is not HttpOnly');
    check(session.sameSite === 'Strict', `the session cookie is SameSite=${session.sameSite}`);
    check(!(await page.evaluate(() => document.cookie)).includes('cf_session'), 'the page can read the session cookie');
    const who = await api('/v1/session', READ_KEY, { cache: false });
    const networkName = await page.textContent('[data-testid=network-name]');
    check(who.status === 200 && networkName === who.body.network.name, `network name "${networkName}" vs ${JSON.stringify(who.body)}`);
    log('signed in: cf_session HttpOnly SameSite=Strict');

    // 4. Every page, in English: the figures are the API's, each count
    // opens as many records; charts drawn.
    let total = 0;
    let drills = 0;
    for (const name of PAGES) {
      await goto(page, name);
      if (name === 'worklist') {
        await verifyWorklist(page, READ_KEY, 'worklist (en)');
      } else {
        const n = await verifyFigures(page, READ_KEY, `${name} (en)`);
        check(n > 0, `${name}: no figures on the page`);
        total += n;
        drills += await verifyDrills(page, `${name} (en)`);
        const charts = await page.$$eval('[data-testid=chart]', (els) => els.map((e) => !!e.querySelector('canvas')));
        check(charts.every(Boolean), `${name}: a chart was not drawn (${charts})`);
      }
      await shot(page, `en-${name}`);
    }
    log(`every page in English: ${total} figures equal the API's; ${drills} counts open as many records`);

    // the calls page of one source: its callback figures open that
    // source's tasks (each task keeps its missed call's source)
    const calls = (await api(`/v1/reports/calls?from=${FROM}&to=${TO}&group_by=source`, READ_KEY)).body;
    const sourced = calls.rows.find((r) => r.source && r.callback_tasks > 0);
    check(sourced, `the scenario has no callback task with a source: ${JSON.stringify(calls.rows)}`);
    await goto(page, 'calls', { source: sourced.source });
    check(await verifyFigures(page, READ_KEY, `calls of ${sourced.source}`) > 0, 'calls of a source: no figures');
    const sourceDrills = await verifyDrills(page, `calls of ${sourced.source}`);
    const tasksLink = await page.$('a[data-field=callback_tasks]');
    check(tasksLink, `calls of ${sourced.source}: its callback tasks are not a link`);
    log(`calls of ${sourced.source}: ${sourceDrills} counts open as many records, the callback tasks among them`);

    // the reminders page: beside the scenario's sends no note; over a range
    // with none sent, a note of when reminders go out (the clinics' windows)
    await goto(page, 'reminders');
    check(!(await page.$('[data-testid=reminders-quiet]')), 'reminders: the no-sends note beside the scenario\'s sends');
    await goto(page, 'reminders', { from: addDays(FROM, -60), to: addDays(FROM, -31) });
    const quiet = await page.$('[data-testid=reminders-quiet]');
    const quietText = quiet ? await quiet.textContent() : '';
    check(quietText.includes('10:00-18:00, 20:00-21:00'), `reminders: a range with no sends names no calling windows ("${quietText}")`);
    log('reminders: a range with no sends names the clinics\' calling windows');

    // a source chosen on the sources page, on a page not split by source:
    // said not to apply, not silently dropped
    await goto(page, 'overview', { source: sourced.source });
    const na = await page.textContent('[data-testid=filter-source-na]').catch(() => null);
    check(na && na.includes(sourced.source), `overview with a source: no word that it does not apply (${na})`);
    await goto(page, 'calls', { source: sourced.source });
    check(!(await page.$('[data-testid=filter-source-na]')), 'calls with a source: said not to apply');

    // the scenario's own figures, as a sanity check of the comparison itself
    await goto(page, 'overview');
    check(await page.getAttribute('[data-testid=kpi-value-contacts]', 'data-value') === '17', 'overview: contacts is not the scenario\'s 17');

    // 5. Filters: one clinic, then later dates: the numbers follow the API.
    let before = await gen(page);
    await page.click('[data-testid=filter-clinics] summary');
    for (const c of ['demo-north', 'demo-south']) {
      const g = await gen(page);
      await page.uncheck(`[data-testid=filter-clinic][data-clinic="${c}"]`);
      await waitReady(page, 'overview', g);
      await page.click('[data-testid=filter-clinics] summary').catch(() => {});
    }
    let q = await page.getAttribute('[data-testid=kpi-value-contacts]', 'data-q');
    check(new URLSearchParams(q).get('clinic') === 'demo-center', `the clinic filter asks ${q}`);
    await verifyFigures(page, READ_KEY, 'overview, demo-center');
    const centre = await page.getAttribute('[data-testid=kpi-value-contacts]', 'data-value');
    check(centre === '6', `overview contacts of demo-center: ${centre}, the scenario has 6`);
    before = await gen(page);
    const from4 = addDays(TO, -4);
    await page.$eval('[data-testid=filter-from]', (el, v) => {
      el.value = v;
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, from4);
    await waitReady(page, 'overview', before);
    q = new URLSearchParams(await page.getAttribute('[data-testid=kpi-value-contacts]', 'data-q'));
    check(q.get('from') === from4 && q.get('to') === TO && q.get('clinic') === 'demo-center', `dates filter asks ${q}`);
    await verifyFigures(page, READ_KEY, 'overview, demo-center, later dates');
    await shot(page, 'en-overview-filtered');
    log('filters: clinic and dates change the numbers as the API does');

    // 6. Drill-down: the calls page's missed calls open those records.
    await goto(page, 'calls');
    const missed = Number(await page.getAttribute('[data-testid=kpi-value-missed]', 'data-value'));
    before = await gen(page);
    await page.click('[data-testid=kpi-value-missed]');
    await waitReady(page, 'records', before);
    check(await page.getAttribute('[data-testid=records-table]', 'data-kind') === 'calls', 'missed calls do not open calls');
    const shownIds = await page.$$eval('[data-testid=record]', (els) => els.map((e) => e.dataset.id));
    const recs = await api(`/v1/records/calls?from=${FROM}&to=${TO}&limit=1000`, READ_KEY);
    const wantIds = recs.body.records.filter((r) => r.status === 'ended' && r.direction === 'inbound' && r.missed).map((r) => r.call_id);
    check(shownIds.length === missed && JSON.stringify(shownIds) === JSON.stringify(wantIds),
      `missed calls drill-down: page ${JSON.stringify(shownIds)}, figure ${missed}, API ${JSON.stringify(wantIds)}`);
    await shot(page, 'en-records-missed');
    // the load page's heatmap of contacts: a cell opens that weekday and
    // hour's contacts, calls and leads both (a leads' cell when there is one)
    await goto(page, 'load');
    const loadCells = (await api(`/v1/reports/load?from=${FROM}&to=${TO}&group_by=weekday,hour`, READ_KEY))
      .body.rows.filter((r) => r.weekday !== null && r.hour !== null && r.contacts > 0);
    const loadCell = loadCells.find((r) => r.leads > 0) || loadCells[0];
    check(loadCell, `the scenario has no contacts by weekday and hour: ${JSON.stringify(loadCells)}`);
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid=chart]');
      return el && window.echarts && window.echarts.getInstanceByDom(el);
    }, null, { timeout: WAIT_MS });
    const at = await page.evaluate(([hour, weekday]) => {
      const el = document.querySelector('[data-testid=chart]'); // the contacts' heatmap
      el.scrollIntoView({ block: 'center' });
      const [x, y] = window.echarts.getInstanceByDom(el).convertToPixel({ seriesIndex: 0 }, [hour, weekday - 1]);
      const box = el.getBoundingClientRect();
      return [box.left + x, box.top + y];
    }, [loadCell.hour, loadCell.weekday]);
    before = await gen(page);
    await page.mouse.click(at[0], at[1]);
    await waitReady(page, 'records', before);
    const cellKind = await page.getAttribute('[data-testid=records-table]', 'data-kind');
    const cellRows = await page.$$eval('[data-testid=record]', (els) => els.length);
    check(cellKind === 'contacts' && cellRows === loadCell.contacts,
      `the load heatmap's cell ${loadCell.weekday}/${loadCell.hour}: ${cellRows} ${cellKind} records for ${loadCell.contacts} contacts (${loadCell.leads} leads)`);
    // the leads page's lost column is the leads' (not the calls' lost)
    await goto(page, 'leads');
    const heads = await page.$$eval('th', (els) => els.map((e) => e.textContent));
    check(heads.includes('Lost leads') && !heads.includes('Lost calls'), `the leads' table headers: ${JSON.stringify(heads)}`);
    // a table row: demo-center's inbound calls
    await goto(page, 'calls');
    const cell = page.locator('[data-report=calls][data-field=inbound][data-row="{\\"clinic\\":\\"demo-center\\"}"]');
    const inbound = Number(await cell.getAttribute('data-value'));
    before = await gen(page);
    await cell.click();
    await waitReady(page, 'records', before);
    const rows = await page.$$eval('[data-testid=record]', (els) => els.length);
    check(rows === inbound, `demo-center's inbound calls: ${rows} records for the figure ${inbound}`);
    check(await page.textContent('[data-testid=records-chip-clinic]').then((t) => t.includes('Demo Dental Center')), 'the records do not name the clinic');
    // the way back, and the menu, keep the calls page's own filters (all
    // clinics), not the row's clinic
    const backHref = await page.getAttribute('[data-testid=records-back]', 'href');
    const navHref = await page.getAttribute('[data-testid=nav-calls]', 'href');
    check(!backHref.includes('clinic=') && !navHref.includes('clinic=') && backHref.includes(`from=${FROM}`),
      `the way back takes the row's clinic: ${backHref}, ${navHref}`);
    before = await gen(page);
    await page.click('[data-testid=records-back]');
    await waitReady(page, 'calls', before);
    q = new URLSearchParams(await page.getAttribute('[data-testid=kpi-value-missed]', 'data-q'));
    check(!q.get('clinic') && q.get('from') === FROM && q.get('to') === TO, `back from a row's records asks ${q}`);
    // the overview's bookings: the appointments booked in the range, by
    // their booking time (not their visit's)
    await goto(page, 'overview');
    const bookings = Number(await page.getAttribute('[data-testid=kpi-value-bookings]', 'data-value'));
    before = await gen(page);
    await page.click('[data-testid=kpi-value-bookings]');
    await waitReady(page, 'records', before);
    check(await page.getAttribute('[data-testid=records-table]', 'data-kind') === 'bookings', 'bookings do not open bookings');
    const bookedIds = await page.$$eval('[data-testid=record]', (els) => els.map((e) => e.dataset.id));
    const booked = await api(`/v1/records/bookings?from=${FROM}&to=${TO}&limit=1000`, READ_KEY);
    check(bookings > 0 && bookedIds.length === bookings && booked.body.records.length === bookings,
      `bookings drill-down: page ${bookedIds.length}, figure ${bookings}, API ${booked.body.records.length}`);
    // the sources page's revenue under last non-direct attribution: the
    // visits that count under a source then, whose amounts add up to it
    await goto(page, 'sources', { attribution: 'last_non_direct' });
    const revenue = Number(await page.getAttribute('[data-testid=kpi-value-revenue]', 'data-value'));
    before = await gen(page);
    await page.click('[data-testid=kpi-value-revenue]');
    await waitReady(page, 'records', before);
    check(await page.getAttribute('[data-testid=records-table]', 'data-kind') === 'attributed_visits', 'revenue does not open the visits by source');
    check((await page.textContent('[data-testid=records-chip-attribution]')).includes('Last non-direct'), 'the revenue\'s records do not name the attribution');
    const paidIds = await page.$$eval('[data-testid=record]', (els) => els.map((e) => e.dataset.id));
    const paid = await api(`/v1/records/attributed_visits?from=${FROM}&to=${TO}&only=arrived&attribution=last_non_direct&limit=1000`, READ_KEY);
    const paidSum = paid.body.records.reduce((s, r) => s + Number(r.amount_paid), 0);
    check(revenue > 0 && sameNumber(paidSum, revenue) && JSON.stringify(paidIds) === JSON.stringify(paid.body.records.map((r) => r.appointment_id)),
      `revenue drill-down: the figure ${revenue}, the records' amounts ${paidSum}, page ${paidIds.length} records, API ${paid.body.records.length}`);
    // the overview's new people: the people whose first contact was in the
    // range and who were not patients then, one record each
    await goto(page, 'overview');
    const newPeople = Number(await page.getAttribute('[data-testid=kpi-value-new_persons]', 'data-value'));
    before = await gen(page);
    await page.click('[data-testid=kpi-value-new_persons]');
    await waitReady(page, 'records', before);
    check(await page.getAttribute('[data-testid=records-table]', 'data-kind') === 'persons', 'new people do not open people');
    check(await page.textContent('[data-testid=records-only]').then((t) => t.includes('New people')), 'the new people\'s records do not say so');
    const people = await page.$$eval('[data-testid=record]', (els) => els.length);
    check(newPeople > 0 && people === Math.min(newPeople, 100),
      `new people drill-down: ${people} records for the figure ${newPeople}`);
    log(`drill-down: ${missed} missed calls, ${inbound} inbound calls of demo-center, ${bookings} bookings, ${newPeople} new people, revenue ${revenue} under last non-direct`);
    // every records table's columns are named in words
    for (const kind of ['calls', 'leads', 'reminders', 'tasks', 'appointments', 'spend', 'nps', 'members', 'contacts', 'persons']) {
      await goto(page, 'records', { kind });
      const heads = await page.$$eval('[data-testid=records-table] th', (els) => els.map((e) => e.textContent));
      check(heads.length > 1 && heads.every((x) => x && !x.startsWith('r.')), `${kind} records' columns: ${JSON.stringify(heads)}`);
    }

    // 7. The worklist picks up a new missed call by itself.
    await goto(page, 'worklist', { every: '2' });
    await verifyWorklist(page, READ_KEY, 'worklist');
    const open = await page.$$eval('[data-testid=worklist-row]', (els) => els.length);
    console.log('CONTROL worklist-ready');
    const line = await nextControlLine(45000);
    const m = /^produced (\S+)$/.exec(line);
    check(m, `control channel: ${line}`);
    try {
      await page.waitForSelector(`[data-testid=worklist-row][data-task-id="${m[1]}"]`, { timeout: 20000 });
    } catch (e) {
      throw new Failure(`the worklist did not show the new callback ${m[1]} by itself`);
    }
    const gotRows = await page.$$eval('[data-testid=worklist-row]', (els) => els.length);
    check(gotRows === open + 1, `worklist: ${gotRows} rows after the new call, ${open} before`);
    check(await page.getAttribute(`[data-testid=worklist-row][data-task-id="${m[1]}"]`, 'data-kind') === 'callback', 'the new task is not a callback');
    await verifyWorklist(page, READ_KEY, 'worklist after the new call');
    apiCache.clear(); // the new call changed the calls' and the funnel's figures
    log('worklist: the new missed call\'s callback appeared by itself');
    // a refresh that fails says so (the list shown is getting old), and the
    // next one that works takes the notice away
    check(await page.isHidden('[data-testid=worklist-stale]'), 'worklist: a stale notice while refreshes work');
    const errorsBefore = errors.length;
    await page.route('**/v1/worklist*', (route) => route.fulfill({ status: 503, contentType: 'application/json',
      body: '{"error":{"code":"unavailable","message":"retry later"}}' }));
    await page.waitForSelector('[data-testid=worklist-stale]:not([hidden])', { timeout: 20000 })
      .catch(() => { throw new Failure('worklist: failed refreshes leave no notice'); });
    await page.unroute('**/v1/worklist*');
    await page.waitForSelector('[data-testid=worklist-stale]', { state: 'hidden', timeout: 20000 })
      .catch(() => { throw new Failure('worklist: the stale notice stays after a refresh worked'); });
    // the browser's own notes of the 503s this step answered are expected
    const more = errors.splice(errorsBefore);
    errors.push(...more.filter((e) => !/status of 503/.test(e)));
    log('worklist: a failed refresh is shown, and cleared by the next');

    // 8. Russian: the switch, remembered; every page again with its screenshot.
    before = await gen(page);
    await page.click('[data-testid=lang-switch]');
    await waitReady(page, 'worklist', before);
    check(await page.evaluate(() => localStorage.getItem('cf.lang')) === 'ru', 'the language is not remembered');
    await page.reload();
    await waitReady(page, 'worklist');
    check(await page.getAttribute('[data-testid=page]', 'data-lang') === 'ru', 'Russian is not kept after a reload');
    for (const name of PAGES) {
      await goto(page, name);
      if (name !== 'worklist') await verifyFigures(page, READ_KEY, `${name} (ru)`);
      await shot(page, `ru-${name}`);
    }
    log('every page in Russian');
    // a report the server cannot give now: said in Russian, with a retry
    const errorsBeforeRu = errors.length;
    await page.route('**/v1/reports/**', (route) => route.fulfill({ status: 503, contentType: 'application/json',
      headers: { 'Retry-After': '1' }, body: '{"error":{"code":"unavailable","message":"the report cannot be read now; retry later"}}' }));
    await goto(page, 'calls', { from: addDays(FROM, -1) }).catch(() => {});
    await page.waitForSelector('[data-testid=page-error]', { timeout: WAIT_MS });
    const errText = await page.textContent('[data-testid=page-error]');
    check(errText.includes('данные сейчас недоступны') && !/retry later/.test(errText), `the Russian error page: "${errText}"`);
    await page.unroute('**/v1/reports/**');
    errors.push(...errors.splice(errorsBeforeRu).filter((e) => !/status of 503/.test(e)));
    // shares: never 100% short of all, nor 0% above none
    const shares = await page.evaluate(async () => {
      const fmt = await import('/assets/fmt.js');
      return [0.995, 0.9996, 1, 0.0004, 0, 0.5].map((v) => fmt.value('missed_share', v));
    });
    check(JSON.stringify(shares.map((x) => x.replace(/\s/g, ' '))) === JSON.stringify(['99,5%', '99,9%', '100%', '<0,1%', '0%', '50%']),
      `shares as shown: ${JSON.stringify(shares)}`);
    log('a report the server cannot give now is said in Russian; shares keep their last miss');
    // a record's values in Russian: the calls' direction, not the API's word
    await goto(page, 'records', { kind: 'calls' });
    const dirs = await page.$$eval('[data-testid=record] td[data-v]', (els) => els.map((e) => [e.dataset.v, e.textContent]));
    check(dirs.some(([v, text]) => v === 'inbound' && text === 'входящий') && !dirs.some(([v, text]) => v === text),
      `the calls' records in Russian: ${JSON.stringify(dirs.slice(0, 6))}`);

    // 9. Sign-out: the form again, no data, the cookie gone.
    await page.click('[data-testid=signout]');
    await page.waitForSelector('[data-testid=signin-form]', { timeout: WAIT_MS });
    await noDataShown(page, 'after sign-out');
    check(!(await ctx.cookies()).some((c) => c.name === 'cf_session' && c.value), 'the session cookie survived sign-out');
    const after = await page.evaluate(async () => (await fetch('/v1/session', { credentials: 'same-origin' })).status);
    check(after === 401, `GET /v1/session after sign-out: ${after}`);
    await page.goto(`${BASE}/#/overview?from=${FROM}&to=${TO}`);
    await page.reload();
    await page.waitForSelector('[data-testid=signin-form]', { timeout: WAIT_MS });
    await noDataShown(page, 'a page address after sign-out');
    await ctx.close();
    log('signed out');

    // 10. A key limited to one clinic: only its clinic, its numbers.
    const lctx = await newContext(browser, 'ru-RU');
    const lpage = await lctx.newPage();
    current = lpage;
    attach(lpage, errors);
    await lpage.goto(`${BASE}/#/overview?from=${FROM}&to=${TO}`);
    check(await lpage.evaluate(() => document.documentElement.lang) === 'ru', 'a ru-RU browser does not start in Russian');
    await signIn(lpage, LIMITED_KEY);
    await waitReady(lpage, 'overview');
    const boxes = await lpage.$$eval('[data-testid=filter-clinic]', (els) => els.map((e) => e.dataset.clinic));
    check(JSON.stringify(boxes) === JSON.stringify(LIMITED_CLINICS), `a limited key's clinics: ${boxes}`);
    await verifyFigures(lpage, LIMITED_KEY, 'overview, limited key');
    const limitedTotals = (await api(`/v1/reports/funnel?from=${FROM}&to=${TO}`, LIMITED_KEY)).body.totals;
    const clinicTotals = (await api(`/v1/reports/funnel?from=${FROM}&to=${TO}&clinic=${LIMITED_CLINICS.join(',')}`, READ_KEY)).body.totals;
    check(JSON.stringify(limitedTotals) === JSON.stringify(clinicTotals), 'a limited key\'s funnel is not its clinics\'');
    check(await lpage.getAttribute('[data-testid=kpi-value-contacts]', 'data-value') === String(clinicTotals.contacts), 'limited overview contacts');
    // its spend holds a share of the network-wide spend, which no records
    // list: the figure is no link
    const spend = Number(await lpage.getAttribute('[data-testid=kpi-value-spend]', 'data-value'));
    const spendHref = await lpage.getAttribute('[data-testid=kpi-value-spend]', 'href');
    check(spend > 0 && spendHref === null, `a limited key's spend ${spend} links to records: ${spendHref}`);
    const other = await lpage.evaluate(async (q) => (await fetch(`/v1/reports/funnel?${q}`, { credentials: 'same-origin' })).status,
      `from=${FROM}&to=${TO}&clinic=demo-north`);
    check(other === 403, `a limited session asking for another clinic: ${other}`);
    for (const name of ['calls', 'worklist']) {
      await goto(lpage, name);
      if (name === 'worklist') await verifyWorklist(lpage, LIMITED_KEY, 'worklist, limited key');
      else await verifyFigures(lpage, LIMITED_KEY, `${name}, limited key`);
    }
    const foreign = await lpage.$$eval('[data-testid=worklist-row]', (els) => els.length);
    check(foreign > 0, 'the limited worklist is empty');
    await shot(lpage, 'ru-limited-worklist');
    await lctx.close();
    log('a key limited to one clinic sees only it');

    // 11. A phone: 390 px wide, nothing wider than the screen.
    const pctx = await newContext(browser, 'en-US', { width: 390, height: 844 }, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const ppage = await pctx.newPage();
    current = ppage;
    attach(ppage, errors);
    await ppage.goto(`${BASE}/`);
    await signIn(ppage, READ_KEY);
    await waitReady(ppage, 'overview');
    for (const name of PAGES) {
      await goto(ppage, name);
      const width = await ppage.evaluate(() => document.documentElement.scrollWidth);
      check(width <= 390, `${name} on a phone is ${width} px wide`);
      await shot(ppage, `phone-en-${name}`);
    }
    await pctx.close();
    log('a 390 px phone: no page overflows');

    check(!errors.length, `browser errors:\n  ${errors.slice(0, 10).join('\n  ')}`);
    log('PASS');
  } catch (e) {
    if (current) await current.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {});
    if (errors.length) console.log(`browser errors:\n  ${errors.slice(0, 10).join('\n  ')}`);
    console.log(`FAIL: ${e instanceof Failure ? e.message : e.stack}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
  process.exit(process.exitCode || 0);
}

// The worklist's rows are the API's open tasks, in its order.
async function verifyWorklist(page, key, what) {
  const answer = await api('/v1/worklist?limit=1000', key, { cache: false });
  check(answer.status === 200, `${what}: API ${answer.status}`);
  const want = answer.body.tasks.map((x) => x.task_id);
  // the page refreshes on its own: compare with what it shows once it shows as many
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=worklist-row]').length === n, want.length, { timeout: WAIT_MS })
    .catch(() => {});
  const got = await page.$$eval('[data-testid=worklist-row]', (els) => els.map((e) => e.dataset.taskId));
  check(JSON.stringify(got) === JSON.stringify(want), `${what}: rows ${JSON.stringify(got)}, API ${JSON.stringify(want)}`);
  const overdue = await page.$$eval('[data-testid=worklist-row]', (els) => els.map((e) => e.dataset.sla));
  const firstDue = overdue.indexOf('due');
  check(firstDue === -1 || overdue.slice(firstDue).every((s) => s === 'due'), `${what}: overdue tasks after due ones`);
  // the counters are the API's counts of every open task; the table its
  // first page, with a note when there are more
  const totals = answer.body.totals;
  for (const [testid, k] of [['open', 'open'], ['overdue', 'overdue'], ['callbacks', 'callback'],
    ['responds', 'respond'], ['reminders', 'reminder']]) {
    const v = await page.getAttribute(`[data-testid=worklist-${testid}-value]`, 'data-value');
    check(v === String(totals[k]), `${what}: ${testid} ${v}, API ${totals[k]}`);
  }
  check(totals.open === want.length, `${what}: ${totals.open} open tasks, ${want.length} listed`);
  check(await page.isHidden('[data-testid=worklist-more]'), `${what}: "more tasks" shown for a whole list`);
  // what each task is about: the lead of a lead's task (a form's callback
  // too), the missed calls of a call's callback
  const about = await page.$$eval('[data-testid=worklist-about]', (els) => els.map((e) => e.textContent));
  answer.body.tasks.forEach((task, i) => {
    const missed = task.kind === 'callback' && !task.lead_id;
    const ok = missed ? about[i].includes(String(task.missed_calls ?? 1))
      : about[i] === (task.lead_id || task.appointment_id || task.source_call_id || '').slice(0, 8);
    check(ok, `${what}: task ${task.task_id} (${task.kind}${task.lead_id ? ', a lead\'s' : ''}) shows "${about[i]}"`);
  });
  check(answer.body.tasks.some((task) => task.kind === 'callback' && task.lead_id),
    `${what}: no lead's callback task to check`);
}

function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

main();
