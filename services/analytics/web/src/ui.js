// Building blocks of the pages: elements, KPI cards, tables, charts and the
// links from a number to the records behind it.
//
// Every figure shown from a report carries where it came from, so a test
// (or a curious owner with the inspector) can ask the API the same thing:
//   data-report  the report (funnel, calls, ...)
//   data-q       the query string it was asked with
//   data-row     "totals", or the row's group values as a JSON object
//                ({"clinic": "demo-center"}; for cohorts its cohort and
//                months_since)
//   data-field   the field
//   data-value   the value as the API gave it (JSON: a number or null)
import { t } from './i18n.js';
import * as fmt from './fmt.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// The source of a figure, for its data-* attributes.
export function src(report, q, row) {
  return { report, q, row: row === 'totals' ? 'totals' : JSON.stringify(row) };
}

// A row's group values as an object (its data-row).
export function rowKey(row, groups) {
  const key = {};
  for (const g of groups) key[g] = row[g] === undefined ? null : row[g];
  return key;
}

// A figure: its formatted text, with its data-* attributes; a link to the
// records behind it when drill (a records hash) is given.
export function figure(source, field, v, drill, testid) {
  const attrs = {
    class: 'num',
    'data-report': source.report,
    'data-q': source.q,
    'data-row': source.row,
    'data-field': field,
    'data-value': JSON.stringify(v === undefined ? null : v),
    'data-testid': testid || null,
    text: fmt.value(field, v),
  };
  if (drill && v !== null && v !== undefined && v !== 0) {
    attrs.href = drill;
    attrs.class = 'num drill';
    attrs.title = t('records.link');
    return h('a', attrs);
  }
  return h('span', attrs);
}

// A KPI card: label, figure, and the change against the previous period.
export function kpi(source, field, cur, prev, opts = {}) {
  const v = cur ? cur[field] : null;
  // a long figure (a month's revenue) gets a smaller type, not an ellipsis:
  // every digit stays on the card
  const len = fmt.value(field, v).length;
  const size = len > 12 ? ' kpi-value-longest' : len > 9 ? ' kpi-value-longer' : len > 7 ? ' kpi-value-long' : '';
  const card = h('div', { class: `kpi${opts.accent ? ' kpi-accent' : ''}`, 'data-testid': `kpi-${field}` },
    h('div', { class: 'kpi-label', text: opts.label || t(`f.${field}`) }),
    h('div', { class: `kpi-value${size}` }, figure(source, field, v, opts.drill, `kpi-value-${field}`)));
  if (prev !== undefined) {
    const ch = fmt.change(field, v, prev ? prev[field] : null);
    const good = ch.dir === 'flat' || ch.dir === 'none' ? ''
      : (ch.dir === 'up') !== fmt.LOWER_IS_BETTER.has(field) ? ' good' : ' bad';
    const arrow = ch.dir === 'up' ? '▲ ' : ch.dir === 'down' ? '▼ ' : '';
    card.append(h('div', {
      class: `kpi-change ${ch.dir}${good}`,
      'data-testid': `kpi-change-${field}`,
      'data-prev': JSON.stringify(prev ? (prev[field] ?? null) : null),
      title: opts.prevLabel || '',
    }, ch.text ? `${arrow}${ch.text}` : '—'));
  }
  if (opts.hint) card.append(h('div', { class: 'kpi-hint', text: opts.hint }));
  return card;
}

export function kpiGrid(...cards) {
  return h('div', { class: 'kpis' }, ...cards);
}

export function card(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', { class: 'card-title', text: title }) : null, ...body);
}

export function grid(cls, ...children) {
  return h('div', { class: `grid ${cls || ''}` }, ...children);
}

export function note(text) {
  return h('p', { class: 'note', text });
}

// A group value as the owner reads it (a clinic's name, a weekday).
export function groupLabel(group, v, ctx) {
  if (v === null || v === undefined) return t('none');
  if (group === 'clinic') return (ctx && ctx.clinicName(v)) || v;
  if (group === 'weekday') return t(`weekday.${v}`);
  if (group === 'hour') return `${String(v).padStart(2, '0')}:00`;
  if (group === 'day') return fmt.shortDate(v);
  return String(v);
}

// What a failed load says, in the page's language: the server busy or
// failing, or no connection, in words of ours; a refusal (a 4xx) with the
// server's own message, which names the parameter.
export function errorText(e) {
  if (e && e.status === 503) return t('error.unavailable');
  if (e && e.status >= 500) return t('error.server');
  if (!e || !e.status) return t('error.network');
  return t('error', { msg: e.message });
}

// A table of a report's rows (and its totals as the last line).
// columns: fields; opts.drill(row, field) -> a records hash or null;
// opts.labels: {field: i18n key} where a field's name means another thing
// in this report (the leads' lost).
export function reportTable(rep, source, groups, columns, opts = {}) {
  const head = h('tr', null,
    ...groups.map((g) => h('th', { class: 'group', text: t(`g.${g}`) })),
    ...columns.map((f) => h('th', { class: 'n', text: t((opts.labels && opts.labels[f]) || `f.${f}`) })));
  const rows = rep.rows.map((r) => {
    const rowSrc = src(source.report, source.q, rowKey(r, groups));
    return h('tr', { 'data-testid': 'row', 'data-key': rowSrc.row },
      ...groups.map((g) => h('td', { class: `group${r[g] === null ? ' muted' : ''}`, text: groupLabel(g, r[g], opts.ctx) })),
      ...columns.map((f) => h('td', { class: 'n' }, figure(rowSrc, f, r[f], opts.drill ? opts.drill(r, f) : null))));
  });
  const body = h('tbody', null, ...rows);
  const table = h('table', { class: 'table' }, h('thead', null, head), body);
  if (opts.totals !== false && groups.length) {
    const totSrc = src(source.report, source.q, 'totals');
    table.append(h('tfoot', null, h('tr', null,
      h('td', { class: 'group', colspan: groups.length, text: t('total') }),
      ...columns.map((f) => h('td', { class: 'n' }, figure(totSrc, f, rep.totals[f], opts.drill ? opts.drill(null, f) : null))))));
  }
  if (!rep.rows.length) return h('div', { class: 'empty', text: t('empty') });
  return h('div', { class: 'table-wrap' }, table);
}

// --- charts (Apache ECharts, the global echarts of /assets/echarts.min.js) ---

const charts = new Set();
export const PALETTE = ['#2563eb', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899', '#64748b'];

export function chart(option, cls = '') {
  const el = h('div', { class: `chart ${cls}`, 'data-testid': 'chart' });
  const init = () => {
    if (!window.echarts || !el.isConnected) return;
    const c = window.echarts.init(el, null, { renderer: 'canvas' });
    c.setOption({
      color: PALETTE,
      textStyle: { fontFamily: 'inherit' },
      // no motion for those who asked for none (and for screenshots)
      animation: !window.matchMedia('(prefers-reduced-motion: reduce)').matches,
      animationDuration: 300,
      ...option,
    });
    charts.add(c);
  };
  // charts need their element laid out: after it is attached
  requestAnimationFrame(init);
  return el;
}

export function disposeCharts() {
  for (const c of charts) c.dispose();
  charts.clear();
}

export function resizeCharts() {
  for (const c of charts) c.resize();
}

export function baseGrid() {
  return { left: 8, right: 16, top: 36, bottom: 8, containLabel: true };
}

export function legend() {
  return { top: 0, left: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 8, textStyle: { color: '#475569' } };
}

export function axisStyle() {
  return {
    axisLine: { lineStyle: { color: '#cbd5e1' } },
    // a value axis's numbers as the page writes them (12 тыс., 12K)
    axisLabel: { color: '#64748b', formatter: (v) => (typeof v === 'number' ? fmt.compact(v) : v) },
    splitLine: { lineStyle: { color: '#eef2f7' } },
  };
}
