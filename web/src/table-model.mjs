// The cluster table as data: row order, sort rules, selection moves and which models the 3D
// view should hold. Rows are /api/clusters' row objects; a cluster is named by its rank.

import { SELECTED_COLOR, compareColor } from './palette.mjs';

/** Columns whose first click sorts ascending (the others start with the largest first). */
export const ASC_FIRST = new Set(['rank', 'structure', 'refined']);

/** The default order. */
export const DEFAULT_SORT = Object.freeze({ key: 'rank', dir: 1 });

/** Compare two rows by sort.key in sort.dir (1 ascending, -1 descending), ties by rank.
 * Numbers compare as numbers, other values as text; a missing value sorts after a present one
 * before the direction is applied. */
export function compareRows(a, b, sort) {
    const { key, dir } = sort;
    const x = a[key], y = b[key];
    let c;
    if (typeof x === 'number' && typeof y === 'number') c = x - y;
    else if (x === null || x === undefined) c = 1;
    else if (y === null || y === undefined) c = -1;
    else c = String(x).localeCompare(String(y));
    return c * dir || (a.rank - b.rank);
}

/** A sorted copy of rows. */
export function sortRows(rows, sort) {
    return rows.slice().sort((a, b) => compareRows(a, b, sort));
}

/** The sort after a click on col's header (dir undefined) or a sort asked for in dir: a second
 * click on the sorted column flips it; a first click starts ascending for ASC_FIRST columns,
 * descending for the others. */
export function nextSort(sort, col, dir) {
    if (dir === undefined) dir = sort.key === col ? -sort.dir : (ASC_FIRST.has(col) ? 1 : -1);
    return { key: col, dir: dir > 0 ? 1 : -1 };
}

/** The rank delta rows away from selected (clamped to the table; the first row when nothing
 * is selected), or null for an empty table. */
export function moveSelection(rows, selected, delta) {
    if (!rows.length) return null;
    let i = rows.findIndex(r => r.rank === selected);
    i = i < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, i + delta));
    return rows[i].rank;
}

/** compare with rank ticked (appended) or unticked. */
export function toggled(compare, rank) {
    return compare.includes(rank) ? compare.filter(r => r !== rank) : compare.concat([rank]);
}

/** The key of a model in the 3D view: "round:rank". */
export function modelKey(round, rank) {
    return `${round}:${rank}`;
}

/** The models the 3D view should hold: key -> {round, rank, color}, the compared clusters in
 * tick order, then the selected one (in the selection's colour, even when also compared). */
export function desiredModels({ round, compare, selected }) {
    const want = new Map();
    compare.forEach((rank, i) => {
        want.set(modelKey(round, rank), { round, rank, color: compareColor(i) });
    });
    if (selected !== null) {
        want.set(modelKey(round, selected), { round, rank: selected, color: SELECTED_COLOR });
    }
    return want;
}

/** What to change to go from the models held (key -> {color, style}) to the ones wanted
 * (desiredModels) drawn in style: the keys to remove (not wanted, or drawn in another style),
 * then the steps, in the order of want: {key, op: 'load'} for a model to load, {key, op:
 * 'recolour'} for one held in another colour. */
export function planModels(have, want, style) {
    const remove = [];
    for (const [key, m] of have) {
        if (!want.has(key) || m.style !== style) remove.push(key);
    }
    const steps = [];
    for (const [key, w] of want) {
        const m = remove.includes(key) ? undefined : have.get(key);
        if (!m) steps.push({ key, op: 'load' });
        else if (m.color !== w.color) steps.push({ key, op: 'recolour' });
    }
    return { remove, steps };
}

/** The key of the selected cluster whose symmetry mates are shown, or null: a round of a
 * --symmetry fit or run (its session entry names the group) with a cluster selected. */
export function matesKey({ session, round, selected }) {
    if (!session || selected === null || selected === undefined) return null;
    const r = session.rounds.find(x => x.id === round);
    return r && r.symmetry ? modelKey(round, selected) : null;
}
