// The side panel and overlays (DOM) drawn from the state: the results folder and round menu,
// the level inputs, the working-map line, the buttons, the point-cloud legend, the fit-again
// form and its progress, and the status line.

import { decisionSummary, headerText, jobRunning, jobText, legendText, levelRange, levelText, roundLabel, workingMapText } from './format.mjs';

const $ = (id) => document.getElementById(id);

function renderSession(state) {
    const s = state.session;
    $('results-dir').textContent = s.results_dir;
    $('map-name').textContent = headerText(s);
    const sel = $('round');
    sel.innerHTML = '';
    for (const r of s.rounds) {
        const o = document.createElement('option');
        o.value = String(r.id);
        o.textContent = roundLabel(r);
        sel.appendChild(o);
    }
    $('working').textContent = workingMapText(s, state.shownMap && state.shownMap.grid);
    const range = $('level-range');
    const b = levelRange(s.map, state.level);
    range.min = b.min;
    range.max = b.max;
    range.step = b.step;
    range.value = state.level;
}

function renderRound(state) {
    $('round').value = String(state.round);
}

function renderLevel(state) {
    $('level').value = levelText(state.level);
    $('level-range').value = state.level;
}

function renderButtons(state) {
    const has = state.selected !== null;
    $('btn-save').disabled = !has;
    $('btn-zero').disabled = !has;
    $('btn-undo').disabled = !(state.session && state.session.history.length);
    $('btn-fit').disabled = jobRunning(state.job);
}

function renderLegend(state) {
    const p = state.points;
    const legend = $('legend');
    if (!p || !p.n) { legend.hidden = true; return; }
    const t = legendText(p);
    $('legend-title').textContent = t.title;
    $('legend-min').textContent = t.min;
    $('legend-max').textContent = t.max;
    legend.hidden = !state.showPoints;
}

function renderJob(job) {
    $('fit-progress-row').hidden = false;
    if (job.fraction !== undefined) $('fit-progress').value = job.fraction;
    if (job.stage !== undefined) $('fit-status').textContent = jobText(job);
}

function renderStatus(status) {
    const el = $('status');
    el.textContent = status.text;
    el.classList.toggle('error', status.error);
}

/** Redraw what changed from prev to state (prev null: everything there is). */
export function updatePanel(state, prev) {
    const changed = (k) => !prev || state[k] !== prev[k];
    if (state.session && (changed('session') || changed('shownMap'))) renderSession(state);
    if (state.session && (changed('session') || changed('round'))) renderRound(state);
    if (changed('level')) renderLevel(state);
    if (changed('selected') || changed('session') || changed('job')) renderButtons(state);
    if (changed('points') || changed('showPoints')) renderLegend(state);
    if (state.job && changed('job')) renderJob(state.job);
    if (changed('status')) renderStatus(state.status);
}

/** The options of the point-cloud metric menu (once, from the session's point_metrics). */
export function renderMetricMenu(metrics, current) {
    const sel = $('metric');
    for (const m of metrics) {
        const o = document.createElement('option');
        o.value = m;
        o.textContent = m;
        sel.appendChild(o);
    }
    sel.value = current;
}

/** The fit-again form's structure tick boxes and defaults (once, from the session). */
export function renderFitForm(session) {
    const box = $('fit-structures');
    if (box.childElementCount) return;
    for (const name of session.structures) {
        const lab = document.createElement('label');
        const cb = document.createElement('input');
        cb.type = 'checkbox';
        cb.value = name;
        cb.checked = true;
        lab.appendChild(cb);
        lab.appendChild(document.createTextNode(' ' + name));
        box.appendChild(lab);
    }
    if (session.options.n_rotations) $('fit-rotations').value = session.options.n_rotations;
    if (session.options.n_positions) $('fit-positions').value = session.options.n_positions;
}

/** What the fit-again form asks for: the ticked structures and the numbers ('' -> null). */
export function readFitForm() {
    const num = (id) => { const v = $(id).value; return v === '' ? null : Number(v); };
    return {
        structures: [...document.querySelectorAll('#fit-structures input:checked')].map(cb => cb.value),
        n_rotations: num('fit-rotations'),
        n_positions: num('fit-positions'),
        seed: num('fit-seed'),
    };
}

/** A composite round's decisions (candidates.csv): a count line and one row per cluster. */
export function renderDecisions(data) {
    const box = $('decisions');
    if (!box) return;
    box.innerHTML = '';
    if (!data || !data.rows.length) return;
    const h = document.createElement('div');
    h.className = 'dim';
    h.textContent = `round ${data.round} decisions: ${decisionSummary(data.rows)}`;
    box.appendChild(h);
    const t = document.createElement('table');
    const cols = ['rank', 'structure', 'decision', 'reason'].filter(c => data.columns.includes(c));
    const head = t.insertRow();
    for (const c of cols) head.insertCell().textContent = c;
    for (const r of data.rows) {
        const tr = t.insertRow();
        tr.dataset.decision = r.decision;
        for (const c of cols) tr.insertCell().textContent = r[c] == null ? '' : String(r[c]);
    }
    box.appendChild(t);
}
