// Text the page shows: table cells, the working-map line, the legend, job progress, messages.
// Pure functions of the server's JSON (see src/difffit/viewer/server.py for its shapes).

/** Columns shown as left-aligned text. */
export const TEXT_COLUMNS = new Set(['structure']);

/** A table cell: integers as they are, density and overlap to 4 significant digits, other
 * numbers to 3 decimals; null, undefined and '' as ''. */
export function fmt(v, col) {
    if (v === null || v === undefined || v === '') return '';
    if (typeof v !== 'number') return String(v);
    if (col === 'rank' || col === 'hits' || col === 'refined' ||
        (Number.isInteger(v) && col !== 'density' && col !== 'overlap')) return String(v);
    if (col === 'density' || col === 'overlap') return v.toPrecision(4);
    return v.toFixed(3);
}

/** "61×49×40": a [z, y, x] shape written x × y × z. */
function xyz(shapeZyx) {
    return shapeZyx.slice().reverse().join('×');
}

/** The line under the table that says which map is the working map, its size (and the size it
 * is drawn at, shownGrid [x, y, z], when coarser), the voxels above the level and what was
 * zeroed. */
export function workingMapText(session, shownGrid) {
    const m = session.map;
    const h = session.history;
    let text = `working map: ${h.length ? h[h.length - 1].map : 'the original map'}`;
    text += ` · ${xyz(m.shape_zyx)} voxels`;
    if (shownGrid && shownGrid.join() !== m.shape_zyx.slice().reverse().join()) {
        text += ` (shown at ${shownGrid.join('×')})`;
    }
    text += ` · ${m.n_above_level} above level ${Number(session.level.toPrecision(4))}`;
    if (h.length) text += ` · ${h.length} zeroed: ${h.map(e => e.structure + ' #' + e.rank).join(', ')}`;
    return text;
}

/** The label of a round in the round menu. */
export function roundLabel(round) {
    return `${round.label} (${round.n_clusters} clusters)`;
}

/** The level slider's bounds: the map's value range, widened to hold the level. */
export function levelRange(map, level) {
    return {
        min: Math.min(map.min, level),
        max: Math.max(map.max, level),
        step: (map.max - map.min) / 1000 || 0.001,
    };
}

/** The level as the number box shows it (5 significant digits). */
export function levelText(level) {
    return Number(level.toPrecision(5));
}

/** The point-cloud legend's texts, from /api/points' {metric, min, max}. */
export function legendText(info) {
    const cut = info.total && info.n < info.total ? ` (best ${info.n} of ${info.total})` : '';
    return {
        title: `fits by ${info.metric}${cut}`,
        min: '≤ ' + fmt(info.min, info.metric),
        max: fmt(info.max, info.metric),
    };
}

/** The progress line of a fit-again job (/api/jobs/ID). */
export function jobText(job) {
    return `${job.state} ${job.stage} ${job.structure} ${job.done}/${job.total} · ${job.elapsed_s} s`;
}

/** Whether a job still runs (the Fit button stays disabled). */
export function jobRunning(job) {
    return !!job && (job.state === 'queued' || job.state === 'running');
}

/** What the status line says after /api/zero. */
export function zeroedText(res) {
    return `zeroed ${res.structure} (rank ${res.rank}): ${res.n_voxels_zeroed} voxels; ` +
        `voxels above the level ${res.n_above_before} → ${res.n_above_after} (${res.map})`;
}

/** The message of any thrown value. */
export function errorText(e) {
    return e && e.message ? e.message : String(e);
}

/** The header line of a session: map name, resolution, level and the kind of folder. */
export function headerText(s) {
    const parts = [s.map_name || ''];
    if (typeof s.resolution === 'number') parts.push(`${s.resolution} Å`);
    if (typeof s.level === 'number') parts.push(`level ${Number(s.level.toPrecision(3))}`);
    if (s.kind) parts.push(s.kind);
    return parts.filter(Boolean).join(' · ');
}

/** A composite round's decisions (/api/decisions rows) counted: 'accept 1 · below bar 9'. */
export function decisionSummary(rows) {
    const counts = new Map();
    for (const r of rows) counts.set(r.decision, (counts.get(r.decision) || 0) + 1);
    return [...counts].map(([d, n]) => `${d} ${n}`).join(' · ');
}
