// The page's state and the one function that changes it: reduce(state, action) returns a new
// state (never edits the old one). The store (store.mjs) holds it; the views render from it.
//
// What Mol* holds is not here: the Mol* adapter (molstar.mjs) keeps its own handles and reads
// them back from Mol*'s state tree; it reports what it drew ('map/shown', 'points/shown').

import { DEFAULT_SORT, nextSort, sortRows, toggled } from './table-model.mjs';

export const initialState = Object.freeze({
    session: null,     // /api/session
    round: 0,
    columns: [],
    rows: [],          // the round's cluster rows, in table order
    sort: DEFAULT_SORT, // {key, dir}
    selected: null,    // rank
    compare: [],       // ranks, in tick order
    level: 0,          // contour level (map units)
    mapStyle: 'surface',
    modelStyle: 'cartoon',
    metric: 'score',   // the point cloud's colour
    showPoints: true,
    shownMap: null,    // {version, grid [x, y, z]} of the map drawn
    points: null,      // {round, metric, n, min, max} of the point cloud drawn, null when none
    job: null,         // the last fit-again job (/api/jobs/ID)
    quality: null,     // 'low' | 'high'
    renderer: null,    // WebGL renderer name
    status: { text: '', error: false },
    log: [],           // every status line, errors prefixed 'error: '
    timings: {},       // name -> ms since navigation start
    ready: false,
    error: null,       // what stopped the page from starting
});

/** The state after one action ({type, ...}); unknown types throw. */
export function reduce(state, action) {
    switch (action.type) {
    case 'session': {
        // a fresh /api/session; level (the first time) sets the contour level to the session's
        const next = { ...state, session: action.session };
        if (action.level !== undefined) next.level = action.level;
        return next;
    }
    case 'round': {
        // the rows of a round; the selection stays when keepSelection and the rank is still
        // there, else the first row; comparisons are cleared
        const sort = action.columns.includes(state.sort.key) ? state.sort : DEFAULT_SORT;
        const rows = sortRows(action.rows, sort);
        const keep = action.keepSelection && rows.some(r => r.rank === state.selected);
        return {
            ...state,
            round: action.round,
            columns: action.columns.slice(),
            rows,
            sort,
            compare: [],
            selected: keep ? state.selected : (rows.length ? rows[0].rank : null),
        };
    }
    case 'sort': {
        const sort = nextSort(state.sort, action.key, action.dir);
        return { ...state, sort, rows: sortRows(state.rows, sort) };
    }
    case 'select':
        if (!state.rows.some(r => r.rank === action.rank)) return state;
        return state.selected === action.rank ? state : { ...state, selected: action.rank };
    case 'compare/toggle':
        return { ...state, compare: toggled(state.compare, action.rank) };
    case 'compare/clear':
        return state.compare.length ? { ...state, compare: [] } : state;
    case 'level':
        return { ...state, level: action.level };
    case 'mapStyle':
        return { ...state, mapStyle: action.style };
    case 'modelStyle':
        return { ...state, modelStyle: action.style };
    case 'metric':
        return { ...state, metric: action.metric };
    case 'showPoints':
        return { ...state, showPoints: !!action.show };
    case 'map/shown':
        return { ...state, shownMap: { version: action.version, grid: action.grid } };
    case 'points/shown':
        return { ...state, points: action.points };
    case 'job':
        return { ...state, job: action.job };
    case 'renderer':
        return { ...state, renderer: action.renderer, quality: action.quality };
    case 'status': {
        const text = action.text || '';
        const error = !!action.error;
        const log = text ? state.log.concat([(error ? 'error: ' : '') + text]) : state.log;
        return { ...state, status: { text, error }, log };
    }
    case 'timing':
        return { ...state, timings: { ...state.timings, [action.name]: action.ms } };
    case 'ready':
        return { ...state, ready: true };
    case 'failed':
        return { ...state, error: action.error };
    default:
        throw new Error(`unknown action ${JSON.stringify(action.type)}`);
    }
}
