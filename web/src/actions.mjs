// What the user (or a script, through window.difffitViewer) can do: each command updates the
// store and asks the server and the Mol* adapter for what the new state needs.

import { errorText, zeroedText } from './format.mjs';
import { mapMaxVoxels } from './options.mjs';
import { moveSelection } from './table-model.mjs';
import { renderDecisions } from './panel.mjs';
import { createSyncLoop } from './sync.mjs';

/**
 * @param {{store, api, view, table, readFitForm: () => object, search: string,
 *          clickDownload: (href: string, name: string) => void}} deps
 *     store: the page's store (store.mjs over state.mjs); api: the API client (api.mjs); view:
 *     the Mol* adapter (molstar.mjs); table: the table view (table.mjs); readFitForm: the fit
 *     form's values; search: location.search; clickDownload: start a browser download
 */
export function createActions({ store, api, view, table, readFitForm, search, clickDownload }) {
    const get = store.getState;
    const dispatch = store.dispatch;

    function status(text, isError) {
        dispatch({ type: 'status', text, error: !!isError });
        if (isError) console.error(text);
    }

    const sync = createSyncLoop((isStale) => view.syncModels(get(), isStale), {
        onError: (e) => status(`3D view: ${errorText(e)}`, true),
    });

    // ---------------------------------------------------------------- table
    function select(rank) {
        const before = get();
        if (!before.rows.some(r => r.rank === rank)) return;
        dispatch({ type: 'select', rank });
        if (get() === before) table.scrollToSelected(before);
        return sync.request();
    }

    function move(delta) {
        const rank = moveSelection(get().rows, get().selected, delta);
        if (rank === null) return;
        return select(rank);
    }

    function toggleCompare(rank) {
        dispatch({ type: 'compare/toggle', rank });
        return sync.request();
    }

    function clearCompare() {
        dispatch({ type: 'compare/clear' });
        return sync.request();
    }

    function sortBy(col, dir) {
        if (!get().columns.includes(col)) throw new Error(`no column ${col}`);
        dispatch({ type: 'sort', key: col, dir });
    }

    /** The fit id of a clicked point: select its cluster; the rank, or null when the fit has
     * none. */
    function selectFit(fitId) {
        const rank = view.clusterOfFit(fitId);
        if (rank === null) return null;
        status(`fit ${fitId}: cluster ${rank}`);
        select(rank);
        return rank;
    }

    // ---------------------------------------------------------------- map and points
    let levelTimer = null;
    /** Set the contour level; the map is redrawn 120 ms after the last change, or at once. */
    function setLevel(v, immediate) {
        if (!Number.isFinite(v)) return;
        dispatch({ type: 'level', level: v });
        clearTimeout(levelTimer);
        const run = () => view.updateMap(get().level, get().mapStyle).catch(e => status(`level: ${e.message}`, true));
        if (immediate) return run();
        levelTimer = setTimeout(run, 120);
    }

    async function setMapStyle(style) {
        dispatch({ type: 'mapStyle', style });
        await view.updateMap(get().level, style);
    }

    function setModelStyle(style) {
        dispatch({ type: 'modelStyle', style });
        return sync.request();
    }

    async function setMetric(metric) {
        dispatch({ type: 'metric', metric });
        await loadPoints();
    }

    function setShowPoints(show) {
        dispatch({ type: 'showPoints', show });
        view.setPointsVisible(get().showPoints);
    }

    async function loadMap(version) {
        const s = get();
        const grid = await view.showMap(version, mapMaxVoxels(search, s.session.map.display_max_voxels, view.quality),
            s.level, s.mapStyle);
        dispatch({ type: 'map/shown', version, grid });
    }

    async function reloadMapIfNeeded() {
        const v = get().session.map.version;
        if (view.mapVersion() !== v) await loadMap(v);
    }

    /** Show the point cloud of the current round and metric (prefetched: a promise of
     * /api/points' answer, used when it is for them). */
    async function loadPoints(prefetched) {
        const { round, metric } = get();
        if (view.hasPoints(round, metric)) {
            view.setPointsVisible(get().showPoints);
            return;
        }
        let info = prefetched ? await prefetched : null;
        if (!info || info.round !== round || info.metric !== metric) info = await api.getJSON('/api/points', { round, metric });
        const points = await view.showPoints(info, get().showPoints);
        dispatch({ type: 'points/shown', points });
    }

    // ---------------------------------------------------------------- rounds and session
    /** Show a round's table (prefetched: a promise of /api/clusters' answer). */
    async function showRound(rid, keepSelection, prefetched) {
        let data = prefetched ? await prefetched : null;
        if (!data || data.round !== rid) data = await api.getJSON('/api/clusters', { round: rid });
        dispatch({ type: 'round', round: rid, columns: data.columns, rows: data.rows, keepSelection: !!keepSelection });
        view.resetFocus();
        const s = get().session;
        if (s && s.composite && rid > 0) {
            api.getJSON('/api/decisions', { round: rid }).then(renderDecisions)
                .catch(e => status(`decisions: ${e.message}`, true));
        } else {
            renderDecisions(null);
        }
    }

    /** showRound, then the round's models and points. */
    async function showRoundAll(rid) {
        await showRound(rid);
        await Promise.all([sync.request(), loadPoints()]);
    }

    async function refreshSession() {
        dispatch({ type: 'session', session: await api.getJSON('/api/session') });
    }

    // ---------------------------------------------------------------- actions on the server
    async function saveSelected() {
        const { round, selected: rank } = get();
        const res = await api.post('/api/save', { round, rank });
        clickDownload(api.url('/api/model', { round, rank, download: 1 }), res.name);
        status(`saved ${res.relative} in the results folder (and downloaded)`);
        return res;
    }

    async function zeroSelected() {
        const { round, selected: rank } = get();
        status(`zeroing rank ${rank}…`);
        const res = await api.post('/api/zero', { round, rank });
        await refreshSession();
        await reloadMapIfNeeded();
        status(zeroedText(res));
        return res;
    }

    async function undo() {
        const res = await api.post('/api/undo', {});
        await refreshSession();
        await reloadMapIfNeeded();
        status(`undid the zeroing of ${res.undone.structure} (rank ${res.undone.rank})`);
        return res;
    }

    /** Fit again into the working map (opts override the form's structures, n_rotations,
     * n_positions and seed); polls the job until it ends, then shows its round. */
    async function fitAgain(opts = {}) {
        const form = readFitForm();
        const pick = (k) => (opts[k] !== undefined ? opts[k] : form[k]);
        const body = {
            structures: opts.structures || form.structures,
            n_rotations: pick('n_rotations'),
            n_positions: pick('n_positions'),
            seed: pick('seed'),
        };
        const job = await api.post('/api/fit', body);
        dispatch({ type: 'job', job });
        status(`fitting ${body.structures.join(', ')} into the working map (round ${job.round})…`);
        pollJob(job.id);
        return job;
    }

    function pollJob(id) {
        const tick = async () => {
            let job;
            try { job = await api.getJSON(`/api/jobs/${id}`); } catch (e) { status(e.message, true); return; }
            dispatch({ type: 'job', job });
            if (job.state === 'done') {
                await refreshSession();
                await showRoundAll(job.round);
                status(`fit again: ${job.message}`);
            } else if (job.state === 'failed') {
                status(`fit again failed: ${job.message}`, true);
            } else {
                setTimeout(tick, 400);
            }
        };
        setTimeout(tick, 300);
    }

    /** fn, with what it throws shown on the status line instead. */
    function guarded(fn) {
        return async (...args) => {
            try { return await fn(...args); } catch (e) { status(errorText(e), true); }
        };
    }

    return {
        status, sync, guarded,
        select, move, toggleCompare, clearCompare, sortBy, selectFit,
        setLevel, setMapStyle, setModelStyle, setMetric, setShowPoints,
        loadMap, loadPoints, showRound, showRoundAll, refreshSession,
        saveSelected, zeroSelected, undo, fitAgain,
    };
}
