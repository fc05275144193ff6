import { test } from 'node:test';
import assert from 'node:assert/strict';

import { COMPARE_COLORS, POINT_COLORS, SELECTED_COLOR, compareColor, hex } from '../src/palette.mjs';

test('hex pads to six digits', () => {
    assert.equal(hex(0xff7f0e), '#ff7f0e');
    assert.equal(hex(0x0000ff), '#0000ff');
    assert.equal(hex(0), '#000000');
});

test('compare colours cycle and never use the selection colour', () => {
    assert.equal(compareColor(0), 0x1f77b4);
    assert.equal(compareColor(COMPARE_COLORS.length), compareColor(0));
    assert.equal(compareColor(COMPARE_COLORS.length + 3), compareColor(3));
    assert.equal(new Set(COMPARE_COLORS).size, COMPARE_COLORS.length);
    assert.ok(!COMPARE_COLORS.includes(SELECTED_COLOR));
});

test('at least twenty distinct compare colours before the cycle repeats', () => {
    assert.ok(COMPARE_COLORS.length >= 20);
    const firstTwenty = Array.from({ length: 20 }, (_, i) => compareColor(i));
    assert.equal(new Set(firstTwenty).size, 20);
});

test('the palettes cannot be changed by a caller', () => {
    assert.throws(() => { COMPARE_COLORS[0] = 0; }, TypeError);
    assert.throws(() => { POINT_COLORS.push(0); }, TypeError);
});
