// The parameters of the Mol* representations the page makes, as plain data. The adapter
// (molstar.mjs) passes in the defaults it reads from Mol*'s registries.

import { MAP_COLOR, POINT_COLORS, SHIFT_COLORS } from './palette.mjs';

/** The working map's isosurface at level (absolute, map units) in style 'surface' | 'mesh' |
 * 'hidden'. defaults: {iso: the isosurface type's defaultValues, uniform: the uniform colour
 * theme's defaultValues, size: {name, params} of the type's default size theme}. */
export function isoParams(defaults, level, style, quality) {
    const mesh = style === 'mesh';
    return {
        type: {
            name: 'isosurface',
            params: {
                ...defaults.iso,
                // on a software renderer, extract the surface in JavaScript: the GPU path
                // (texture mesh) is far slower when the "GPU" is the CPU
                tryUseGpu: quality !== 'low',
                isoValue: { kind: 'absolute', absoluteValue: level },
                alpha: mesh ? 0.6 : 0.3,
                visuals: mesh ? ['wireframe'] : ['solid'],
            },
        },
        colorTheme: { name: 'uniform', params: { ...defaults.uniform, value: MAP_COLOR } },
        sizeTheme: { name: defaults.size.name, params: defaults.size.params },
    };
}

/** A fitted model in one colour, drawn in style ('cartoon', 'ball-and-stick', 'spacefill'). */
export function modelParams(color, style, quality) {
    const p = { type: style, color: 'uniform', colorParams: { value: color } };
    if (quality === 'low') p.typeParams = { quality: 'low' };
    return p;
}

/** A refined model (composite --flexible) coloured by each residue's shift from the rigid
 * placement, which the server wrote in the B-factor field: 0 (blue) .. shiftMax Å (red; at
 * least 0.5 Å, so that a model that hardly moved stays blue). */
export function shiftParams(style, quality, shiftMax) {
    const p = {
        type: style,
        color: 'uncertainty',
        colorParams: {
            domain: [0, Math.max(0.5, shiftMax)],
            list: { kind: 'interpolate', colors: SHIFT_COLORS.slice() },
        },
    };
    if (quality === 'low') p.typeParams = { quality: 'low' };
    return p;
}

/** The point cloud: one small sphere per placement, coloured by the score the server wrote in
 * the B-factor field (0..100, best 100). */
export function pointsParams() {
    return {
        type: 'spacefill',
        color: 'uncertainty',
        colorParams: { domain: [0, 100], list: { kind: 'interpolate', colors: POINT_COLORS.slice() } },
        size: 'uniform',
        sizeParams: { value: 0.7 },
    };
}

/** The canvas settings for a quality: on 'low', no multi-sampling, occlusion, outline or
 * antialiasing, and blended transparency; null on 'high' (Mol*'s defaults). */
export function lowQualityCanvasProps(quality) {
    if (quality !== 'low') return null;
    return {
        transparency: 'blended',
        multiSample: { mode: 'off' },
        postprocessing: {
            occlusion: { name: 'off', params: {} },
            outline: { name: 'off', params: {} },
            antialiasing: { name: 'off', params: {} },
        },
    };
}
