import { test } from 'node:test';
import assert from 'node:assert/strict';

import { isoParams, lowQualityCanvasProps, modelParams, pointsParams, shiftParams } from '../src/molstar-params.mjs';
import { MAP_COLOR, POINT_COLORS, SHIFT_COLORS } from '../src/palette.mjs';

const defaults = {
    iso: { isoValue: { kind: 'relative', relativeValue: 2 }, alpha: 1, visuals: ['solid'], tryUseGpu: true, doubleSided: false },
    uniform: { value: 0x000000, saturation: 0 },
    size: { name: 'uniform', params: { value: 1 } },
};

test('isoParams: an absolute level over the defaults, surface or mesh', () => {
    const surface = isoParams(defaults, 0.42, 'surface', 'high');
    assert.equal(surface.type.name, 'isosurface');
    assert.deepEqual(surface.type.params, {
        isoValue: { kind: 'absolute', absoluteValue: 0.42 }, alpha: 0.3, visuals: ['solid'], tryUseGpu: true, doubleSided: false,
    });
    assert.deepEqual(surface.colorTheme, { name: 'uniform', params: { value: MAP_COLOR, saturation: 0 } });
    assert.deepEqual(surface.sizeTheme, { name: 'uniform', params: { value: 1 } });
    const mesh = isoParams(defaults, -1, 'mesh', 'high');
    assert.equal(mesh.type.params.alpha, 0.6);
    assert.deepEqual(mesh.type.params.visuals, ['wireframe']);
    // hidden is drawn as a surface (and the cell hidden)
    assert.deepEqual(isoParams(defaults, 1, 'hidden', 'high').type.params.visuals, ['solid']);
    // the defaults are not changed
    assert.equal(defaults.iso.alpha, 1);
});

test('isoParams: the surface is extracted on the CPU on low quality', () => {
    assert.equal(isoParams(defaults, 1, 'surface', 'low').type.params.tryUseGpu, false);
    assert.equal(isoParams(defaults, 1, 'surface', 'high').type.params.tryUseGpu, true);
});

test('modelParams: one colour, low-quality geometry on low', () => {
    assert.deepEqual(modelParams(0xff7f0e, 'cartoon', 'high'),
        { type: 'cartoon', color: 'uniform', colorParams: { value: 0xff7f0e } });
    assert.deepEqual(modelParams(0x1f77b4, 'spacefill', 'low'),
        { type: 'spacefill', color: 'uniform', colorParams: { value: 0x1f77b4 }, typeParams: { quality: 'low' } });
});

test('pointsParams: small spheres coloured over 0..100 by the palette', () => {
    const p = pointsParams();
    assert.equal(p.type, 'spacefill');
    assert.deepEqual(p.colorParams.domain, [0, 100]);
    assert.deepEqual(p.colorParams.list.colors, [...POINT_COLORS]);
    assert.deepEqual(p.sizeParams, { value: 0.7 });
});

test('lowQualityCanvasProps: effects off on low, Mol* defaults on high', () => {
    assert.equal(lowQualityCanvasProps('high'), null);
    const low = lowQualityCanvasProps('low');
    assert.equal(low.multiSample.mode, 'off');
    for (const k of ['occlusion', 'outline', 'antialiasing']) assert.equal(low.postprocessing[k].name, 'off');
});

test('shiftParams: a refined model coloured 0..shiftMax by the B column, at least 0.5 Å', () => {
    const p = shiftParams('cartoon', 'high', 3.2);
    assert.equal(p.type, 'cartoon');
    assert.equal(p.color, 'uncertainty');
    assert.deepEqual(p.colorParams.domain, [0, 3.2]);
    assert.deepEqual(p.colorParams.list.colors, [...SHIFT_COLORS]);
    assert.deepEqual(shiftParams('spacefill', 'low', 0.1).colorParams.domain, [0, 0.5]);
    assert.deepEqual(shiftParams('spacefill', 'low', 0.1).typeParams, { quality: 'low' });
});
