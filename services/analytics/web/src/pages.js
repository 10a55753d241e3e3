// The pages: each asks the reports it shows (with the filters) and builds
// its KPI cards, charts and tables. A figure links to the records behind
// it where GET /v1/records/{kind} can name exactly those records (its
// kinds and parameters: proto/README.md, "The records behind a row").
import * as api from './api.js';
import { t } from './i18n.js';
import * as fmt from './fmt.js';
import {
  h, kpi, kpiGrid, card, grid, note, src, rowKey, figure, reportTable, chart, groupLabel,
  baseGrid, legend, axisStyle, PALETTE,
} from './ui.js';
import { recordsPage, takesSource } from './records.js';
import { worklistPage } from './worklist.js';

export const NAV = ['overview', 'sources', 'calls', 'leads', 'operators', 'doctors', 'reminders',
  'recall', 'load', 'cohorts', 'worklist'];

// --- asking ----------------------------------------------------------------------

// The report parameters of the filters (source only where the report takes it).
function base(ctx, takesSource, period) {
  const f = ctx.filters;
  const p = { from: (period || f).from, to: (period || f).to };
  if (f.clinics.length) p.clinic = f.clinics.join(',');
  if (takesSource && f.source) p.source = f.source;
  return p;
}

// A report: {rep, q, s: its source for totals}.
async function ask(name, params) {
  const q = api.query(params);
  const rep = await api.report(name, q);
  return { rep, q, name, s: src(name, q, 'totals') };
}

// The report for the filters and for the period just before.
async function withPrevious(ctx, name, takesSource, extra = {}) {
  const prevPeriod = api.previousPeriod(ctx.filters.from, ctx.filters.to);
  const [cur, prev] = await Promise.all([
    ask(name, { ...base(ctx, takesSource), ...extra }),
    ask(name, { ...base(ctx, takesSource, prevPeriod), ...extra }),
  ]);
  cur.prev = prev.rep.totals;
  cur.prevLabel = t('vs.prev', { from: fmt.shortDate(prevPeriod.from), to: fmt.shortDate(prevPeriod.to) });
  return cur;
}

function kpis(r, fields, drill) {
  return h('div', { class: 'kpi-block' }, caption(r), kpiGrid(...fields.map((f, i) => kpi(r.s, f, r.rep.totals, r.prev, {
    drill: drill ? drill(null, f) : null,
    prevLabel: r.prevLabel,
    accent: i === 0,
  }))));
}

function caption(r) {
  return h('p', { class: 'caption', 'data-testid': 'prev-period', text: r.prevLabel });
}

// --- drill-down ---------------------------------------------------------------------

// The hash of the records of kind behind a figure: the filters, the row's
// group values (extra) and a client-side selection (only) of what the
// figure counts. null when the records API cannot name those records.
function drillTo(ctx, kind, extra, only) {
  const f = ctx.filters;
  const source = ctx.takesSource ? f.source : '';
  if (source && !takesSource(kind)) return null; // not by source
  // spend asked by clinic is a share of network-wide rows, not rows; so is
  // every figure of a key limited to clinics, asked by its clinics always
  const byClinic = f.clinics.length || (ctx.session && ctx.session.limited);
  if (kind === 'spend' && (byClinic || (extra && 'clinic' in extra))) return null;
  const p = { kind, from: f.from, to: f.to };
  if (f.clinics.length) p.clinic = f.clinics.join(',');
  if (source) p.source = source;
  for (const [k, v] of Object.entries(extra || {})) {
    if (k === 'clinic') {
      if (v === null) return null; // a row without a clinic: records always have one to filter by
      p.clinic = v;
    } else {
      p[k] = v === null ? '' : String(v);
    }
  }
  if (only) p.only = only;
  if (f.attribution && kind.startsWith('attributed_')) p.attribution = f.attribution;
  p.back = ctx.page;
  // the way back keeps this page's filters, not the row's
  Object.assign(p, api.backParams({
    from: f.from, to: f.to, clinic: f.clinics.join(','), source: ctx.takesSource ? f.source : '',
    attribution: f.attribution,
  }));
  return ctx.hashOf('records', p);
}

function drillMap(ctx, groups, map) {
  return (row, field) => {
    const target = map[field];
    if (!target) return null;
    const extra = row ? rowKey(row, groups) : {};
    return drillTo(ctx, target[0], extra, target[1]);
  };
}

// --- charts ------------------------------------------------------------------------------

function eachDay(from, to) {
  const out = [];
  for (let d = from; api.daysBetween(d, to) >= 0; d = api.addDays(d, 1)) out.push(d);
  return out;
}

function byDayChart(rows, from, to, series, opts = {}) {
  const days = eachDay(from, to);
  const index = new Map(rows.map((r) => [r.day, r]));
  return chart({
    tooltip: { trigger: 'axis' },
    legend: legend(),
    grid: baseGrid(),
    xAxis: { type: 'category', data: days.map(fmt.shortDate), ...axisStyle(), boundaryGap: opts.bars !== false },
    yAxis: { type: 'value', minInterval: 1, ...axisStyle() },
    series: series.map((f) => ({
      name: t(`f.${f}`),
      type: opts.bars ? 'bar' : 'line',
      stack: opts.stack ? 'a' : undefined,
      showSymbol: days.length < 40,
      data: days.map((d) => (index.get(d) ? index.get(d)[f] ?? 0 : 0)),
    })),
  });
}

function barsByGroup(rows, group, fields, ctx, opts = {}) {
  const labels = rows.map((r) => groupLabel(group, r[group], ctx));
  return chart({
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: legend(),
    grid: baseGrid(),
    xAxis: { type: 'category', data: labels, ...axisStyle(), axisLabel: { color: '#64748b', interval: 0, hideOverlap: true } },
    yAxis: opts.axes ? opts.axes.map((a) => ({ type: 'value', ...axisStyle(), ...a })) : { type: 'value', ...axisStyle() },
    series: fields.map((f, i) => ({
      name: t(`f.${f}`),
      type: 'bar',
      barMaxWidth: 36,
      yAxisIndex: opts.axisOf ? opts.axisOf(f) : 0,
      data: rows.map((r) => (r[f] === null ? null : (opts.scale && opts.scale(f) ? r[f] * opts.scale(f) : r[f]))),
      // the tooltip says the value as the tables do: a share scaled to
      // percent back as a share, money and durations as such
      tooltip: {
        valueFormatter: (v) => (v === null || v === undefined ? '—'
          : fmt.value(f, opts.scale && opts.scale(f) ? v / opts.scale(f) : v)),
      },
      itemStyle: { borderRadius: [4, 4, 0, 0], color: opts.colors ? opts.colors[i] : undefined },
    })),
  });
}

// --- overview -------------------------------------------------------------------------

const FUNNEL_STEPS = ['contacts', 'unique_contacts', 'bookings', 'arrivals', 'repeat_visits'];

async function overview(ctx) {
  const f = ctx.filters;
  const [funnel, money, days] = await Promise.all([
    withPrevious(ctx, 'funnel', false),
    withPrevious(ctx, 'sources', false),
    ask('funnel', { ...base(ctx, false), group_by: 'day' }),
  ]);
  const drill = drillMap(ctx, [], {
    contacts: ['contacts', null],
    unique_contacts: ['contacts', 'unique'],
    new_persons: ['persons', 'new'],
    new_persons_booked: ['persons', 'new_booked'],
    bookings: ['bookings', null],
    arrivals: ['appointments', 'arrived'],
    no_shows: ['appointments', 'no_show'],
    cancellations: ['appointments', 'cancelled'],
    plans_proposed: ['appointments', 'plan'],
    plans_accepted: ['appointments', 'plan_accepted'],
    repeat_visits: ['appointments', 'repeat'],
    // a share links to what it is a share of
    show_rate: ['appointments', 'arrived_or_no_show'],
    plan_acceptance: ['appointments', 'plan'],
    first_contact_conversion_new: ['persons', 'new'],
  });
  // the money: the visits that paid (whatever their source), the spend
  // rows, and what a cost or ROMI is taken over
  const moneyDrill = drillMap(ctx, [], {
    revenue: ['attributed_visits', 'arrived'],
    romi: ['attributed_visits', 'arrived'],
    spend: ['spend', null],
    cost_per_arrived_new_patient: ['attributed_visits', 'arrived_new'],
  });
  const tot = funnel.rep.totals;
  const steps = FUNNEL_STEPS.map((s, i) => {
    const v = tot[s];
    const before = i ? tot[FUNNEL_STEPS[i - 1]] : null;
    const conv = i && before ? v / before : null;
    return { s, v, conv };
  });
  const top = Math.max(1, ...steps.map((x) => x.v || 0));
  const funnelChart = h('div', { class: 'funnel', 'data-testid': 'funnel' },
    ...steps.map(({ s, v, conv }) => h('div', { class: 'funnel-step' },
      h('div', { class: 'funnel-label', text: t(`f.${s}`) }),
      h('div', { class: 'funnel-bar-wrap' },
        h('div', { class: 'funnel-bar', style: `width:${Math.max(2, (100 * (v || 0)) / top)}%` })),
      h('div', { class: 'funnel-value' }, figure(funnel.s, s, v, drill(null, s), `funnel-${s}`)),
      h('div', { class: 'funnel-conv', text: conv === null ? '' : `${fmt.number(conv * 100, 0)}%` }))));

  return [
    kpis(funnel, ['contacts', 'unique_contacts', 'new_persons', 'bookings', 'arrivals', 'show_rate',
      'repeat_visits', 'plan_acceptance'], drill),
    grid('two',
      card(t('overview.funnel'), funnelChart, h('p', { class: 'funnel-note' },
        `${t('f.new_persons_booked')}: `,
        figure(funnel.s, 'new_persons_booked', tot.new_persons_booked, drill(null, 'new_persons_booked')), ' / ',
        figure(funnel.s, 'new_persons', tot.new_persons, drill(null, 'new_persons')), ' · ',
        figure(funnel.s, 'first_contact_conversion_new', tot.first_contact_conversion_new, drill(null, 'first_contact_conversion_new')))),
      card(t('overview.money'), caption(money), kpiGrid(
        ...['revenue', 'spend', 'romi', 'cost_per_arrived_new_patient'].map((x, i) => kpi(money.s, x, money.rep.totals, money.prev,
          { prevLabel: money.prevLabel, accent: i === 0, drill: moneyDrill(null, x) }))))),
    card(t('overview.by_day'), byDayChart(days.rep.rows, f.from, f.to, ['contacts', 'bookings', 'arrivals'])),
  ];
}

// --- sources -------------------------------------------------------------------------------

const SOURCE_COLUMNS = ['contacts', 'unique_contacts', 'existing_patient_share', 'leads', 'bookings',
  'arrivals', 'arrived_new_patients', 'revenue', 'spend', 'cost_per_unique_contact', 'cost_per_lead',
  'cost_per_booking', 'cost_per_arrived_new_patient', 'romi'];

async function sources(ctx) {
  const attribution = ctx.filters.attribution;
  const [r, bySource] = await Promise.all([
    withPrevious(ctx, 'sources', true, { attribution }),
    ask('sources', { ...base(ctx, true), attribution, group_by: 'source' }),
  ]);
  const switcher = h('div', { class: 'segmented', role: 'group', 'aria-label': t('filter.attribution'), 'data-testid': 'attribution' },
    ...['first_touch', 'last_non_direct'].map((a) => h('button', {
      type: 'button',
      class: a === attribution ? 'on' : '',
      'aria-pressed': a === attribution ? 'true' : 'false',
      'data-testid': `attribution-${a}`,
      text: t(`attr.${a}`),
      onclick: () => {
        const p = { ...ctx.params, attribution: a === 'first_touch' ? '' : a };
        if (!p.attribution) delete p.attribution;
        ctx.navigate('sources', p);
      },
    })));
  // contacts and leads are the records of their own source; bookings,
  // visits and revenue those of the source their person counts under in
  // the attribution shown; spend its rows (not asked by clinic: there a
  // network-wide row is split); a cost per thing opens the things, ROMI
  // the visits its revenue is of
  const map = {
    contacts: ['contacts', null],
    unique_contacts: ['contacts', 'unique'],
    existing_patient_share: ['contacts', null],
    leads: ['leads', null],
    spend: ['spend', null],
    bookings: ['attributed_bookings', null],
    arrivals: ['attributed_visits', 'arrived'],
    arrived_new_patients: ['attributed_visits', 'arrived_new'],
    revenue: ['attributed_visits', 'arrived'],
    romi: ['attributed_visits', 'arrived'],
    cost_per_unique_contact: ['contacts', 'unique'],
    cost_per_lead: ['leads', null],
    cost_per_booking: ['attributed_bookings', null],
    cost_per_arrived_new_patient: ['attributed_visits', 'arrived_new'],
  };
  const rows = bySource.rep.rows;
  return [
    h('div', { class: 'toolbar' }, h('span', { class: 'field-label', text: t('filter.attribution') }), switcher),
    kpis(r, ['contacts', 'existing_patient_share', 'bookings', 'arrivals', 'revenue', 'spend', 'cost_per_lead', 'romi'],
      drillMap(ctx, [], map)),
    card(t('sources.chart'), barsByGroup(rows, 'source', ['revenue', 'spend'], ctx, { colors: [PALETTE[1], PALETTE[3]] })),
    card(t('sources.table'), reportTable(bySource.rep, bySource.s, ['source'], SOURCE_COLUMNS,
      { ctx, drill: drillMap(ctx, ['source'], map) })),
  ];
}

// --- calls ----------------------------------------------------------------------------------

const CALL_DRILL = {
  inbound: ['calls', 'inbound'],
  answered: ['calls', 'answered'],
  missed: ['calls', 'missed'],
  abandoned: ['calls', 'abandoned'],
  targeted: ['calls', 'targeted'],
  unique: ['calls', 'unique'],
  outbound: ['calls', 'outbound'],
  answered_call_center: ['calls', 'call_center'],
  answered_reception: ['calls', 'reception'],
  callback_tasks: ['tasks', 'callback'],
  called_back: ['tasks', 'callback_closed'],
  called_back_on_time: ['tasks', 'callback_on_time'],
  lost: ['tasks', 'callback_expired'],
  // shares and times link to what they are taken over
  callback_rate: ['tasks', 'callback'],
  called_back_within_15_min_share: ['tasks', 'callback'],
  time_to_callback_median_s: ['tasks', 'callback_closed'],
  time_to_callback_p90_s: ['tasks', 'callback_closed'],
  call_center_share: ['calls', 'answered_grouped'],
};

async function calls(ctx) {
  const f = ctx.filters;
  const [r, days, clinics] = await Promise.all([
    withPrevious(ctx, 'calls', true),
    ask('calls', { ...base(ctx, true), group_by: 'day' }),
    ask('calls', { ...base(ctx, true), group_by: 'clinic' }),
  ]);
  const tot = r.rep.totals;
  const pie = chart({
    tooltip: { trigger: 'item' },
    legend: legend(),
    series: [{
      type: 'pie',
      radius: ['45%', '70%'],
      top: 24,
      label: { formatter: '{b}\n{d}%', color: '#334155' },
      data: [
        { name: t('f.answered_call_center'), value: tot.answered_call_center },
        { name: t('f.answered_reception'), value: tot.answered_reception },
      ],
    }],
  });
  return [
    kpis(r, ['inbound', 'answered', 'missed', 'lost', 'callback_rate', 'time_to_callback_median_s',
      'time_to_callback_p90_s', 'called_back_within_15_min_share', 'call_center_share', 'targeted'],
    drillMap(ctx, [], CALL_DRILL)),
    grid('two-one',
      card(t('calls.by_day'), byDayChart(days.rep.rows, f.from, f.to, ['answered', 'missed'], { bars: true, stack: true })),
      card(t('calls.groups'), pie)),
    card(t('calls.by_clinic'), reportTable(clinics.rep, clinics.s, ['clinic'],
      ['inbound', 'answered', 'missed', 'abandoned', 'answered_call_center', 'answered_reception',
        'callback_tasks', 'called_back', 'called_back_on_time', 'lost', 'callback_rate',
        'time_to_callback_median_s'], { ctx, drill: drillMap(ctx, ['clinic'], CALL_DRILL) })),
  ];
}

// --- leads ------------------------------------------------------------------------------------

const LEAD_DRILL = {
  leads: ['leads', null],
  responded: ['leads', 'responded'],
  unanswered: ['leads', 'unanswered'],
  sla_breaches: ['leads', 'sla_breached'],
  booked: ['leads', 'booked'],
  lost: ['leads', 'lost'],
  spam: ['leads', 'spam'],
  // shares and times link to what they are taken over
  first_response_median_working_s: ['leads', 'responded'],
  first_response_p90_working_s: ['leads', 'responded'],
  first_response_median_s: ['leads', 'responded'],
  responded_within_10_min_share: ['leads', null],
  existing_patient_share: ['leads', null],
};

async function leads(ctx) {
  const [r, channels] = await Promise.all([
    withPrevious(ctx, 'leads', true),
    ask('leads', { ...base(ctx, true), group_by: 'channel' }),
  ]);
  return [
    kpis(r, ['leads', 'responded', 'unanswered', 'first_response_median_working_s', 'first_response_p90_working_s',
      'responded_within_10_min_share', 'sla_breaches', 'booked', 'existing_patient_share'], drillMap(ctx, [], LEAD_DRILL)),
    card(t('leads.chart'), barsByGroup(channels.rep.rows, 'channel', ['leads', 'sla_breaches'], ctx, { colors: [PALETTE[0], PALETTE[3]] })),
    card(t('leads.by_channel'), reportTable(channels.rep, channels.s, ['channel'],
      ['leads', 'merged', 'responded', 'unanswered', 'first_response_median_working_s',
        'first_response_p90_working_s', 'first_response_median_s', 'responded_within_10_min_share',
        'sla_breaches', 'booked', 'lost', 'spam', 'existing_patient_share'],
      { ctx, drill: drillMap(ctx, ['channel'], LEAD_DRILL), labels: { lost: 'f.leads_lost' } })),
  ];
}

// --- operators and doctors ------------------------------------------------------------------------

async function operators(ctx) {
  const r = await withPrevious(ctx, 'operators', false);
  // calls the operator answered (either direction): their calls records,
  // also behind their talk time and conversion
  const map = {
    bookings: ['bookings', 'operator_booked'], // booked by an operator: the report's figure
    calls_handled: ['calls', 'handled'],
    inbound_answered: ['calls', 'answered'],
    outbound: ['calls', 'outbound'],
    talk_seconds: ['calls', 'handled'],
    mean_talk_s: ['calls', 'handled'],
    booking_conversion: ['calls', 'handled'],
  };
  const rows = r.rep.rows.filter((x) => x.operator !== null || x.calls_handled > 0);
  return [
    kpis(r, ['calls_handled', 'inbound_answered', 'outbound', 'talk_seconds', 'mean_talk_s', 'bookings', 'booking_conversion'],
      drillMap(ctx, [], map)),
    card(t('operators.chart'), barsByGroup(rows, 'operator', ['calls_handled', 'bookings'], ctx)),
    card(t('operators.table'), reportTable(r.rep, r.s, ['operator'],
      ['calls_handled', 'inbound_answered', 'outbound', 'talk_seconds', 'mean_talk_s', 'bookings', 'booking_conversion'],
      { ctx, drill: drillMap(ctx, ['operator'], map) })),
  ];
}

async function doctors(ctx) {
  const r = await withPrevious(ctx, 'doctors', false);
  const map = {
    arrivals: ['appointments', 'arrived'],
    revenue: ['appointments', 'arrived'],
    no_shows: ['appointments', 'no_show'],
    plans_proposed: ['appointments', 'plan'],
    plans_accepted: ['appointments', 'plan_accepted'],
    accepted_plans_amount: ['appointments', 'plan_accepted'],
    nps_answers: ['nps', null],
    show_rate: ['appointments', 'arrived_or_no_show'],
    plan_acceptance: ['appointments', 'plan'],
    nps: ['nps', null],
  };
  const rows = r.rep.rows.filter((x) => x.doctor !== null);
  return [
    kpis(r, ['arrivals', 'no_shows', 'show_rate', 'plan_acceptance', 'revenue', 'accepted_plans_amount', 'nps'],
      drillMap(ctx, [], map)),
    card(t('doctors.chart'), barsByGroup(rows, 'doctor', ['plan_acceptance', 'nps'], ctx, {
      axes: [{ min: 0, max: 100, axisLabel: { formatter: '{value}%', color: '#64748b' } }, { min: -100, max: 100 }],
      axisOf: (f) => (f === 'nps' ? 1 : 0),
      scale: (f) => (f === 'plan_acceptance' ? 100 : 0),
      colors: [PALETTE[1], PALETTE[4]],
    })),
    card(t('doctors.table'), reportTable(r.rep, r.s, ['doctor'],
      ['arrivals', 'no_shows', 'show_rate', 'plans_proposed', 'plans_accepted', 'plan_acceptance', 'revenue',
        'accepted_plans_amount', 'nps_answers', 'nps'], { ctx, drill: drillMap(ctx, ['doctor'], map) })),
  ];
}

// --- reminders and recall ------------------------------------------------------------------------

async function reminders(ctx) {
  const [r, clinics] = await Promise.all([
    withPrevious(ctx, 'reminders', false),
    ask('reminders', { ...base(ctx, false), group_by: 'clinic' }),
  ]);
  const tot = r.rep.totals;
  const outcomes = ['confirmed', 'declined', 'reschedule_requested', 'not_confirmed', 'not_reached', 'opt_outs'];
  const outcomeChart = chart({
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    grid: { ...baseGrid(), top: 8 },
    xAxis: { type: 'value', minInterval: 1, ...axisStyle() },
    yAxis: { type: 'category', inverse: true, data: outcomes.map((f) => t(`f.${f}`)), ...axisStyle() },
    series: [{
      type: 'bar', barMaxWidth: 22,
      data: outcomes.map((f, i) => ({ value: tot[f], itemStyle: { color: PALETTE[[1, 3, 2, 7, 5, 6][i]], borderRadius: [0, 4, 4, 0] } })),
      label: { show: true, position: 'right', color: '#334155' },
    }],
  });
  const showChart = chart({
    tooltip: { trigger: 'axis', valueFormatter: (v) => (v === null ? '—' : `${fmt.number(v, 0)}%`) },
    grid: { ...baseGrid(), top: 16 },
    xAxis: { type: 'category', data: [t('f.show_rate_confirmed'), t('f.show_rate_unconfirmed')], ...axisStyle() },
    yAxis: { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%', color: '#64748b' }, splitLine: axisStyle().splitLine },
    series: [{
      type: 'bar', barMaxWidth: 56,
      data: [
        { value: tot.show_rate_confirmed === null ? null : tot.show_rate_confirmed * 100, itemStyle: { color: PALETTE[1], borderRadius: [4, 4, 0, 0] } },
        { value: tot.show_rate_unconfirmed === null ? null : tot.show_rate_unconfirmed * 100, itemStyle: { color: PALETTE[7], borderRadius: [4, 4, 0, 0] } },
      ],
      label: { show: true, position: 'top', formatter: (p) => `${fmt.number(p.value, 0)}%` },
    }],
  });
  // the outcome figures are outcome events, each a record; a send count
  // opens each send's first event; the show rates open the reminded visits
  // they are taken over, and the SMS figures the events that were charged
  const REMINDER_DRILL = {
    sent: ['reminders', 'sent'],
    calls: ['reminders', 'calls'],
    sms: ['reminders', 'sms'],
    not_reached: ['reminders', 'not_reached'],
    confirmed: ['reminders', 'confirmed'],
    declined: ['reminders', 'declined'],
    reschedule_requested: ['reminders', 'reschedule_requested'],
    not_confirmed: ['reminders', 'not_confirmed'],
    opt_outs: ['reminders', 'opt_outs'],
    sms_segments: ['reminders', 'sms_charged'],
    sms_cost: ['reminders', 'sms_charged'],
    cost_per_confirmed: ['reminders', 'sms_charged'],
    confirmed_visits: ['appointments', 'reminded_confirmed'],
    show_rate_confirmed: ['appointments', 'reminded_confirmed'],
    unconfirmed_visits: ['appointments', 'reminded_unconfirmed'],
    show_rate_unconfirmed: ['appointments', 'reminded_unconfirmed'],
  };
  // nothing sent in the range: say when reminders go out, lest an empty
  // page read as a fault (a demo started at night has none until morning)
  const quiet = !tot.sent && !tot.confirmed && !tot.opt_outs;
  const windows = (ctx.session.clinics || []).filter((c) => c.calling_windows)
    .map((c) => `${c.name} ${c.calling_windows.join(', ')}`);
  return [
    quiet ? h('p', { class: 'notice', 'data-testid': 'reminders-quiet',
      text: t('reminders.quiet', { windows: windows.length ? windows.join('; ') : t('reminders.default_windows') }) }) : null,
    kpis(r, ['sent', 'confirmed', 'not_reached', 'declined', 'reschedule_requested', 'opt_outs',
      'show_rate_confirmed', 'show_rate_unconfirmed', 'sms_cost', 'cost_per_confirmed'], drillMap(ctx, [], REMINDER_DRILL)),
    grid('two', card(t('reminders.outcomes'), outcomeChart), card(t('reminders.show'), showChart)),
    card(t('reminders.by_clinic'), reportTable(clinics.rep, clinics.s, ['clinic'],
      ['sent', 'calls', 'sms', 'not_reached', 'confirmed', 'declined', 'reschedule_requested', 'not_confirmed',
        'opt_outs', 'sms_segments', 'sms_cost', 'cost_per_confirmed', 'confirmed_visits', 'show_rate_confirmed',
        'unconfirmed_visits', 'show_rate_unconfirmed'], { ctx, drill: drillMap(ctx, ['clinic'], REMINDER_DRILL) })),
  ];
}

async function recall(ctx) {
  const [r, campaigns] = await Promise.all([
    withPrevious(ctx, 'recall', false),
    ask('recall', { ...base(ctx, false), group_by: 'campaign' }),
  ]);
  // members and what became of them, and the groups the booked shares are
  // taken over; arrivals and revenue are the visits', not members' records
  const MEMBER_DRILL = {
    members: ['members', null],
    target: ['members', 'target'],
    holdout: ['members', 'holdout'],
    contacted: ['members', 'contacted'],
    agreed: ['members', 'agreed'],
    opt_outs: ['members', 'opt_outs'],
    booked_target: ['members', 'booked_target'],
    booked_holdout: ['members', 'booked_holdout'],
    booked_share_target: ['members', 'target'],
    booked_share_holdout: ['members', 'holdout'],
    uplift: ['members', null], // the two groups' shares
    arrived_target: ['members', 'arrived_target'],
    revenue_target: ['members', 'arrived_target'],
  };
  return [
    kpis(r, ['members', 'target', 'holdout', 'contacted', 'agreed', 'booked_share_target', 'booked_share_holdout',
      'uplift', 'arrived_target', 'revenue_target'], drillMap(ctx, [], MEMBER_DRILL)),
    card(t('recall.groups'), barsByGroup(campaigns.rep.rows, 'campaign', ['booked_share_target', 'booked_share_holdout'], ctx, {
      axes: [{ min: 0, axisLabel: { formatter: '{value}%', color: '#64748b' } }],
      scale: () => 100,
      colors: [PALETTE[0], PALETTE[7]],
    })),
    card(t('recall.by_campaign'), reportTable(campaigns.rep, campaigns.s, ['campaign'],
      ['members', 'target', 'holdout', 'contacted', 'agreed', 'opt_outs', 'booked_target', 'booked_holdout',
        'booked_share_target', 'booked_share_holdout', 'uplift', 'arrived_target', 'revenue_target'],
      { ctx, drill: drillMap(ctx, ['campaign'], MEMBER_DRILL) })),
  ];
}

// --- load ------------------------------------------------------------------------------------

// drill(row, field): the records behind a cell's figure (drillMap's)
function heatmap(rows, field, drill, colors) {
  const hours = Array.from({ length: 24 }, (_, i) => i);
  const data = rows.filter((r) => r[field] !== null)
    .map((r) => [r.hour, r.weekday - 1, r[field]]);
  const max = Math.max(1, ...data.map((d) => d[2]));
  const el = chart({
    tooltip: {
      formatter: (p) => `${t(`weekday.${p.value[1] + 1}`)} ${String(p.value[0]).padStart(2, '0')}:00<br>${t(`f.${field}`)}: <b>${fmt.value(field, p.value[2])}</b>`,
    },
    grid: { left: 8, right: 8, top: 8, bottom: 56, containLabel: true },
    xAxis: { type: 'category', data: hours.map((x) => String(x).padStart(2, '0')), splitArea: { show: true }, axisLabel: { color: '#64748b' } },
    yAxis: { type: 'category', data: [1, 2, 3, 4, 5, 6, 7].map((d) => t(`weekday.${d}`)), inverse: true, splitArea: { show: true }, axisLabel: { color: '#64748b' } },
    visualMap: {
      min: 0, max, calculable: false, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 160,
      inRange: { color: colors }, textStyle: { color: '#64748b' },
    },
    series: [{
      type: 'heatmap', data, label: { show: true, fontSize: 10, formatter: (p) => fmt.compact(p.value[2]) },
      emphasis: { itemStyle: { shadowBlur: 6, shadowColor: 'rgba(0,0,0,.3)' } },
    }],
  }, 'chart-tall');
  // a cell opens the records of its figure, that weekday and hour (the
  // contacts: calls and leads; the staffing: the inbound calls)
  requestAnimationFrame(() => requestAnimationFrame(() => {
    const inst = window.echarts && window.echarts.getInstanceByDom(el);
    if (inst) {
      inst.on('click', (p) => {
        const target = drill({ weekday: p.value[1] + 1, hour: p.value[0] }, field);
        if (target) location.hash = target;
      });
    }
  }));
  return el;
}

async function load(ctx) {
  const [r, cells] = await Promise.all([
    withPrevious(ctx, 'load', true),
    ask('load', { ...base(ctx, true), group_by: 'weekday,hour' }),
  ]);
  const rows = cells.rep.rows.filter((x) => x.weekday !== null && x.hour !== null);
  const peak = rows.reduce((a, b) => (!a || b.contacts > a.contacts ? b : a), null);
  const most = rows.reduce((a, b) => (b.operators_needed !== null && (!a || b.operators_needed > a.operators_needed) ? b : a), null);
  const cellSrc = (row) => src('load', cells.q, rowKey(row, ['weekday', 'hour']));
  const staffing = rows.filter((x) => x.inbound_calls > 0);
  // a cell's (or the period's) contacts, and the calls each figure is taken
  // over: the inbound ones, the missed, the answered for the talk time
  const LOAD_DRILL = {
    contacts: ['contacts', null],
    inbound_calls: ['calls', 'inbound'],
    calls_per_hour: ['calls', 'inbound'],
    operators_needed: ['calls', 'inbound'],
    missed: ['calls', 'missed'],
    missed_share: ['calls', 'inbound'],
    mean_talk_s: ['calls', 'answered'],
  };
  const drill = drillMap(ctx, ['weekday', 'hour'], LOAD_DRILL);
  return [
    caption(r),
    kpiGrid(
      ...['contacts', 'inbound_calls', 'missed_share', 'mean_talk_s', 'calls_per_hour'].map((f, i) => kpi(r.s, f, r.rep.totals, r.prev,
        { prevLabel: r.prevLabel, accent: i === 0, drill: drill(null, f) })),
      h('div', { class: 'kpi', 'data-testid': 'kpi-peak' },
        h('div', { class: 'kpi-label', text: t('load.peak') }),
        h('div', { class: 'kpi-value' }, peak ? `${t(`weekday.${peak.weekday}`)} ${String(peak.hour).padStart(2, '0')}:00` : '—'),
        peak ? h('div', { class: 'kpi-hint' }, figure(cellSrc(peak), 'contacts', peak.contacts, drill(peak, 'contacts')), ` ${t('f.contacts').toLowerCase()}`) : null),
      h('div', { class: 'kpi', 'data-testid': 'kpi-staffing' },
        h('div', { class: 'kpi-label', text: t('load.max_ops') }),
        h('div', { class: 'kpi-value' }, most ? figure(cellSrc(most), 'operators_needed', most.operators_needed, drill(most, 'operators_needed')) : '—'),
        most ? h('div', { class: 'kpi-hint', text: `${t(`weekday.${most.weekday}`)} ${String(most.hour).padStart(2, '0')}:00` }) : null)),
    card(t('load.heatmap'), heatmap(rows, 'contacts', drill, ['#eff6ff', '#93c5fd', '#2563eb', '#1e3a8a']), note(t('load.hint'))),
    card(t('load.staffing'),
      heatmap(rows, 'operators_needed', drill, ['#f0fdf4', '#86efac', '#16a34a', '#14532d']),
      reportTable({ rows: staffing, totals: cells.rep.totals }, cells.s, ['weekday', 'hour'],
        ['contacts', 'inbound_calls', 'missed', 'missed_share', 'calls_per_hour', 'mean_talk_s', 'operators_needed'],
        { ctx, drill, totals: false })),
  ];
}

// --- cohorts ---------------------------------------------------------------------------------

async function cohorts(ctx) {
  // the twelve months of first visits up to the period's end
  const to = ctx.filters.to;
  const [y, m] = to.split('-').map(Number);
  const start = new Date(Date.UTC(y, m - 12, 1)).toISOString().slice(0, 10);
  const p = { from: start, to };
  if (ctx.filters.clinics.length) p.clinic = ctx.filters.clinics.join(',');
  const r = await ask('cohorts', p);
  const rows = r.rep.rows;
  const names = [...new Set(rows.map((x) => x.cohort))].sort();
  const maxMonth = Math.max(0, ...rows.map((x) => x.months_since));
  const at = new Map(rows.map((x) => [`${x.cohort}|${x.months_since}`, x]));
  const keyOf = (x) => src('cohorts', r.q, { cohort: x.cohort, months_since: x.months_since });
  const months = Array.from({ length: maxMonth + 1 }, (_, i) => i);
  // a cohort's patients: each one's first visit, in the cohort's month (a
  // month's returning share is a share of them)
  const cohortDrill = (c) => {
    const [cy, cm] = c.split('-').map(Number);
    const last = new Date(Date.UTC(cy, cm, 0)).toISOString().slice(0, 10);
    return drillTo(ctx, 'appointments', { from: `${c}-01`, to: last, month: c }, 'first_arrival');
  };
  const table = h('table', { class: 'table cohort-table', 'data-testid': 'cohort-table' },
    h('thead', null, h('tr', null,
      h('th', { class: 'group', text: t('cohorts.cohort') }),
      h('th', { class: 'n', text: t('f.patients') }),
      ...months.slice(1).map((n) => h('th', { class: 'n', text: t('cohorts.month', { n }) })))),
    h('tbody', null, ...names.map((c) => {
      const first = at.get(`${c}|0`);
      return h('tr', { 'data-testid': 'row' },
        h('td', { class: 'group', text: c }),
        h('td', { class: 'n' }, first ? figure(keyOf(first), 'patients', first.patients, cohortDrill(c)) : '—'),
        ...months.slice(1).map((n) => {
          const x = at.get(`${c}|${n}`);
          if (!x) return h('td', { class: 'n muted' }, '');
          const share = x.returning_share || 0;
          // a share of the cohort's patients: it opens them
          return h('td', { class: 'n heat', style: `--heat:${Math.round(share * 100)}%` },
            figure(keyOf(x), 'returning_share', x.returning_share, cohortDrill(c)));
        }));
    })));
  const revenue = chart({
    tooltip: { trigger: 'axis' },
    legend: legend(),
    grid: baseGrid(),
    xAxis: { type: 'category', data: months.map((n) => t('cohorts.month', { n })), ...axisStyle() },
    yAxis: { type: 'value', ...axisStyle(), axisLabel: { color: '#64748b', formatter: (v) => fmt.compact(v) } },
    series: names.map((c) => ({
      name: c, type: 'line', smooth: true,
      data: months.map((n) => (at.get(`${c}|${n}`) ? at.get(`${c}|${n}`).revenue_per_patient : null)),
    })),
  });
  return [
    note(t('cohorts.range', { from: fmt.longDate(start), to: fmt.longDate(to) })),
    rows.length ? grid('two',
      card(t('cohorts.retention'), h('div', { class: 'table-wrap' }, table)),
      card(t('cohorts.revenue'), revenue)) : h('div', { class: 'empty', text: t('empty') }),
  ];
}

// --- the table of pages -----------------------------------------------------------------------

export const PAGES = {
  overview: { render: overview, takesSource: false },
  sources: { render: sources, takesSource: true },
  calls: { render: calls, takesSource: true },
  leads: { render: leads, takesSource: true },
  operators: { render: operators, takesSource: false },
  doctors: { render: doctors, takesSource: false },
  reminders: { render: reminders, takesSource: false },
  recall: { render: recall, takesSource: false },
  load: { render: load, takesSource: true },
  cohorts: { render: cohorts, takesSource: false },
  worklist: { render: worklistPage, takesSource: false, noDates: true },
  records: { render: recordsPage, takesSource: true },
};
