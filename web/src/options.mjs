// The page's own URL options (after the token): ?quality=low|high, ?map-max=N, and how the
// renderer decides the default quality.

/** Whether a WebGL renderer's name is a software one (SwiftShader, llvmpipe: headless browsers,
 * remote desktops), which draws every pixel on the CPU. */
export function isSoftwareRenderer(name) {
    return /swiftshader|llvmpipe|softpipe|software/i.test(name);
}

/** 'low' or 'high': ?quality= when given, else 'low' on a software renderer. On 'low' the page
 * turns off the costly screen-space effects. */
export function chooseQuality(search, rendererName) {
    return new URLSearchParams(search).get('quality') || (isSoftwareRenderer(rendererName) ? 'low' : 'high');
}

/** The longest map edge (voxels) to ask the server for: ?map-max=N, else the session's
 * display_max_voxels for the quality (coarser on a software renderer, where the isosurface's
 * triangles are most of the cost of a frame). */
export function mapMaxVoxels(search, displayMaxVoxels, quality) {
    const given = Number(new URLSearchParams(search).get('map-max'));
    if (given) return given;
    return quality === 'low' ? displayMaxVoxels.low : displayMaxVoxels.high;
}

/** Camera animations last 250 ms, none on a software renderer. */
export function animationMs(quality) {
    return quality === 'low' ? 0 : 250;
}
