import { test } from 'node:test';
import assert from 'node:assert/strict';

import { animationMs, chooseQuality, isSoftwareRenderer, mapMaxVoxels } from '../src/options.mjs';

test('software renderers are recognised by name', () => {
    for (const name of ['Google SwiftShader', 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)',
        'llvmpipe (LLVM 15.0.6, 256 bits)', 'softpipe', 'Microsoft Basic Render Driver (software)']) {
        assert.ok(isSoftwareRenderer(name), name);
    }
    for (const name of ['NVIDIA GeForce RTX 3080/PCIe/SSE2', 'ANGLE (Apple, Apple M1, OpenGL 4.1)', 'Mesa Intel(R) UHD Graphics 620']) {
        assert.ok(!isSoftwareRenderer(name), name);
    }
});

test('quality: ?quality= wins, else low on a software renderer', () => {
    assert.equal(chooseQuality('', 'llvmpipe'), 'low');
    assert.equal(chooseQuality('?token=abc', 'NVIDIA'), 'high');
    assert.equal(chooseQuality('?token=abc&quality=high', 'llvmpipe'), 'high');
    assert.equal(chooseQuality('?quality=low', 'NVIDIA'), 'low');
});

test('map size: ?map-max= wins, else the session size for the quality', () => {
    const sizes = { low: 64, high: 160 };
    assert.equal(mapMaxVoxels('', sizes, 'low'), 64);
    assert.equal(mapMaxVoxels('?token=t', sizes, 'high'), 160);
    assert.equal(mapMaxVoxels('?map-max=96', sizes, 'low'), 96);
    assert.equal(mapMaxVoxels('?map-max=0', sizes, 'high'), 160);   // 0 or junk: not given
    assert.equal(mapMaxVoxels('?map-max=abc', sizes, 'high'), 160);
});

test('animations are off on low quality', () => {
    assert.equal(animationMs('low'), 0);
    assert.equal(animationMs('high'), 250);
});
