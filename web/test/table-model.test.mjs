import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
    compareRows, desiredModels, matesKey, modelKey, moveSelection, nextSort, planModels, sortRows,
    toggled,
} from '../src/table-model.mjs';
import { SELECTED_COLOR, compareColor } from '../src/palette.mjs';

const rows = [
    { rank: 1, structure: 'b.pdb', score: 0.5, refined: 1, density: null },
    { rank: 2, structure: 'a.pdb', score: 0.9, refined: 0, density: 0.2 },
    { rank: 3, structure: 'c.pdb', score: 0.5, refined: 1, density: 0.1 },
    { rank: 4, structure: 'a.pdb', score: 0.7, refined: 0, density: undefined },
];
const ranks = (rs) => rs.map(r => r.rank);

test('sortRows: numbers, text, ties by rank, and a copy', () => {
    assert.deepEqual(ranks(sortRows(rows, { key: 'score', dir: -1 })), [2, 4, 1, 3]);
    assert.deepEqual(ranks(sortRows(rows, { key: 'score', dir: 1 })), [1, 3, 4, 2]);
    assert.deepEqual(ranks(sortRows(rows, { key: 'structure', dir: 1 })), [2, 4, 1, 3]);
    assert.deepEqual(ranks(sortRows(rows, { key: 'structure', dir: -1 })), [3, 1, 2, 4]);
    const copy = rows.slice();
    sortRows(rows, { key: 'score', dir: 1 });
    assert.deepEqual(rows, copy); // the input is not reordered
});

test('sortRows: a missing value goes after a present one ascending, before it descending', () => {
    assert.deepEqual(ranks(sortRows(rows, { key: 'density', dir: 1 })).slice(0, 2), [3, 2]);
    assert.deepEqual(ranks(sortRows(rows, { key: 'density', dir: -1 })).slice(2), [2, 3]);
});

test('compareRows breaks ties by rank whatever the direction', () => {
    assert.ok(compareRows(rows[0], rows[2], { key: 'score', dir: 1 }) < 0);
    assert.ok(compareRows(rows[0], rows[2], { key: 'score', dir: -1 }) < 0);
});

test('nextSort: first click by column kind, second click flips, an explicit direction wins', () => {
    const byRank = { key: 'rank', dir: 1 };
    assert.deepEqual(nextSort(byRank, 'score'), { key: 'score', dir: -1 });
    assert.deepEqual(nextSort(byRank, 'structure'), { key: 'structure', dir: 1 });
    assert.deepEqual(nextSort(byRank, 'refined'), { key: 'refined', dir: 1 });
    assert.deepEqual(nextSort(byRank, 'rank'), { key: 'rank', dir: -1 });
    assert.deepEqual(nextSort({ key: 'score', dir: -1 }, 'score'), { key: 'score', dir: 1 });
    assert.deepEqual(nextSort(byRank, 'score', 1), { key: 'score', dir: 1 });
    assert.deepEqual(nextSort(byRank, 'score', -5), { key: 'score', dir: -1 });
    assert.deepEqual(nextSort(byRank, 'score', 0), { key: 'score', dir: -1 });
});

test('moveSelection clamps to the table and starts at the first row', () => {
    const order = sortRows(rows, { key: 'score', dir: -1 }); // 2, 4, 1, 3
    assert.equal(moveSelection(order, 4, 1), 1);
    assert.equal(moveSelection(order, 4, -1), 2);
    assert.equal(moveSelection(order, 2, -1), 2);
    assert.equal(moveSelection(order, 3, 1), 3);
    assert.equal(moveSelection(order, 2, 10), 3);
    assert.equal(moveSelection(order, null, 1), 2);
    assert.equal(moveSelection(order, 99, -1), 2);
    assert.equal(moveSelection([], 1, 1), null);
});

test('toggled appends or removes, leaving the input alone', () => {
    const c = [3, 1];
    assert.deepEqual(toggled(c, 2), [3, 1, 2]);
    assert.deepEqual(toggled(c, 3), [1]);
    assert.deepEqual(c, [3, 1]);
});

test('desiredModels: the compared in tick order and colours, then the selection in its colour', () => {
    const want = desiredModels({ round: 2, compare: [5, 3], selected: 1 });
    assert.deepEqual([...want.keys()], ['2:5', '2:3', '2:1']);
    assert.deepEqual(want.get('2:5'), { round: 2, rank: 5, color: compareColor(0) });
    assert.deepEqual(want.get('2:3'), { round: 2, rank: 3, color: compareColor(1) });
    assert.deepEqual(want.get('2:1'), { round: 2, rank: 1, color: SELECTED_COLOR });
    // a selected row that is also ticked is drawn once, in the selection's colour
    const both = desiredModels({ round: 0, compare: [1, 2], selected: 1 });
    assert.deepEqual([...both.keys()], ['0:1', '0:2']);
    assert.equal(both.get('0:1').color, SELECTED_COLOR);
    assert.equal(desiredModels({ round: 0, compare: [], selected: null }).size, 0);
    assert.equal(modelKey(3, 7), '3:7');
});

test('planModels: remove the unwanted and restyled, then load or recolour in wanted order', () => {
    const have = new Map([
        ['0:1', { color: SELECTED_COLOR, style: 'cartoon' }],
        ['0:2', { color: compareColor(0), style: 'cartoon' }],
        ['0:3', { color: compareColor(1), style: 'cartoon' }],
    ]);
    const want = desiredModels({ round: 0, compare: [3, 4], selected: 2 });
    assert.deepEqual(planModels(have, want, 'cartoon'), {
        remove: ['0:1'],
        steps: [{ key: '0:3', op: 'recolour' }, { key: '0:4', op: 'load' }, { key: '0:2', op: 'recolour' }],
    });
    // another style: everything is reloaded
    const restyled = planModels(have, want, 'spacefill');
    assert.deepEqual(restyled.remove, ['0:1', '0:2', '0:3']);
    assert.deepEqual(restyled.steps.map(s => s.op), ['load', 'load', 'load']);
    // nothing to do when the view holds what is wanted
    const same = new Map([...want].map(([k, w]) => [k, { color: w.color, style: 'cartoon' }]));
    assert.deepEqual(planModels(same, want, 'cartoon'), { remove: [], steps: [] });
});

test('the mates of the selected cluster are shown only in a round with symmetry', () => {
    const session = { rounds: [{ id: 0, symmetry: null }, { id: 1, symmetry: 'D7' }] };
    assert.equal(matesKey({ session, round: 1, selected: 3 }), modelKey(1, 3));
    assert.equal(matesKey({ session, round: 0, selected: 3 }), null);
    assert.equal(matesKey({ session, round: 1, selected: null }), null);
    assert.equal(matesKey({ session: null, round: 1, selected: 3 }), null);
});
