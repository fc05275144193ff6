// The Mol* adapter: the only module that talks to Mol*'s plugin (the global `molstar`, bundled
// from web/molstar-entry.mjs by scripts/build-viewer). The 3D view holds at most the working
// map (an isosurface), the point cloud of the current round's placements and the fitted models
// of the selected and compared clusters. The adapter keeps the Mol* handles of what it loaded
// (private to it) and reads back what is drawn from Mol*'s own state tree (describe()).

import { MATES_COLOR, hex } from './palette.mjs';
import { isoParams, lowQualityCanvasProps, modelParams, pointsParams, shiftParams } from './molstar-params.mjs';
import { animationMs, chooseQuality } from './options.mjs';
import { desiredModels, matesKey, modelKey, planModels } from './table-model.mjs';

const lib = () => globalThis.molstar.lib;

function rendererName(gl) {
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
}

/**
 * @param {{element: HTMLElement, api: object, search: string, onPickFit: (fitId: number) => void}} opts
 *     element: where Mol* draws; api: the API client (api.mjs); search: the page's
 *     location.search; onPickFit: called with the fit id of a clicked point of the cloud
 */
export function createMolstarView({ element, api, search, onPickFit }) {
    let plugin = null;
    let quality = 'high';
    let map = null;       // {dataRef, volumeRef, reprRef, version, grid}
    let points = null;    // {dataRef, structRef, reprRef, round, metric, n, min, max, clusterOfFit}
    const models = new Map(); // key -> {key, round, rank, dataRef, structRef, reprRef, color, style}
    let lastFocused = null;
    let lastFramed = null; // the compared models the camera was last fitted to ('a|b|c')
    let holds = 0;

    const cells = () => plugin.state.data.cells;

    function cellObj(ref) {
        const cell = ref && cells().get(ref);
        return cell && cell.obj ? cell.obj : null;
    }

    async function deleteRef(ref) {
        if (!ref || !cells().has(ref)) return;
        await plugin.build().delete(ref).commit();
    }

    function setHidden(ref, hidden) {
        const cell = cells().get(ref);
        if (cell && !!cell.state.isHidden !== hidden) plugin.state.data.updateCellState(ref, { isHidden: hidden });
    }

    // ---------------------------------------------------------------- start, drawing, camera
    /** Start Mol*'s plugin without its React user interface (the page has its own controls, and
     * the plugin starts several times faster without it); resolves to {renderer, quality}. */
    async function start() {
        const L = lib().plugin;
        const spec = L.DefaultPluginSpec();
        spec.config = (spec.config || []).concat([[L.PluginConfig.VolumeStreaming.Enabled, false]]);
        const p = new L.PluginContext(spec);
        await p.init();
        const ok = await p.mountAsync(element);
        if (ok === false || !p.canvas3d) throw new Error('WebGL is not available in this browser: Mol* cannot draw');
        plugin = p;
        const canvas = p.canvas3d;
        const renderer = rendererName(canvas.webgl.gl);
        quality = chooseQuality(search, renderer);
        canvas.setProps({ camera: { manualReset: true } }); // until the first frame
        const low = lowQualityCanvasProps(quality);
        if (low) canvas.setProps(low);
        p.behaviors.interaction.click.subscribe((ev) => {
            const id = fitIdAt(ev.current && ev.current.loci);
            if (id !== null) onPickFit(id);
        });
        return { renderer, quality };
    }

    // Draw one frame for a whole change, not one per removed and added object: a frame is
    // costly on a software renderer. Holds nest.
    function holdDraw() {
        const canvas = plugin && plugin.canvas3d;
        if (canvas && holds++ === 0) canvas.pause(true);
    }
    function releaseDraw() {
        const canvas = plugin && plugin.canvas3d;
        if (canvas && --holds === 0) { canvas.resume(); canvas.requestDraw(); }
    }
    async function held(fn) {
        holdDraw();
        try {
            return await fn();
        } finally {
            releaseDraw();
        }
    }

    /** Resolves after the next frame is drawn. */
    function nextFrame() {
        const canvas = plugin && plugin.canvas3d;
        if (!canvas) return Promise.resolve();
        return new Promise((resolve) => {
            let first = true; // didDraw replays its last value on subscribing
            const sub = canvas.didDraw.subscribe(() => {
                if (first) { first = false; return; }
                setTimeout(() => sub.unsubscribe(), 0);
                resolve();
            });
            canvas.requestDraw();
        });
    }

    function resetView() {
        plugin.managers.camera.reset(undefined, animationMs(quality));
    }

    function focusOn(m, durationMs = animationMs(quality)) {
        const s = cellObj(m.structRef);
        if (!s) return;
        const loci = lib().structure.Structure.Loci(s.data);
        plugin.managers.camera.focusLoci(loci, { durationMs, extraRadius: 10 });
    }

    /** Fit the camera to several models at once (the selection and the compared ones). */
    function focusOnAll(ms, durationMs = animationMs(quality)) {
        const loci = ms.map(m => cellObj(m.structRef)).filter(Boolean)
            .map(s => lib().structure.Structure.Loci(s.data));
        if (loci.length) plugin.managers.camera.focusLoci(loci, { durationMs, extraRadius: 10 });
    }

    /** Before the first frame (Mol* would frame the whole scene): set the camera on the model
     * of key, or on the whole scene when it is not loaded; then let Mol* reset it again. */
    function frameFirst(key) {
        const canvas = plugin.canvas3d;
        canvas.commit(true);
        canvas.camera.setState({ radiusMax: canvas.boundingSphere.radius }, 0);
        const sel = models.get(key);
        if (sel) focusOn(sel, 0);
        else canvas.requestCameraReset({ durationMs: 0 });
        canvas.setProps({ camera: { manualReset: false } });
    }

    // ---------------------------------------------------------------- the working map
    function isoDefaults() {
        const reg = plugin.representation.volume;
        const type = reg.registry.get('isosurface');
        const size = reg.themes.sizeThemeRegistry.get(type.defaultSizeTheme.name);
        return {
            iso: type.defaultValues,
            uniform: reg.themes.colorThemeRegistry.get('uniform').defaultValues,
            size: { name: size.name, params: size.defaultValues },
        };
    }

    /** Load map version (at most maxVoxels along an edge) at level in style, replacing the
     * map shown; resolves to the grid drawn, [x, y, z] voxels (null when unknown). */
    function showMap(version, maxVoxels, level, style) {
        return held(async () => {
            const old = map;
            const data = await plugin.builders.data.download(
                { url: api.url('/api/map', { v: version, max: maxVoxels }), isBinary: true, label: `working map v${version}` },
                { state: { isGhost: true } });
            const parsed = await plugin.dataFormats.get('ccp4').parse(plugin, data);
            const volume = parsed.volume || parsed.volumes[0];
            const repr = await plugin.build().to(volume)
                .apply(lib().plugin.StateTransforms.Representation.VolumeRepresentation3D,
                    isoParams(isoDefaults(), level, style, quality),
                    { state: { isHidden: style === 'hidden' } })
                .commit();
            const grid = volume.cell && volume.cell.obj ? Array.from(volume.cell.obj.data.grid.cells.space.dimensions) : null;
            map = { dataRef: data.ref, volumeRef: volume.ref, reprRef: repr.ref, version, grid };
            if (old) await deleteRef(old.dataRef);
            return grid;
        });
    }

    /** Redraw the map shown at level in style. */
    async function updateMap(level, style) {
        if (!map) return;
        await plugin.build().to(map.reprRef).update(isoParams(isoDefaults(), level, style, quality)).commit();
        setHidden(map.reprRef, style === 'hidden');
    }

    const mapVersion = () => (map ? map.version : null);

    // ---------------------------------------------------------------- structures
    async function loadStructureText(text, label) {
        const data = await plugin.builders.data.rawData({ data: text, label }, { state: { isGhost: true } });
        const traj = await plugin.builders.structure.parseTrajectory(data, 'mmcif');
        const model = await plugin.builders.structure.createModel(traj);
        const struct = await plugin.builders.structure.createStructure(model);
        return { dataRef: data.ref, struct };
    }

    /** Whether the point cloud of round coloured by metric is the one shown. */
    const hasPoints = (round, metric) => !!points && points.round === round && points.metric === metric;

    /** Show /api/points' info as the point cloud, hidden unless visible; resolves to its
     * summary {round, metric, n, min, max}, or null when the round has no placements. */
    function showPoints(info, visible) {
        return held(async () => {
            if (points) await deleteRef(points.dataRef);
            points = null;
            if (!info.n) return null;
            const { dataRef, struct } = await loadStructureText(info.cif, `fits of round ${info.round}`);
            const repr = await plugin.builders.structure.representation.addRepresentation(struct, pointsParams());
            points = { dataRef, structRef: struct.ref, reprRef: repr.ref, round: info.round, metric: info.metric,
                n: info.n, min: info.min, max: info.max, clusterOfFit: info.cluster_of_fit || {} };
            setPointsVisible(visible);
            return { round: info.round, metric: info.metric, n: info.n, min: info.min, max: info.max };
        });
    }

    function setPointsVisible(visible) {
        if (points) setHidden(points.reprRef, !visible);
    }

    // A click on a point of the cloud: the placement's fit id (its residue number).
    function fitIdAt(loci) {
        if (!points || !loci || loci.kind !== 'element-loci') return null;
        const s = cellObj(points.structRef);
        if (!s || loci.structure !== s.data) return null;
        const S = lib().structure;
        const loc = S.StructureElement.Loci.getFirstLocation(loci);
        return loc ? S.StructureProperties.residue.auth_seq_id(loc) : null;
    }

    /** The cluster rank of a fit of the point cloud shown, or null. */
    function clusterOfFit(fitId) {
        const rank = points ? points.clusterOfFit[String(fitId)] : null;
        return rank === undefined ? null : rank;
    }

    async function loadModel(key, round, rank, color, style) {
        const { text, headers } = await api.request('/api/model', { params: { round, rank }, as: 'response' });
        // a refined model (composite --flexible): residues coloured by their shift (B column)
        const shift = headers.get('X-DiffFit-Shift-Max');
        const shiftMax = shift === null ? null : Number(shift);
        const { dataRef, struct } = await loadStructureText(text, `round ${round} rank ${rank}`);
        const params = shiftMax === null ? modelParams(color, style, quality)
            : shiftParams(style, quality, shiftMax);
        const repr = await plugin.builders.structure.representation.addRepresentation(struct, params);
        return { key, round, rank, dataRef, structRef: struct.ref, reprRef: repr.ref, color, style, shiftMax };
    }

    async function recolourModel(m, color) {
        if (m.shiftMax !== null && m.shiftMax !== undefined) { m.color = color; return; } // stays by shift
        await plugin.build().to(m.reprRef).update(old => {
            old.colorTheme = { name: 'uniform', params: { ...old.colorTheme.params, value: color } };
        }).commit();
        m.color = color;
    }

    /** Bring the models to those state asks for (table-model.mjs desiredModels) and focus on the
     * selected one when it changed; stops early when isStale() (a newer state came in). */
    function syncModels(state, isStale) {
        return held(async () => {
            const want = desiredModels(state);
            const plan = planModels(models, want, state.modelStyle);
            for (const key of plan.remove) {
                await deleteRef(models.get(key).dataRef);
                models.delete(key);
            }
            for (const { key, op } of plan.steps) {
                if (isStale()) return; // a newer wish came in: start over
                const w = want.get(key);
                if (op === 'load') models.set(key, await loadModel(key, w.round, w.rank, w.color, state.modelStyle));
                else await recolourModel(models.get(key), w.color);
            }
            const selKey = state.selected === null ? null : modelKey(state.round, state.selected);
            // comparing: the camera refits to every model shown whenever that set changes
            const shown = [...want.keys()].filter(k => models.has(k)).sort();
            if (shown.length > 1) {
                const framed = shown.join('|');
                if (framed !== lastFramed) {
                    focusOnAll(shown.map(k => models.get(k)));
                    lastFramed = framed;
                    lastFocused = selKey;
                }
            } else if (selKey && (selKey !== lastFocused || lastFramed !== null) && models.has(selKey)) {
                focusOn(models.get(selKey));
                lastFocused = selKey;
                lastFramed = null;
            }
            await syncMates(state, isStale);
        });
    }

    // The symmetry mates of the selected cluster (a --symmetry round), one model, light orange.
    let mates = null; // {key, style, dataRef}
    async function syncMates(state, isStale) {
        const want = matesKey(state);
        if (mates && mates.key === want && mates.style === state.modelStyle) return;
        if (mates) {
            await deleteRef(mates.dataRef);
            mates = null;
        }
        if (!want || isStale()) return;
        const text = await api.getText('/api/model', { round: state.round, rank: state.selected, mates: 1 });
        const { dataRef, struct } = await loadStructureText(text, `round ${state.round} rank ${state.selected} mates`);
        await plugin.builders.structure.representation.addRepresentation(
            struct, modelParams(MATES_COLOR, state.modelStyle, quality));
        mates = { key: want, style: state.modelStyle, dataRef, structRef: struct.ref };
    }

    /** Focus on the selected model at the next sync even if it was the last one focused. */
    function resetFocus() {
        lastFocused = null;
        lastFramed = null;
    }

    // ---------------------------------------------------------------- what Mol* holds
    /** What is drawn, read back from Mol*'s state tree (for tests and the browser console). */
    function describe(round, selected) {
        const ms = [...models.values()].map(m => {
            const s = cellObj(m.structRef);
            const box = s ? s.data.boundary.box : null;
            return {
                key: m.key, round: m.round, rank: m.rank, color: hex(m.color), style: m.style,
                coloring: m.shiftMax === null || m.shiftMax === undefined ? 'uniform' : 'shift',
                shiftMax: m.shiftMax === undefined ? null : m.shiftMax,
                atoms: s ? s.data.elementCount : 0,
                box: box ? [Array.from(box.min), Array.from(box.max)] : null,
                selected: m.round === round && m.rank === selected,
            };
        });
        let mapInfo = null;
        if (map) {
            const cell = cells().get(map.reprRef);
            const vol = cellObj(map.volumeRef);
            const iso = cell && cell.transform.params.type.params.isoValue;
            mapInfo = {
                version: map.version,
                loaded: !!(cell && cell.obj),
                hidden: !!(cell && cell.state.isHidden),
                level: iso ? iso.absoluteValue : null,
                grid: vol ? Array.from(vol.data.grid.cells.space.dimensions) : null,
            };
        }
        let pointsInfo = null;
        if (points) {
            const s = cellObj(points.structRef);
            const cell = cells().get(points.reprRef);
            pointsInfo = {
                round: points.round, metric: points.metric, n: points.n,
                atoms: s ? s.data.elementCount : 0, hidden: !!(cell && cell.state.isHidden),
                min: points.min, max: points.max,
            };
        }
        let matesInfo = null;
        if (mates) {
            const s = cellObj(mates.structRef);
            matesInfo = { key: mates.key, color: hex(MATES_COLOR), atoms: s ? s.data.elementCount : 0 };
        }
        const cam = plugin.canvas3d ? plugin.canvas3d.camera.state : null;
        return {
            map: mapInfo, points: pointsInfo, models: ms, mates: matesInfo,
            camera: cam ? { target: Array.from(cam.target), position: Array.from(cam.position) } : null,
        };
    }

    return {
        get plugin() { return plugin; },
        get quality() { return quality; },
        start, holdDraw, releaseDraw, nextFrame, resetView, frameFirst,
        showMap, updateMap, mapVersion,
        hasPoints, showPoints, setPointsVisible, clusterOfFit,
        syncModels, resetFocus, describe,
    };
}
