import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
    errorText, fmt, jobRunning, jobText, legendText, levelRange, levelText, roundLabel,
    workingMapText, zeroedText,
} from '../src/format.mjs';

test('fmt: empty values are blank, text is text', () => {
    assert.equal(fmt(null, 'score'), '');
    assert.equal(fmt(undefined, 'score'), '');
    assert.equal(fmt('', 'score'), '');
    assert.equal(fmt('chainA.pdb', 'structure'), 'chainA.pdb');
    assert.equal(fmt(true, 'refined'), 'true');
});

test('fmt: counts as integers, density and overlap to 4 digits, the rest to 3 decimals', () => {
    assert.equal(fmt(3, 'rank'), '3');
    assert.equal(fmt(12, 'hits'), '12');
    assert.equal(fmt(1, 'refined'), '1');
    assert.equal(fmt(7, 'score'), '7');          // an integer in any other column
    assert.equal(fmt(0.123456, 'score'), '0.123');
    assert.equal(fmt(-1.5, 'shift'), '-1.500');
    assert.equal(fmt(0.000123456, 'density'), '0.0001235');
    assert.equal(fmt(2, 'density'), '2.000');     // density never as a bare integer
    assert.equal(fmt(0.5, 'overlap'), '0.5000');
});

const session = (history, shownLevel = 0.0123456) => ({
    level: shownLevel,
    history,
    map: { shape_zyx: [40, 49, 61], n_above_level: 1234, min: -1, max: 3 },
});

test('workingMapText: the original map, its size x×y×z and the voxels above the level', () => {
    assert.equal(workingMapText(session([]), null),
        'working map: the original map · 61×49×40 voxels · 1234 above level 0.01235');
    // the grid drawn is only mentioned when it differs
    assert.equal(workingMapText(session([]), [61, 49, 40]),
        'working map: the original map · 61×49×40 voxels · 1234 above level 0.01235');
    assert.equal(workingMapText(session([]), [31, 25, 20]),
        'working map: the original map · 61×49×40 voxels (shown at 31×25×20) · 1234 above level 0.01235');
});

test('workingMapText: after zeroing, the last map and what was zeroed', () => {
    const h = [{ map: 'zeroed_1.mrc', structure: 'a.pdb', rank: 1 }, { map: 'zeroed_2.mrc', structure: 'b.pdb', rank: 4 }];
    assert.equal(workingMapText(session(h, 2), null),
        'working map: zeroed_2.mrc · 61×49×40 voxels · 1234 above level 2 · 2 zeroed: a.pdb #1, b.pdb #4');
});

test('workingMapText does not reorder the session shape', () => {
    const s = session([]);
    workingMapText(s, [1, 2, 3]);
    assert.deepEqual(s.map.shape_zyx, [40, 49, 61]);
});

test('levelRange widens the map range to hold the level; the step is a thousandth', () => {
    assert.deepEqual(levelRange({ min: -1, max: 3 }, 0.5), { min: -1, max: 3, step: 0.004 });
    assert.deepEqual(levelRange({ min: -1, max: 3 }, 5), { min: -1, max: 5, step: 0.004 });
    assert.deepEqual(levelRange({ min: -1, max: 3 }, -2), { min: -2, max: 3, step: 0.004 });
    assert.equal(levelRange({ min: 1, max: 1 }, 1).step, 0.001); // a flat map
});

test('levelText keeps 5 significant digits', () => {
    assert.equal(levelText(0.0123456789), 0.012346);
    assert.equal(levelText(12345.678), 12346);
});

test('roundLabel, legendText, jobText, zeroedText, errorText', () => {
    assert.equal(roundLabel({ id: 1, label: 'fit again 1', n_clusters: 5 }), 'fit again 1 (5 clusters)');
    assert.deepEqual(legendText({ metric: 'score', min: 0.1234, max: 0.9 }),
        { title: 'fits by score', min: '≤ 0.123', max: '0.900' });
    assert.deepEqual(legendText({ metric: 'density', min: 0.01, max: 0.5 }),
        { title: 'fits by density', min: '≤ 0.01000', max: '0.5000' });
    assert.equal(jobText({ state: 'running', stage: 'fit', structure: 'a.pdb', done: 2, total: 8, elapsed_s: 1.5 }),
        'running fit a.pdb 2/8 · 1.5 s');
    assert.equal(zeroedText({ structure: 'a.pdb', rank: 2, n_voxels_zeroed: 100, n_above_before: 500,
        n_above_after: 400, map: 'zeroed_1.mrc' }),
    'zeroed a.pdb (rank 2): 100 voxels; voxels above the level 500 → 400 (zeroed_1.mrc)');
    assert.equal(errorText(new Error('boom')), 'boom');
    assert.equal(errorText('plain'), 'plain');
    assert.equal(errorText(null), 'null');
});

test('jobRunning: queued and running jobs only', () => {
    assert.equal(jobRunning(null), false);
    assert.equal(jobRunning({ state: 'queued' }), true);
    assert.equal(jobRunning({ state: 'running' }), true);
    assert.equal(jobRunning({ state: 'done' }), false);
    assert.equal(jobRunning({ state: 'failed' }), false);
});

import { decisionSummary, headerText, legendText as legend2 } from '../src/format.mjs';

test('the header names the map, resolution, level and kind', () => {
    assert.equal(headerText({ map_name: 'toy.mrc', resolution: 5, level: 0.20912, kind: 'composite' }),
        'toy.mrc · 5 Å · level 0.209 · composite');
    assert.equal(headerText({ map_name: 'm.mrc', resolution: null, level: 1 }), 'm.mrc · level 1');
});

test('decisions are counted in order of first appearance', () => {
    assert.equal(decisionSummary([{ decision: 'accept' }, { decision: 'below bar' }, { decision: 'below bar' }]),
        'accept 1 · below bar 2');
    assert.equal(decisionSummary([]), '');
});

test('the legend says when the cloud is cut to the best points', () => {
    assert.match(legend2({ metric: 'score', min: 0, max: 1, n: 5, total: 48 }).title, /best 5 of 48/);
    assert.equal(legend2({ metric: 'score', min: 0, max: 1, n: 48, total: 48 }).title, 'fits by score');
});
