// How a report's figure reads: by what kind of figure its field is
// (proto/README.md "Analytics reports": shares are fractions 0..1 or null,
// durations seconds, money in the network's currency).
import { lang, t } from './i18n.js';

const SHARES = new Set([
  'first_contact_conversion_new', 'show_rate', 'plan_acceptance', 'existing_patient_share',
  'romi', 'call_center_share', 'callback_rate', 'called_back_within_15_min_share',
  'responded_within_10_min_share', 'missed_share', 'show_rate_confirmed',
  'show_rate_unconfirmed', 'booked_share_target', 'booked_share_holdout', 'uplift',
  'returning_share', 'booking_conversion',
]);
const MONEY = new Set([
  'revenue', 'spend', 'cost_per_unique_contact', 'cost_per_lead', 'cost_per_booking',
  'cost_per_arrived_new_patient', 'accepted_plans_amount', 'sms_cost', 'cost_per_confirmed',
  'revenue_target', 'revenue_cumulative', 'revenue_per_patient',
]);
const DURATIONS = new Set([
  'talk_seconds', 'time_to_callback_median_s', 'time_to_callback_p90_s',
  'first_response_median_working_s', 'first_response_p90_working_s', 'first_response_median_s',
  'mean_talk_s', 'working_seconds', 'response_seconds', 'seconds_to_callback', 'overdue_seconds',
]);
const DECIMALS = new Set(['calls_per_hour', 'nps']);

// Fields where a higher number is worse (a rise shows red).
export const LOWER_IS_BETTER = new Set([
  'missed', 'abandoned', 'lost', 'no_shows', 'cancellations', 'unanswered', 'sla_breaches',
  'spam', 'missed_share', 'time_to_callback_median_s', 'time_to_callback_p90_s',
  'first_response_median_working_s', 'first_response_p90_working_s', 'first_response_median_s',
  'cost_per_unique_contact', 'cost_per_lead', 'cost_per_booking',
  'cost_per_arrived_new_patient', 'not_reached', 'declined', 'opt_outs', 'sms_cost',
  'cost_per_confirmed', 'spend', 'not_confirmed',
]);

export function kindOf(field) {
  if (SHARES.has(field)) return 'share';
  if (MONEY.has(field)) return 'money';
  if (DURATIONS.has(field)) return 'duration';
  if (DECIMALS.has(field)) return 'decimal';
  return 'count';
}

function locale() {
  return lang() === 'ru' ? 'ru-RU' : 'en-GB';
}

// The network's currency (GET /v1/session), when it names one: money is
// then written with its sign.
let currency = null;

export function setCurrency(code) {
  currency = typeof code === 'string' && /^[A-Z]{3}$/.test(code) ? code : null;
}

function money(v, digits) {
  if (!currency) return number(v, digits);
  try {
    return new Intl.NumberFormat(locale(), {
      // the sign, not the code: ₽18,534,500 rather than RUB 18,534,500
      style: 'currency', currency, currencyDisplay: 'narrowSymbol', maximumFractionDigits: digits,
      minimumFractionDigits: 0,
    }).format(v);
  } catch (_) {
    return number(v, digits);
  }
}

export function number(v, digits = 0) {
  return new Intl.NumberFormat(locale(), {
    maximumFractionDigits: digits,
    minimumFractionDigits: 0,
  }).format(v);
}

export function duration(seconds) {
  const s = Math.round(seconds);
  const ru = lang() === 'ru';
  if (s < 60) return `${s} ${ru ? 'с' : 's'}`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    return r ? `${m} ${ru ? 'мин' : 'min'} ${r} ${ru ? 'с' : 's'}` : `${m} ${ru ? 'мин' : 'min'}`;
  }
  if (s < 86400 * 2) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return `${h} ${ru ? 'ч' : 'h'}${m ? ` ${m} ${ru ? 'мин' : 'min'}` : ''}`;
  }
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  return `${d} ${ru ? 'д' : 'd'}${h ? ` ${h} ${ru ? 'ч' : 'h'}` : ''}`;
}

// A figure as text: null is a dash (a share of nothing, a median of none).
export function value(field, v) {
  if (v === null || v === undefined) return '—';
  switch (kindOf(field)) {
    case 'share': {
      // never 100% short of all, nor 0% above none: 199 of 200 is 99.5%,
      // not 100%; 1 of 5,000 is <0.1%, not 0.0%
      const p = v * 100;
      if (v > 0 && p < 0.05) return `<${number(0.1, 1)}%`;
      if (v < 1 && p >= 99.5) return `${number(Math.floor(p * 10) / 10, 1)}%`;
      return `${number(p, Math.abs(v) < 0.1 && v !== 0 ? 1 : 0)}%`;
    }
    case 'money':
      return money(v, Math.abs(v) < 100 && v % 1 ? 2 : 0);
    case 'duration':
      return duration(v);
    case 'decimal':
      return number(v, 1);
    default:
      return number(v, 0);
  }
}

// A short form for chart axes.
export function compact(v) {
  return new Intl.NumberFormat(locale(), { notation: 'compact', maximumFractionDigits: 1 }).format(v);
}

// The change from prev to cur: {text, dir: 'up'|'down'|'flat'|'none'}.
// Shares change in percentage points, NPS in its own points, everything
// else in percent.
export function change(field, cur, prev) {
  if (cur === null || cur === undefined || prev === null || prev === undefined) {
    return { text: '', dir: 'none' };
  }
  if (kindOf(field) === 'share') {
    const pp = (cur - prev) * 100;
    const dir = Math.abs(pp) < 0.05 ? 'flat' : pp > 0 ? 'up' : 'down';
    const unit = lang() === 'ru' ? 'п.п.' : 'pp';
    return { text: `${pp > 0 ? '+' : pp < 0 ? '−' : '±'}${number(Math.abs(pp), 1)} ${unit}`, dir };
  }
  if (field === 'nps') {
    // a difference of two shares already in points (-100..100): its change is in points too
    const pts = cur - prev;
    const dir = Math.abs(pts) < 0.05 ? 'flat' : pts > 0 ? 'up' : 'down';
    const unit = lang() === 'ru' ? 'п.' : 'pts';
    return { text: `${pts > 0 ? '+' : pts < 0 ? '−' : '±'}${number(Math.abs(pts), 1)} ${unit}`, dir };
  }
  if (prev === 0) {
    if (cur === 0) return { text: '±0%', dir: 'flat' };
    return { text: t('vs.none'), dir: 'none' };
  }
  const pct = ((cur - prev) / Math.abs(prev)) * 100;
  const dir = Math.abs(pct) < 0.05 ? 'flat' : pct > 0 ? 'up' : 'down';
  return { text: `${pct > 0 ? '+' : pct < 0 ? '−' : '±'}${number(Math.abs(pct), Math.abs(pct) < 10 ? 1 : 0)}%`, dir };
}

// A moment in the clinic's time zone (tz: an IANA name; the browser's
// when unknown).
export function dateTime(iso, tz) {
  if (!iso) return '—';
  const d = new Date(iso);
  const opts = { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit' };
  try {
    return new Intl.DateTimeFormat(locale(), tz ? { ...opts, timeZone: tz } : opts).format(d);
  } catch (_) {
    return new Intl.DateTimeFormat(locale(), opts).format(d);
  }
}

export function shortDate(isoDay) {
  const [y, m, d] = isoDay.split('-').map(Number);
  return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short', timeZone: 'UTC' })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

export function longDate(isoDay) {
  const [y, m, d] = isoDay.split('-').map(Number);
  return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' })
    .format(new Date(Date.UTC(y, m - 1, d)));
}
