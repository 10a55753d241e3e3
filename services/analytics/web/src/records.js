// The records behind a figure: GET /v1/records/{kind} with the figure's
// filters and row (from, to, clinic, source, its group values), a page at
// a time; "only" asks for what the figure counted (the missed calls among
// a row's calls).
import * as api from './api.js';
import { t, has } from './i18n.js';
import * as fmt from './fmt.js';
import { h, card, groupLabel, errorText } from './ui.js';

const KINDS = ['contacts', 'persons', 'calls', 'leads', 'appointments', 'bookings', 'reminders', 'nps', 'members', 'tasks'];
// the sources report's bookings and visits by the source their person
// counts under (attribution=): opened from it, a tab only while shown
const ATTRIBUTED = ['attributed_bookings', 'attributed_visits'];
// kinds opened from a figure, a tab only while shown
const OPENED = [...ATTRIBUTED, 'spend'];
const TIME_GROUPS = ['day', 'week', 'month', 'hour', 'weekday'];
// the text groups each kind can be filtered by (records_rules.c)
const TEXT_GROUPS = {
  contacts: ['medium', 'campaign', 'patient_class', 'channel'],
  persons: ['medium', 'campaign', 'patient_class', 'channel'], // of their first contact
  calls: ['medium', 'campaign', 'operator', 'patient_class', 'channel'],
  leads: ['medium', 'campaign', 'operator', 'patient_class', 'channel'],
  appointments: ['operator', 'doctor'],
  bookings: ['operator', 'doctor'], // the same appointments
  attributed_bookings: ['medium', 'campaign'],
  attributed_visits: ['medium', 'campaign'],
  spend: ['medium', 'campaign'],
  reminders: [],
  nps: ['doctor'],
  members: ['campaign'],
  tasks: ['medium', 'campaign', 'operator', 'patient_class', 'channel'], // of their missed call
};
// the kinds the API filters by source (records_rules.c); the others have none
const SOURCED = new Set(['contacts', 'calls', 'leads', 'tasks', ...OPENED]);
export function takesSource(kind) {
  return SOURCED.has(kind);
}

const COLUMNS = {
  contacts: ['at', 'kind', 'clinic_id', 'channel', 'source', 'medium', 'campaign', 'patient_class'],
  persons: ['first_at', 'clinic_id', 'channel', 'source', 'medium', 'campaign', 'patient_class', 'last_at', 'last_source'],
  calls: ['started_at', 'clinic_id', 'direction', 'outcome', 'source', 'operator', 'agent_group', 'talk_seconds', 'patient_class'],
  leads: ['received_at', 'clinic_id', 'provider', 'source', 'status', 'responded_at', 'working_seconds', 'sla_breached', 'patient_class'],
  appointments: ['starts_at', 'clinic_id', 'doctor_id', 'status', 'amount_paid', 'plan_status', 'booking_source', 'operator_id', 'booked_at'],
  bookings: ['booked_at', 'starts_at', 'clinic_id', 'doctor_id', 'status', 'booking_source', 'operator_id', 'amount_paid'],
  attributed_bookings: ['booked_at', 'starts_at', 'clinic_id', 'source', 'medium', 'campaign', 'status', 'booking_source'],
  attributed_visits: ['starts_at', 'clinic_id', 'source', 'medium', 'campaign', 'status', 'amount_paid', 'doctor_id'],
  spend: ['day', 'source', 'medium', 'campaign', 'clinic_id', 'amount', 'currency'],
  reminders: ['at', 'clinic_id', 'channel', 'attempt', 'outcome', 'reminder_status', 'duration_s', 'gateway', 'sms_segments', 'sms_cost'],
  nps: ['at', 'clinic_id', 'doctor_id', 'score'],
  members: ['at', 'clinic_id', 'campaign', 'group'],
  tasks: ['opened_at', 'clinic_id', 'source', 'kind', 'status', 'due_at', 'closed_at', 'seconds_to_callback', 'on_time'],
};
const ID = { contacts: 'id', persons: 'person_id', calls: 'call_id', leads: 'lead_id', appointments: 'appointment_id', bookings: 'appointment_id', attributed_bookings: 'appointment_id', attributed_visits: 'appointment_id', spend: 'spend_id', reminders: 'event_id', nps: 'job_id', members: 'job_id', tasks: 'task_id' };

// What one figure of a row counts ("only", GET /v1/records' own narrowing:
// the report's definition, applied by the API so every page is of them).
// an appointment's narrowings, whether placed by its visit or its booking
const APPOINTMENT_ONLY = ['arrived', 'no_show', 'arrived_or_no_show', 'cancelled', 'operator_booked', 'plan', 'plan_accepted', 'repeat',
  'reminded_confirmed', 'reminded_unconfirmed', 'arrived_new', 'first_arrival'];
const ONLY = {
  contacts: ['calls', 'leads', 'unique'],
  persons: ['new', 'new_booked'],
  calls: ['inbound', 'outbound', 'answered', 'missed', 'abandoned', 'targeted', 'unique', 'call_center',
    'reception', 'answered_grouped', 'handled'],
  leads: ['responded', 'unanswered', 'sla_breached', 'booked', 'lost', 'spam'],
  appointments: APPOINTMENT_ONLY,
  bookings: APPOINTMENT_ONLY,
  attributed_bookings: APPOINTMENT_ONLY,
  attributed_visits: APPOINTMENT_ONLY,
  spend: [],
  reminders: ['sent', 'calls', 'sms', 'not_reached', 'confirmed', 'declined', 'reschedule_requested', 'not_confirmed', 'opt_outs',
    'sms_charged'],
  nps: ['promoters', 'passives', 'detractors'],
  members: ['target', 'holdout', 'contacted', 'agreed', 'opt_outs', 'booked_target', 'booked_holdout', 'arrived_target'],
  tasks: ['callback', 'callback_closed', 'callback_on_time', 'callback_expired'],
};
const ONLY_LABEL = {
  inbound: 'f.inbound', outbound: 'f.outbound', answered: 'f.answered', missed: 'f.missed',
  abandoned: 'f.abandoned', targeted: 'f.targeted', unique: 'f.unique', call_center: 'f.answered_call_center',
  reception: 'f.answered_reception', handled: 'f.calls_handled',
  responded: 'f.responded', unanswered: 'f.unanswered', sla_breached: 'f.sla_breaches', booked: 'f.booked',
  lost: 'f.leads_lost', spam: 'f.spam', arrived: 'f.arrivals', no_show: 'f.no_shows', cancelled: 'f.cancellations',
  plan: 'f.plans_proposed', plan_accepted: 'f.plans_accepted', repeat: 'f.repeat_visits', operator_booked: 'f.bookings',
  calls: 'records.kind.calls', leads: 'records.kind.leads', confirmed: 'f.confirmed',
  declined: 'f.declined', reschedule_requested: 'f.reschedule_requested', not_confirmed: 'f.not_confirmed',
  opt_outs: 'f.opt_outs', promoters: 'nps.promoters', passives: 'nps.passives',
  detractors: 'nps.detractors', target: 'f.target', holdout: 'f.holdout', contacted: 'f.contacted',
  sent: 'f.sent', sms: 'f.sms', not_reached: 'f.not_reached',
  new: 'f.new_persons', new_booked: 'f.new_persons_booked', arrived_or_no_show: 'f.show_rate',
  answered_grouped: 'f.call_center_share', reminded_confirmed: 'f.confirmed_visits',
  reminded_unconfirmed: 'f.unconfirmed_visits', sms_charged: 'f.sms_cost',
  arrived_new: 'f.arrived_new_patients', first_arrival: 'f.patients',
  agreed: 'f.agreed', booked_target: 'f.booked_target', booked_holdout: 'f.booked_holdout', arrived_target: 'f.arrived_target', callback: 'f.callback_tasks',
  callback_closed: 'f.called_back', callback_on_time: 'f.called_back_on_time', callback_expired: 'f.lost',
};

// The columns whose values are the API's words, not data.
const VOCABULARY = new Set(['direction', 'status', 'outcome', 'kind', 'patient_class', 'reminder_status',
  'plan_status', 'group', 'reason']);

function cell(kind, col, r, ctx) {
  const v = r[col];
  if (v === null || v === undefined || v === '') return h('td', { class: 'muted', text: '—' });
  if (kind === 'contacts' && col === 'kind') return h('td', { text: t(`r.kind.${v}`) });
  if (kind === 'members' && col === 'group') return h('td', { text: t(`f.${v}`) });
  if (col === 'at' || col.endsWith('_at')) return h('td', { class: 'nowrap', text: fmt.dateTime(v, ctx.clinicTz(r.clinic_id)) });
  if (col === 'clinic_id') return h('td', { text: ctx.clinicName(v) });
  if (typeof v === 'boolean') return h('td', { text: t(v ? 'r.yes' : 'r.no') });
  if (col.endsWith('seconds') || col === 'seconds_to_callback') return h('td', { class: 'n', text: fmt.duration(v) });
  if (col === 'duration_s') return h('td', { class: 'n', text: fmt.duration(v) });
  if (col === 'amount_paid' || col === 'sms_cost' || col === 'amount') return h('td', { class: 'n', text: fmt.number(v, 2) });
  // a value of the API's vocabulary (a direction, a status, an outcome) in
  // the page's language; any other column (names, ids, ad sources, an
  // operator's id, a lead's channel) as it is
  if (typeof v === 'string' && (VOCABULARY.has(col) || (kind === 'reminders' && col === 'channel') || (kind === 'members' && col === 'campaign')) && has(`v.${v}`)) {
    return h('td', { 'data-v': v, text: t(`v.${v}`) });
  }
  return h('td', { text: String(v) });
}

// The API parameters of the records address (the kind's own).
function apiParams(kind, params) {
  const p = { from: params.from, to: params.to };
  if (ONLY[kind].includes(params.only)) p.only = params.only;
  if (params.clinic) p.clinic = params.clinic;
  if (params.source !== undefined && takesSource(kind)) p.source = params.source;
  if (params.attribution && ATTRIBUTED.includes(kind)) p.attribution = params.attribution;
  for (const g of [...TIME_GROUPS, ...TEXT_GROUPS[kind]]) if (params[g] !== undefined) p[g] = params[g];
  return p;
}

// A records address's back_* parameters, kept on its tabs.
function backOf(params) {
  return Object.fromEntries(Object.entries(params).filter(([k]) => k.startsWith('back_')));
}

export async function recordsPage(ctx) {
  const params = ctx.params;
  const kind = KINDS.includes(params.kind) || OPENED.includes(params.kind) ? params.kind : 'calls';
  const only = ONLY[kind].includes(params.only) ? params.only : null;
  const f = ctx.filters;
  const full = { ...params, from: api.isDay(params.from) ? params.from : f.from, to: api.isDay(params.to) ? params.to : f.to };
  const p = apiParams(kind, full);
  // an empty source is "the records without one", kept as the API reads it
  const keepEmpty = Object.keys(p).filter((k) => p[k] === '' && k !== 'clinic');
  const qs = api.query(p, keepEmpty);
  const first = await api.records(kind, `${qs}&limit=100`);

  const tabs = h('div', { class: 'tabs', role: 'tablist', 'data-testid': 'records-tabs' },
    ...(OPENED.includes(kind) ? [...KINDS, kind] : KINDS).map((k) => {
      const next = { ...apiParams(k, full), kind: k };
      delete next.only; // another kind: the row's records, not one figure's
      if (params.back) Object.assign(next, { back: params.back }, backOf(params));
      return h('a', {
        href: ctx.hashOf('records', next), role: 'tab', class: k === kind ? 'on' : '',
        'aria-selected': k === kind ? 'true' : 'false', 'data-testid': `records-tab-${k}`, text: t(`records.kind.${k}`),
      });
    }));
  const chips = h('div', { class: 'chips' },
    h('span', { class: 'chip', text: `${fmt.longDate(full.from)} – ${fmt.longDate(full.to)}` }),
    ...Object.entries(p).filter(([k]) => k !== 'from' && k !== 'to' && k !== 'only').map(([k, v]) => h('span', { class: 'chip', 'data-testid': `records-chip-${k}` },
      `${t(k === 'attribution' ? 'filter.attribution' : `g.${k}`)}: `,
      h('b', { text: k === 'clinic' ? v.split(',').map(ctx.clinicName).join(', ') : k === 'attribution' ? t(`attr.${v}`) : (v === '' ? t('none') : groupLabel(k, v, ctx)) }))),
    only ? h('span', { class: 'chip chip-on', 'data-testid': 'records-only' }, t('records.filter', { what: t(ONLY_LABEL[only]) }), ' ',
      h('a', { href: ctx.hashOf('records', { ...params, only: undefined }), text: t('records.clear_filter') })) : null);

  const cols = COLUMNS[kind];
  const body = h('tbody');
  const count = h('span', { class: 'muted', 'data-testid': 'records-count' });
  const more = h('button', { type: 'button', class: 'btn', 'data-testid': 'records-more', text: t('records.more') });
  const table = h('table', { class: 'table records', 'data-testid': 'records-table', 'data-kind': kind },
    h('thead', null, h('tr', null, h('th', { text: t('r.id') }), ...cols.map((c) => h('th', { text: t(`r.${c}`) })))),
    body);
  let shown = 0;
  let cursor = null;
  const add = (page) => {
    for (const r of page.records) {
      const id = r[ID[kind]];
      body.append(h('tr', { 'data-testid': 'record', 'data-id': id },
        h('td', { class: 'mono', title: id, text: id.slice(0, 8) }),
        ...cols.map((c) => cell(kind, c, r, ctx))));
      shown++;
    }
    cursor = page.next_cursor;
    // more pages: what is shown is the first of them, not all
    count.textContent = t(cursor ? 'records.count_more' : 'records.count', { n: shown });
    count.dataset.value = String(shown);
    more.hidden = !cursor;
    table.hidden = shown === 0;
    empty.hidden = shown !== 0;
  };
  const empty = h('p', { class: 'empty', text: t('records.none') });
  const failed = h('span', { class: 'error', role: 'alert', 'data-testid': 'records-more-error', hidden: true });
  more.addEventListener('click', async () => {
    more.disabled = true;
    failed.hidden = true;
    try {
      add(await api.records(kind, `${qs}&limit=100&cursor=${encodeURIComponent(cursor)}`));
    } catch (e) {
      // the page so far stays; the button tries the same page again
      failed.textContent = errorText(e);
      failed.hidden = false;
    } finally {
      more.disabled = false;
    }
  });
  add(first);
  const back = params.back && params.back !== 'records'
    ? h('a', { class: 'back', href: ctx.hashOf(params.back, api.originFilters(params)), 'data-testid': 'records-back', text: t('records.back') })
    : null;
  return [
    h('div', { class: 'records-head' }, back, h('h1', { class: 'page-title', text: t('records.title') }), count),
    tabs,
    chips,
    card(null, h('div', { class: 'table-wrap' }, table), empty, h('div', { class: 'more' }, more, ' ', failed)),
  ];
}
