/* difffit view: the page, over Mol*'s plugin (the global `molstar`, bundled by
 * scripts/build-viewer, which also bundles these modules into static/app.js).
 *
 *   api.mjs            the server's API, every request with the session's token
 *   state.mjs          the page's state and its reducer; store.mjs holds it
 *   actions.mjs        the commands (select, sort, zero, fit again, ...)
 *   molstar.mjs        the Mol* adapter: map, point cloud and models in the 3D view
 *   table.mjs, panel.mjs   the DOM, redrawn from the state
 *   format.mjs, table-model.mjs, palette.mjs, options.mjs, molstar-params.mjs, sync.mjs
 *                      pure helpers (unit-tested with node --test, web/test/)
 *
 * window.difffitViewer exposes the page's state (what Mol* has loaded, read back from Mol*'s
 * own state tree) and a few commands, for tests and for scripting from the browser console.
 */

import { createActions } from './actions.mjs';
import { createApi, readToken } from './api.mjs';
import { errorText } from './format.mjs';
import { createMolstarView } from './molstar.mjs';
import { readFitForm, renderFitForm, renderMetricMenu, updatePanel } from './panel.mjs';
import { initialState, reduce } from './state.mjs';
import { createStore } from './store.mjs';
import { createTable } from './table.mjs';
import { modelKey } from './table-model.mjs';

const $ = (id) => document.getElementById(id);

const store = createStore(reduce, initialState);
const api = createApi(readToken(document));
const search = location.search;
let actions = null;
const view = createMolstarView({
    element: $('molstar'), api, search,
    onPickFit: (fitId) => actions.selectFit(fitId),
});
const table = createTable($('clusters'), {
    onSort: (col) => actions.sortBy(col),
    onSelect: (rank) => actions.select(rank),
    onToggle: (rank) => actions.toggleCompare(rank),
});
actions = createActions({
    store, api, view, table, readFitForm, search,
    clickDownload(href, name) {
        const a = document.createElement('a');
        a.href = href;
        a.download = name;
        document.body.appendChild(a);
        a.click();
        a.remove();
    },
});
store.subscribe((next, prev) => {
    updatePanel(next, prev);
    table.update(next, prev);
});

// milliseconds since the navigation started (performance.timeOrigin)
const mark = (name) => store.dispatch({ type: 'timing', name, ms: Math.round(performance.now()) });

function wire() {
    const a = actions;
    const g = a.guarded;
    $('round').addEventListener('change', g((ev) => a.showRoundAll(Number(ev.target.value))));
    $('level').addEventListener('change', (ev) => a.setLevel(Number(ev.target.value)));
    $('level-range').addEventListener('input', (ev) => a.setLevel(Number(ev.target.value)));
    $('map-style').addEventListener('change', g((ev) => a.setMapStyle(ev.target.value)));
    $('model-style').addEventListener('change', (ev) => { a.setModelStyle(ev.target.value); });
    $('metric').addEventListener('change', g((ev) => a.setMetric(ev.target.value)));
    $('show-points').addEventListener('change', (ev) => a.setShowPoints(ev.target.checked));
    $('btn-save').addEventListener('click', g(a.saveSelected));
    $('btn-zero').addEventListener('click', g(a.zeroSelected));
    $('btn-undo').addEventListener('click', g(a.undo));
    $('btn-clear').addEventListener('click', g(a.clearCompare));
    $('btn-reset').addEventListener('click', () => view.resetView());
    $('btn-fit').addEventListener('click', g(() => a.fitAgain()));
    document.addEventListener('keydown', (ev) => {
        const t = ev.target;
        if (t && ((t.tagName === 'INPUT' && t.type !== 'checkbox') || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
        const selected = store.getState().selected;
        if (ev.key === 'ArrowDown') { ev.preventDefault(); a.move(1); }
        else if (ev.key === 'ArrowUp') { ev.preventDefault(); a.move(-1); }
        else if (ev.key === ' ' && selected !== null && (!t || t.tagName !== 'BUTTON')) { ev.preventDefault(); a.toggleCompare(selected); }
    });
}

window.difffitViewer = {
    get plugin() { return view.plugin; },
    state() {
        const st = store.getState();
        return {
            ready: st.ready,
            error: st.error,
            idle: actions.sync.idle(),
            round: st.round,
            rounds: st.session ? st.session.rounds.map(r => r.id) : [],
            columns: st.columns.slice(),
            sort: { ...st.sort },
            order: st.rows.map(r => r.rank),
            rows: st.rows.length,
            selected: st.selected,
            selectedRow: st.rows.find(r => r.rank === st.selected) || null,
            compare: st.compare.slice(),
            level: st.level,
            mapVersion: st.session ? st.session.map.version : null,
            history: st.session ? st.session.history.slice() : [],
            job: st.job,
            timings: { ...st.timings },
            quality: st.quality,
            renderer: st.renderer,
            status: st.status.text,
            log: st.log.slice(),
            molstar: view.plugin ? view.describe(st.round, st.selected) : null,
        };
    },
    select: (rank) => actions.select(rank),
    selectFit: (fitId) => actions.selectFit(fitId),
    move: (d) => actions.move(d),
    toggleCompare: (rank) => actions.toggleCompare(rank),
    clearCompare: () => actions.clearCompare(),
    sortBy: (col, dir) => actions.sortBy(col, dir),
    setLevel: (v) => actions.setLevel(v, true),
    showRound: (rid) => actions.showRoundAll(rid),
    save: () => actions.saveSelected(),
    zero: () => actions.zeroSelected(),
    undo: () => actions.undo(),
    fitAgain: (opts) => actions.fitAgain(opts),
    idle: () => actions.sync.settled(),
};

async function main() {
    mark('script');
    wire();
    // ask for everything at once; the answers arrive while Mol* starts
    const sessionP = api.getJSON('/api/session');
    // (a composite run without a base fit has no round 0: these then fail, and are asked again)
    const clustersP = api.getJSON('/api/clusters', { round: 0 }).catch(() => null);
    const pointsP = api.getJSON('/api/points', { round: 0, metric: store.getState().metric }).catch(() => null);
    const { renderer, quality } = await view.start();
    store.dispatch({ type: 'renderer', renderer, quality });
    mark('molstar');
    view.holdDraw();
    const session = await sessionP;
    store.dispatch({ type: 'session', session, level: session.level });
    mark('session');
    renderMetricMenu(session.point_metrics, store.getState().metric);
    renderFitForm(session);
    const mapP = actions.loadMap(session.map.version).then(() => mark('map'));
    await actions.showRound(session.rounds.length ? session.rounds[0].id : 0, false, clustersP);
    mark('table');
    await Promise.all([mapP, actions.sync.request().then(() => mark('model'))]);
    await actions.loadPoints(pointsP);
    mark('points');
    // Mol* would frame the whole scene at its first frame: set the camera on the selection
    // before that frame instead (one frame, not two)
    const st = store.getState();
    view.frameFirst(st.selected === null ? null : modelKey(st.round, st.selected));
    view.releaseDraw();
    await view.nextFrame();
    mark('drawn');
    $('loading').hidden = true;
    $('table-wrap').focus();
    store.dispatch({ type: 'ready' });
    mark('ready');
}

main().catch((e) => {
    const error = errorText(e);
    store.dispatch({ type: 'failed', error });
    $('loading').textContent = `Failed: ${error}`;
    actions.status(error, true);
});
