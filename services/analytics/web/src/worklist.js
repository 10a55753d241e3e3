// The worklist: every open task (callbacks of missed calls, answers to
// leads, reminder follow-ups), the overdue first, as GET /v1/worklist
// gives them; asked again every few seconds (10 by default, "every" in
// the address) and when the tab comes back into view.
import * as api from './api.js';
import { t } from './i18n.js';
import * as fmt from './fmt.js';
import { h, card } from './ui.js';

// the most the table shows (the API's most); the counters count them all
const LIMIT = 1000;

function refreshSeconds(params) {
  const n = Number(params.every);
  return Number.isFinite(n) && n >= 2 && n <= 600 ? n : 10;
}

function counter(testid, label, value, cls) {
  return h('div', { class: `kpi ${cls || ''}`, 'data-testid': testid },
    h('div', { class: 'kpi-label', text: label }),
    h('div', { class: 'kpi-value' }, h('span', {
      class: 'num', 'data-report': 'worklist', 'data-value': String(value), 'data-testid': `${testid}-value`, text: fmt.number(value),
    })));
}

// What a task is about: the missed calls a call's callback answers, or
// the lead (a form's callback too), appointment or call it belongs to.
function about(task) {
  return task.kind === 'callback' && !task.lead_id
    ? t('worklist.missed_calls', { n: task.missed_calls ?? 1 })
    : (task.lead_id || task.appointment_id || task.source_call_id || '').slice(0, 8);
}

function row(task, ctx) {
  return h('tr', {
    class: task.sla === 'overdue' ? 'overdue' : '',
    'data-testid': 'worklist-row', 'data-task-id': task.task_id, 'data-kind': task.kind, 'data-sla': task.sla,
  },
  h('td', null, h('span', { class: `tag tag-${task.kind}`, text: t(`task.${task.kind}`) })),
  h('td', { text: task.clinic_id ? ctx.clinicName(task.clinic_id) : '—' }),
  h('td', { class: 'nowrap', text: fmt.dateTime(task.opened_at, ctx.clinicTz(task.clinic_id)) }),
  h('td', { class: 'nowrap', text: fmt.dateTime(task.due_at, ctx.clinicTz(task.clinic_id)) }),
  h('td', null, h('span', { class: `sla sla-${task.sla}`, text: t(`sla.${task.sla}`) })),
  h('td', { class: 'n nowrap', text: task.overdue_seconds > 0 ? fmt.duration(task.overdue_seconds) : '—' }),
  h('td', { class: 'mono muted', title: task.task_id, 'data-testid': 'worklist-about', text: about(task) }));
}

export async function worklistPage(ctx) {
  const every = refreshSeconds(ctx.params);
  const qs = api.query({ clinic: ctx.filters.clinics.join(','), limit: LIMIT });
  const kpis = h('div', { class: 'kpis', 'data-testid': 'worklist-kpis' });
  const body = h('tbody', { 'data-testid': 'worklist-body' });
  const table = h('table', { class: 'table worklist', 'data-testid': 'worklist-table' },
    h('thead', null, h('tr', null,
      ...['kind', 'clinic', 'opened', 'due', 'sla', 'overdue_by', 'ref'].map((c) => h('th', { text: t(`worklist.${c}`) })))),
    body);
  const empty = h('p', { class: 'empty', 'data-testid': 'worklist-empty', text: t('worklist.empty') });
  const more = h('p', { class: 'muted', 'data-testid': 'worklist-more', hidden: true });
  const updated = h('span', { class: 'muted', 'data-testid': 'worklist-updated', 'data-refreshes': '0' });
  // a refresh that failed: the list shown is older than it looks
  const stale = h('p', { class: 'stale', role: 'alert', 'data-testid': 'worklist-stale', hidden: true });
  let refreshes = 0;
  let shownAt = '';

  const show = (answer) => {
    const tasks = answer.tasks || [];
    // the counts are of every open task; the table shows the first LIMIT
    const totals = answer.totals || {};
    kpis.replaceChildren(
      counter('worklist-open', t('worklist.open'), totals.open ?? 0, 'kpi-accent'),
      counter('worklist-overdue', t('worklist.overdue'), totals.overdue ?? 0, 'kpi-alert'),
      counter('worklist-callbacks', t('worklist.callbacks'), totals.callback ?? 0),
      counter('worklist-responds', t('worklist.responds'), totals.respond ?? 0),
      counter('worklist-reminders', t('worklist.reminders'), totals.reminder ?? 0));
    body.replaceChildren(...tasks.map((x) => row(x, ctx)));
    table.hidden = !tasks.length;
    empty.hidden = !!tasks.length;
    more.hidden = !(totals.open > tasks.length);
    more.textContent = t('worklist.more', { shown: fmt.number(tasks.length), n: fmt.number(totals.open ?? 0) });
    refreshes++;
    updated.dataset.refreshes = String(refreshes);
    updated.dataset.count = String(tasks.length);
    shownAt = new Date().toLocaleTimeString(ctx.session && document.documentElement.lang === 'ru' ? 'ru-RU' : 'en-GB');
    updated.textContent = `${t('updated', { time: shownAt })} · ${t('worklist.refresh', { n: every })}`;
    stale.hidden = true;
  };
  show(await api.worklist(qs));

  let busy = false;
  const refresh = async () => {
    if (busy || !ctx.isCurrent() || document.hidden) return;
    busy = true;
    try {
      const answer = await api.worklist(qs);
      if (ctx.isCurrent()) show(answer);
    } catch (_) {
      // a missed refresh: said on the page, the next one tries again (a
      // 401 has ended the session)
      if (ctx.isCurrent()) {
        stale.textContent = t('worklist.stale', { time: shownAt });
        stale.hidden = false;
      }
    } finally {
      busy = false;
    }
  };
  ctx.every(every * 1000, refresh);
  const onVisible = () => {
    if (!ctx.isCurrent()) {
      document.removeEventListener('visibilitychange', onVisible);
      return;
    }
    if (!document.hidden) refresh();
  };
  document.addEventListener('visibilitychange', onVisible);

  return [
    h('div', { class: 'records-head' }, h('h1', { class: 'page-title', text: t('worklist.title') }), updated),
    stale,
    kpis,
    card(null, more, h('div', { class: 'table-wrap' }, table), empty),
  ];
}
