import { test } from 'node:test';
import assert from 'node:assert/strict';

import { initialState, reduce } from '../src/state.mjs';
import { createStore } from '../src/store.mjs';

const rows = [
    { rank: 1, structure: 'a.pdb', score: 0.5 },
    { rank: 2, structure: 'b.pdb', score: 0.9 },
    { rank: 3, structure: 'a.pdb', score: 0.7 },
];
const columns = ['rank', 'structure', 'score'];
const withRound = (state = initialState, extra = {}) =>
    reduce(state, { type: 'round', round: 0, columns, rows, ...extra });

/** Deep-freeze a state so that a reducer that edits it in place throws. */
function frozen(v) {
    if (v && typeof v === 'object' && !Object.isFrozen(v)) {
        Object.freeze(v);
        for (const x of Object.values(v)) frozen(x);
    }
    return v;
}

test('the initial state', () => {
    assert.equal(initialState.round, 0);
    assert.deepEqual(initialState.sort, { key: 'rank', dir: 1 });
    assert.equal(initialState.selected, null);
    assert.deepEqual(initialState.compare, []);
    assert.equal(initialState.showPoints, true);
    assert.equal(initialState.ready, false);
});

test('round: rows in the current order, the first row selected, comparisons cleared', () => {
    const s = withRound();
    assert.deepEqual(s.rows.map(r => r.rank), [1, 2, 3]);
    assert.equal(s.selected, 1);
    const sorted = reduce(frozen(s), { type: 'sort', key: 'score' });
    const ticked = frozen(reduce(sorted, { type: 'compare/toggle', rank: 3 }));
    const again = reduce(ticked, { type: 'round', round: 1, columns, rows });
    assert.equal(again.round, 1);
    assert.deepEqual(again.rows.map(r => r.rank), [2, 3, 1]); // still by score, best first
    assert.equal(again.selected, 2);
    assert.deepEqual(again.compare, []);
});

test('round: keepSelection keeps a rank that is still there', () => {
    const s = frozen(reduce(withRound(), { type: 'select', rank: 3 }));
    assert.equal(reduce(s, { type: 'round', round: 0, columns, rows, keepSelection: true }).selected, 3);
    assert.equal(reduce(s, { type: 'round', round: 0, columns, rows }).selected, 1);
    const fewer = rows.slice(0, 2);
    assert.equal(reduce(s, { type: 'round', round: 0, columns, rows: fewer, keepSelection: true }).selected, 1);
    assert.equal(reduce(s, { type: 'round', round: 0, columns, rows: [], keepSelection: true }).selected, null);
});

test('round: a sort on a column the round lacks goes back to rank', () => {
    const s = frozen(reduce(withRound(), { type: 'sort', key: 'score' }));
    const next = reduce(s, { type: 'round', round: 1, columns: ['rank', 'structure'], rows });
    assert.deepEqual(next.sort, { key: 'rank', dir: 1 });
    assert.deepEqual(next.rows.map(r => r.rank), [1, 2, 3]);
});

test('sort: clicks cycle the direction and reorder the rows', () => {
    let s = frozen(withRound());
    s = frozen(reduce(s, { type: 'sort', key: 'score' }));
    assert.deepEqual(s.sort, { key: 'score', dir: -1 });
    assert.deepEqual(s.rows.map(r => r.rank), [2, 3, 1]);
    s = frozen(reduce(s, { type: 'sort', key: 'score' }));
    assert.deepEqual(s.rows.map(r => r.rank), [1, 3, 2]);
    s = reduce(s, { type: 'sort', key: 'structure', dir: -1 });
    assert.deepEqual(s.rows.map(r => r.rank), [2, 1, 3]);
    assert.equal(s.selected, 1); // sorting keeps the selection
});

test('select: only a rank of the table; the same rank leaves the state as it is', () => {
    const s = frozen(withRound());
    assert.equal(reduce(s, { type: 'select', rank: 2 }).selected, 2);
    assert.equal(reduce(s, { type: 'select', rank: 99 }), s);
    assert.equal(reduce(s, { type: 'select', rank: 1 }), s);
});

test('compare: ticks in order, untick, clear', () => {
    let s = frozen(withRound());
    s = frozen(reduce(s, { type: 'compare/toggle', rank: 3 }));
    s = frozen(reduce(s, { type: 'compare/toggle', rank: 1 }));
    assert.deepEqual(s.compare, [3, 1]);
    s = frozen(reduce(s, { type: 'compare/toggle', rank: 3 }));
    assert.deepEqual(s.compare, [1]);
    s = frozen(reduce(s, { type: 'compare/clear' }));
    assert.deepEqual(s.compare, []);
    assert.equal(reduce(s, { type: 'compare/clear' }), s);
});

test('session: the first one sets the level, later ones keep it', () => {
    const session = { level: 0.25, map: { version: 0 }, history: [], rounds: [] };
    let s = frozen(reduce(initialState, { type: 'session', session, level: session.level }));
    assert.equal(s.session, session);
    assert.equal(s.level, 0.25);
    s = frozen(reduce(s, { type: 'level', level: 0.5 }));
    const later = { ...session, map: { version: 1 } };
    s = reduce(s, { type: 'session', session: later });
    assert.equal(s.session, later);
    assert.equal(s.level, 0.5);
});

test('status: the line and the log; errors are marked', () => {
    let s = frozen(reduce(initialState, { type: 'status', text: 'saved x' }));
    s = frozen(reduce(s, { type: 'status', text: 'bad', error: true }));
    assert.deepEqual(s.status, { text: 'bad', error: true });
    assert.deepEqual(s.log, ['saved x', 'error: bad']);
    s = reduce(s, { type: 'status', text: '' });
    assert.deepEqual(s.status, { text: '', error: false });
    assert.equal(s.log.length, 2); // an empty line is not logged
});

test('the other fields, each by its own action', () => {
    let s = frozen(initialState);
    s = frozen(reduce(s, { type: 'mapStyle', style: 'mesh' }));
    s = frozen(reduce(s, { type: 'modelStyle', style: 'spacefill' }));
    s = frozen(reduce(s, { type: 'metric', metric: 'density' }));
    s = frozen(reduce(s, { type: 'showPoints', show: false }));
    s = frozen(reduce(s, { type: 'map/shown', version: 2, grid: [10, 20, 30] }));
    s = frozen(reduce(s, { type: 'points/shown', points: { round: 0, metric: 'density', n: 5, min: 0, max: 1 } }));
    s = frozen(reduce(s, { type: 'job', job: { id: 1, state: 'queued' } }));
    s = frozen(reduce(s, { type: 'renderer', renderer: 'llvmpipe', quality: 'low' }));
    s = frozen(reduce(s, { type: 'timing', name: 'map', ms: 120 }));
    s = frozen(reduce(s, { type: 'timing', name: 'ready', ms: 300 }));
    s = frozen(reduce(s, { type: 'failed', error: 'no WebGL' }));
    s = reduce(s, { type: 'ready' });
    assert.equal(s.mapStyle, 'mesh');
    assert.equal(s.modelStyle, 'spacefill');
    assert.equal(s.metric, 'density');
    assert.equal(s.showPoints, false);
    assert.deepEqual(s.shownMap, { version: 2, grid: [10, 20, 30] });
    assert.equal(s.points.n, 5);
    assert.equal(s.job.state, 'queued');
    assert.equal(s.quality, 'low');
    assert.deepEqual(s.timings, { map: 120, ready: 300 });
    assert.equal(s.error, 'no WebGL');
    assert.equal(s.ready, true);
    assert.equal(initialState.mapStyle, 'surface'); // the initial state is untouched
});

test('an unknown action throws', () => {
    assert.throws(() => reduce(initialState, { type: 'nope' }), /unknown action "nope"/);
});

test('store: dispatch through the reducer, listeners on change only', () => {
    const store = createStore(reduce, initialState);
    const seen = [];
    const off = store.subscribe((next, prev) => seen.push([prev.selected, next.selected]));
    store.dispatch({ type: 'round', round: 0, columns, rows });
    store.dispatch({ type: 'select', rank: 2 });
    store.dispatch({ type: 'select', rank: 2 });   // no change: no call
    store.dispatch({ type: 'select', rank: 42 });  // not in the table: no call
    assert.deepEqual(seen, [[null, 1], [1, 2]]);
    assert.equal(store.getState().selected, 2);
    off();
    store.dispatch({ type: 'select', rank: 3 });
    assert.equal(seen.length, 2);
    assert.equal(store.getState().selected, 3);
});
