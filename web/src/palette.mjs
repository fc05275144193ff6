// The page's colours (0xRRGGBB numbers, as Mol* takes them).

/** The selected cluster's model. */
export const SELECTED_COLOR = 0xff7f0e;
/** The models of the clusters ticked for comparison, in tick order (cycled past the 20th):
 * Tableau 10, then its light tints, then four more distinct hues; none is the selection orange. */
export const COMPARE_COLORS = Object.freeze([
    0x1f77b4, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22,
    0x7f7f7f, 0x393b79, 0xaec7e8, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94, 0xf7b6d2,
    0x9edae5, 0xdbdb8d, 0x637939, 0x843c39,
]);
/** The symmetry mates of the selected cluster (a --symmetry round): a light tint of the
 * selection orange. */
export const MATES_COLOR = 0xffc58a;
/** The working map's isosurface. */
export const MAP_COLOR = 0x8c9db5;
/** The point cloud of placements: viridis, best first (the B-factor colour theme runs its list
 * in reverse, low -> last). */
export const POINT_COLORS = Object.freeze([0xfde725, 0x5ec962, 0x21918c, 0x3b528b, 0x440154]);

/** A refined model's residues by shift from the rigid placement: largest first (red), none last
 * (blue), as the B-factor theme runs its list. */
export const SHIFT_COLORS = Object.freeze([0xd62728, 0xfdae61, 0xf7f7f7, 0x4575b4]);

/** CSS hex of a 0xRRGGBB number: hex(0xff7f0e) === '#ff7f0e'. */
export function hex(color) {
    return '#' + color.toString(16).padStart(6, '0');
}

/** The colour of the i-th compared cluster (0-based, in tick order). */
export function compareColor(i) {
    return COMPARE_COLORS[i % COMPARE_COLORS.length];
}
