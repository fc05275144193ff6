/* difffit view: the page. Plain JavaScript over Mol*'s plugin (global `molstar`, bundled by scripts/build-viewer).
 *
 * The 3D view holds at most: the working map (isosurface), the point cloud of every placement
 * of the current round (pseudo-atoms coloured by a score), and the fitted models of the selected
 * cluster and of the clusters ticked for comparison, each in its own colour.
 *
 * window.difffitViewer exposes the page's state (what Mol* has loaded, read back from Mol*'s own
 * state tree) and a few commands, for tests and for scripting from the browser console.
 */
(function () {
    'use strict';

    const TOKEN = document.querySelector('meta[name="difffit-token"]').content;
    const SELECTED_COLOR = 0xff7f0e;
    const COMPARE_COLORS = [0x1f77b4, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22];
    const MAP_COLOR = 0x8c9db5;
    // viridis, best first: the B-factor colour theme runs its list in reverse (low -> last)
    const POINT_COLORS = [0xfde725, 0x5ec962, 0x21918c, 0x3b528b, 0x440154];
    const TEXT_COLUMNS = new Set(['structure']);
    const ASC_FIRST = new Set(['rank', 'structure', 'refined']);

    const $ = (id) => document.getElementById(id);
    const hex = (c) => '#' + c.toString(16).padStart(6, '0');

    // ------------------------------------------------------------------ server
    function url(path, params) {
        const q = new URLSearchParams(Object.assign({}, params || {}, { token: TOKEN }));
        return `${path}?${q}`;
    }
    async function getJSON(path, params) {
        const r = await fetch(url(path, params), { headers: { 'X-DiffFit-Token': TOKEN } });
        const data = await r.json();
        if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
        return data;
    }
    async function post(path, body) {
        const r = await fetch(path, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-DiffFit-Token': TOKEN },
            body: JSON.stringify(body || {}),
        });
        const data = await r.json();
        if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
        return data;
    }

    // ------------------------------------------------------------------ page state
    const st = {
        session: null,
        round: 0,
        columns: [],
        rows: [],          // cluster rows of the round, in table order
        sort: { key: 'rank', dir: 1 },
        selected: null,    // rank
        compare: [],       // ranks, in tick order
        level: 0,
        mapStyle: 'surface',
        modelStyle: 'cartoon',
        metric: 'score',
        showPoints: true,
        job: null,
        ready: false,
        error: null,
        timings: {},
        log: [],
    };
    const mol = {
        plugin: null,
        map: null,        // { dataRef, volumeRef, reprRef, version }
        points: null,     // { dataRef, structRef, reprRef, round, metric, n, min, max }
        models: new Map(), // key -> { key, round, rank, dataRef, structRef, reprRef, color, style }
    };

    function status(text, isError) {
        const el = $('status');
        el.textContent = text || '';
        el.classList.toggle('error', !!isError);
        if (text) st.log.push((isError ? 'error: ' : '') + text);
        if (isError) console.error(text);
    }
    // milliseconds since the navigation started (performance.timeOrigin)
    function mark(name) { st.timings[name] = Math.round(performance.now()); }

    // ------------------------------------------------------------------ Mol* helpers
    const lib = () => molstar.lib;
    const Transforms = () => molstar.lib.plugin.StateTransforms;

    // A software WebGL (SwiftShader, llvmpipe: headless browsers, remote desktops) draws every
    // pixel on the CPU: there the page turns off the costly screen-space effects.
    function rendererName(gl) {
        const ext = gl.getExtension('WEBGL_debug_renderer_info');
        return String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    }

    // Mol*'s plugin without its React user interface: the page has its own controls, and the
    // plugin starts several times faster without it.
    async function createViewer() {
        const L = molstar.lib.plugin;
        const spec = L.DefaultPluginSpec();
        spec.config = (spec.config || []).concat([[L.PluginConfig.VolumeStreaming.Enabled, false]]);
        const plugin = new L.PluginContext(spec);
        await plugin.init();
        const ok = await plugin.mountAsync($('molstar'));
        if (ok === false || !plugin.canvas3d) throw new Error('WebGL is not available in this browser: Mol* cannot draw');
        mol.plugin = plugin;
        const canvas = plugin.canvas3d;
        st.renderer = rendererName(canvas.webgl.gl);
        const software = /swiftshader|llvmpipe|softpipe|software/i.test(st.renderer);
        st.quality = new URLSearchParams(location.search).get('quality') || (software ? 'low' : 'high');
        canvas.setProps({ camera: { manualReset: true } }); // until the first frame
        if (st.quality === 'low') {
            canvas.setProps({
                transparency: 'blended',
                multiSample: { mode: 'off' },
                postprocessing: {
                    occlusion: { name: 'off', params: {} },
                    outline: { name: 'off', params: {} },
                    antialiasing: { name: 'off', params: {} },
                },
            });
        }
        plugin.behaviors.interaction.click.subscribe((ev) => {
            const id = fitIdAt(ev.current && ev.current.loci);
            if (id !== null) selectFit(id);
        });
    }

    function resetView() {
        mol.plugin.managers.camera.reset(undefined, st.quality === 'low' ? 0 : 250);
    }

    async function deleteRef(ref) {
        if (!ref) return;
        const state = mol.plugin.state.data;
        if (!state.cells.has(ref)) return;
        await mol.plugin.build().delete(ref).commit();
    }

    function cellObj(ref) {
        const cell = ref && mol.plugin.state.data.cells.get(ref);
        return cell && cell.obj ? cell.obj : null;
    }

    function isoParams(level, style) {
        const plugin = mol.plugin;
        const type = plugin.representation.volume.registry.get('isosurface');
        const themes = plugin.representation.volume.themes;
        const uniform = themes.colorThemeRegistry.get('uniform');
        const size = themes.sizeThemeRegistry.get(type.defaultSizeTheme.name);
        const mesh = style === 'mesh';
        return {
            type: {
                name: 'isosurface',
                params: Object.assign({}, type.defaultValues, {
                    // on a software renderer, extract the surface in JavaScript: the GPU path
                    // (texture mesh) is far slower when the "GPU" is the CPU
                    tryUseGpu: st.quality !== 'low',
                    isoValue: { kind: 'absolute', absoluteValue: level },
                    alpha: mesh ? 0.6 : 0.3,
                    visuals: mesh ? ['wireframe'] : ['solid'],
                }),
            },
            colorTheme: { name: 'uniform', params: Object.assign({}, uniform.defaultValues, { value: MAP_COLOR }) },
            sizeTheme: { name: size.name, params: size.defaultValues },
        };
    }

    // The longest map edge (voxels) sent for display: coarser on a software renderer, where the
    // isosurface's triangles are most of the cost of a frame. ?map-max=N overrides.
    function mapMaxVoxels() {
        const given = Number(new URLSearchParams(location.search).get('map-max'));
        if (given) return given;
        const sizes = st.session.map.display_max_voxels;
        return st.quality === 'low' ? sizes.low : sizes.high;
    }

    async function loadMap(version) {
        holdDraw();
        try {
            await replaceMap(version);
        } finally {
            releaseDraw();
        }
    }

    async function replaceMap(version) {
        const plugin = mol.plugin;
        const old = mol.map;
        const data = await plugin.builders.data.download(
            { url: url('/api/map', { v: version, max: mapMaxVoxels() }), isBinary: true, label: `working map v${version}` },
            { state: { isGhost: true } });
        const parsed = await plugin.dataFormats.get('ccp4').parse(plugin, data);
        const volume = parsed.volume || parsed.volumes[0];
        const repr = await plugin.build().to(volume)
            .apply(Transforms().Representation.VolumeRepresentation3D, isoParams(st.level, st.mapStyle),
                { state: { isHidden: st.mapStyle === 'hidden' } })
            .commit();
        const grid = volume.cell && volume.cell.obj ? Array.from(volume.cell.obj.data.grid.cells.space.dimensions) : null;
        mol.map = { dataRef: data.ref, volumeRef: volume.ref, reprRef: repr.ref, version, grid };
        if (st.session) renderSession();
        if (old) await deleteRef(old.dataRef);
    }

    async function updateMapRepr() {
        if (!mol.map) return;
        const plugin = mol.plugin;
        await plugin.build().to(mol.map.reprRef)
            .update(isoParams(st.level, st.mapStyle))
            .commit();
        const cell = plugin.state.data.cells.get(mol.map.reprRef);
        const hidden = st.mapStyle === 'hidden';
        if (cell && !!cell.state.isHidden !== hidden) {
            plugin.state.data.updateCellState(mol.map.reprRef, { isHidden: hidden });
        }
    }

    async function loadStructureText(text, label) {
        const plugin = mol.plugin;
        const data = await plugin.builders.data.rawData({ data: text, label }, { state: { isGhost: true } });
        const traj = await plugin.builders.structure.parseTrajectory(data, 'mmcif');
        const model = await plugin.builders.structure.createModel(traj);
        const struct = await plugin.builders.structure.createStructure(model);
        return { dataRef: data.ref, struct };
    }

    async function loadPoints(prefetched) {
        const plugin = mol.plugin;
        const want = { round: st.round, metric: st.metric };
        if (mol.points && mol.points.round === want.round && mol.points.metric === want.metric) {
            setPointsVisible();
            return;
        }
        let info = prefetched ? await prefetched : null;
        if (!info || info.round !== want.round || info.metric !== want.metric) info = await getJSON('/api/points', want);
        holdDraw();
        try {
            await replacePoints(info);
        } finally {
            releaseDraw();
        }
    }

    async function replacePoints(info) {
        const plugin = mol.plugin;
        if (mol.points) await deleteRef(mol.points.dataRef);
        mol.points = null;
        if (!info.n) { showLegend(null); return; }
        const { dataRef, struct } = await loadStructureText(info.cif, `fits of round ${info.round}`);
        const repr = await plugin.builders.structure.representation.addRepresentation(struct, {
            type: 'spacefill',
            color: 'uncertainty',
            colorParams: { domain: [0, 100], list: { kind: 'interpolate', colors: POINT_COLORS } },
            size: 'uniform',
            sizeParams: { value: 0.7 },
        });
        mol.points = { dataRef, structRef: struct.ref, reprRef: repr.ref, round: info.round, metric: info.metric,
            n: info.n, min: info.min, max: info.max, clusterOfFit: info.cluster_of_fit || {} };
        setPointsVisible();
        showLegend(info);
    }

    // A click on a point of the cloud selects the cluster its placement belongs to.
    function fitIdAt(loci) {
        if (!mol.points || !loci || loci.kind !== 'element-loci') return null;
        const s = cellObj(mol.points.structRef);
        if (!s || loci.structure !== s.data) return null;
        const S = lib().structure;
        const loc = S.StructureElement.Loci.getFirstLocation(loci);
        return loc ? S.StructureProperties.residue.auth_seq_id(loc) : null;
    }

    function selectFit(fitId) {
        const rank = mol.points ? mol.points.clusterOfFit[String(fitId)] : null;
        if (rank === null || rank === undefined) return null;
        status(`fit ${fitId}: cluster ${rank}`);
        select(rank);
        return rank;
    }

    function setPointsVisible() {
        if (!mol.points) return;
        const cell = mol.plugin.state.data.cells.get(mol.points.reprRef);
        if (cell && !!cell.state.isHidden === st.showPoints) {
            mol.plugin.state.data.updateCellState(mol.points.reprRef, { isHidden: !st.showPoints });
        }
        $('legend').hidden = !st.showPoints;
    }

    function showLegend(info) {
        if (!info) { $('legend').hidden = true; return; }
        $('legend-title').textContent = `fits by ${info.metric}`;
        $('legend-min').textContent = '≤ ' + fmt(info.min, info.metric);
        $('legend-max').textContent = fmt(info.max, info.metric);
        $('legend').hidden = !st.showPoints;
    }

    function structureParams(color, style) {
        const p = { type: style, color: 'uniform', colorParams: { value: color } };
        if (st.quality === 'low') p.typeParams = { quality: 'low' };
        return p;
    }

    async function loadModel(key, round, rank, color) {
        const text = await fetch(url('/api/model', { round, rank }), { headers: { 'X-DiffFit-Token': TOKEN } })
            .then(async (r) => {
                if (!r.ok) throw new Error((await r.json()).error || r.statusText);
                return r.text();
            });
        const { dataRef, struct } = await loadStructureText(text, `round ${round} rank ${rank}`);
        const repr = await mol.plugin.builders.structure.representation.addRepresentation(
            struct, structureParams(color, st.modelStyle));
        return { key, round, rank, dataRef, structRef: struct.ref, reprRef: repr.ref, color, style: st.modelStyle };
    }

    async function recolourModel(m, color) {
        await mol.plugin.build().to(m.reprRef).update(old => {
            old.colorTheme = { name: 'uniform', params: Object.assign({}, old.colorTheme.params, { value: color }) };
        }).commit();
        m.color = color;
    }

    function focusOn(m, durationMs) {
        const s = cellObj(m.structRef);
        if (!s) return;
        const loci = lib().structure.Structure.Loci(s.data);
        if (durationMs === undefined) durationMs = st.quality === 'low' ? 0 : 250;
        mol.plugin.managers.camera.focusLoci(loci, { durationMs, extraRadius: 10 });
    }

    // ------------------------------------------------------------------ keeping Mol* in step
    // Every change of selection, comparison or style only records what should be shown; one
    // loop at a time brings Mol* to it, so fast key presses load only the last selection.
    let syncing = null;
    let dirty = false;
    let lastFocused = null;

    function desiredModels() {
        const want = new Map();
        st.compare.forEach((rank, i) => {
            want.set(`${st.round}:${rank}`, { round: st.round, rank, color: COMPARE_COLORS[i % COMPARE_COLORS.length] });
        });
        if (st.selected !== null) {
            want.set(`${st.round}:${st.selected}`, { round: st.round, rank: st.selected, color: SELECTED_COLOR });
        }
        return want;
    }

    function requestSync() {
        dirty = true;
        if (!syncing) {
            syncing = (async () => {
                try {
                    while (dirty) {
                        dirty = false;
                        await syncOnce();
                    }
                } catch (e) {
                    status(`3D view: ${e.message || e}`, true);
                } finally {
                    syncing = null;
                    renderTableMarks();
                }
            })();
        }
        return syncing;
    }

    // Draw one frame for a whole change, not one per removed and added object: a frame is
    // costly on a software renderer. Holds nest.
    let holds = 0;
    function holdDraw() {
        const canvas = mol.plugin && mol.plugin.canvas3d;
        if (canvas && holds++ === 0) canvas.pause(true);
    }
    function releaseDraw() {
        const canvas = mol.plugin && mol.plugin.canvas3d;
        if (canvas && --holds === 0) { canvas.resume(); canvas.requestDraw(); }
    }
    function nextFrame() {
        const canvas = mol.plugin && mol.plugin.canvas3d;
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

    async function syncOnce() {
        holdDraw();
        try {
            await syncModels();
        } finally {
            releaseDraw();
        }
    }

    async function syncModels() {
        const want = desiredModels();
        for (const [key, m] of [...mol.models]) {
            const w = want.get(key);
            if (!w || m.style !== st.modelStyle) {
                await deleteRef(m.dataRef);
                mol.models.delete(key);
            }
        }
        for (const [key, w] of want) {
            if (dirty) return; // a newer wish came in: start over
            let m = mol.models.get(key);
            if (!m) {
                m = await loadModel(key, w.round, w.rank, w.color);
                mol.models.set(key, m);
            } else if (m.color !== w.color) {
                await recolourModel(m, w.color);
            }
        }
        const selKey = st.selected === null ? null : `${st.round}:${st.selected}`;
        if (selKey && selKey !== lastFocused && mol.models.has(selKey)) {
            focusOn(mol.models.get(selKey));
            lastFocused = selKey;
        }
    }

    // ------------------------------------------------------------------ the table
    function fmt(v, col) {
        if (v === null || v === undefined || v === '') return '';
        if (typeof v !== 'number') return String(v);
        if (col === 'rank' || col === 'hits' || col === 'refined' || Number.isInteger(v) && col !== 'density' && col !== 'overlap') return String(v);
        if (col === 'density' || col === 'overlap') return v.toPrecision(4);
        return v.toFixed(3);
    }

    function sortRows() {
        const { key, dir } = st.sort;
        st.rows.sort((a, b) => {
            const x = a[key], y = b[key];
            let c;
            if (typeof x === 'number' && typeof y === 'number') c = x - y;
            else if (x === null || x === undefined) c = 1;
            else if (y === null || y === undefined) c = -1;
            else c = String(x).localeCompare(String(y));
            return c * dir || (a.rank - b.rank);
        });
    }

    function renderHeader() {
        const tr = document.querySelector('#clusters thead tr');
        tr.innerHTML = '';
        const mk = (text, cls, col) => {
            const th = document.createElement('th');
            th.textContent = text;
            if (cls) th.className = cls;
            if (col) {
                th.dataset.col = col;
                if (st.sort.key === col) th.classList.add(st.sort.dir > 0 ? 'sorted-asc' : 'sorted-desc');
                th.addEventListener('click', () => sortBy(col));
            }
            tr.appendChild(th);
        };
        mk('', 'tick', null);
        mk('', 'swatch', null);
        for (const c of st.columns) mk(c, TEXT_COLUMNS.has(c) ? 'text' : '', c);
    }

    function renderBody() {
        const tbody = document.querySelector('#clusters tbody');
        const frag = document.createDocumentFragment();
        for (const row of st.rows) {
            const tr = document.createElement('tr');
            tr.dataset.rank = row.rank;
            const tick = document.createElement('td');
            tick.className = 'tick';
            const cb = document.createElement('input');
            cb.type = 'checkbox';
            cb.title = 'compare';
            cb.addEventListener('click', (ev) => { ev.stopPropagation(); toggleCompare(row.rank); });
            tick.appendChild(cb);
            tr.appendChild(tick);
            const sw = document.createElement('td');
            sw.className = 'swatch';
            sw.appendChild(document.createElement('span'));
            tr.appendChild(sw);
            for (const c of st.columns) {
                const td = document.createElement('td');
                td.textContent = fmt(row[c], c);
                if (TEXT_COLUMNS.has(c)) td.className = 'text';
                tr.appendChild(td);
            }
            tr.addEventListener('click', () => select(row.rank));
            frag.appendChild(tr);
        }
        tbody.innerHTML = '';
        tbody.appendChild(frag);
        renderTableMarks();
    }

    function renderTableMarks() {
        const want = desiredModels();
        for (const tr of document.querySelectorAll('#clusters tbody tr')) {
            const rank = Number(tr.dataset.rank);
            const key = `${st.round}:${rank}`;
            tr.classList.toggle('selected', rank === st.selected);
            tr.classList.toggle('compared', st.compare.includes(rank));
            tr.querySelector('input').checked = st.compare.includes(rank);
            const w = want.get(key);
            tr.querySelector('td.swatch span').style.background = w ? hex(w.color) : 'transparent';
        }
    }

    function scrollToSelected() {
        const tr = document.querySelector(`#clusters tbody tr[data-rank="${st.selected}"]`);
        if (tr) tr.scrollIntoView({ block: 'nearest' });
    }

    // ------------------------------------------------------------------ commands
    function sortBy(col, dir) {
        if (!st.columns.includes(col)) throw new Error(`no column ${col}`);
        if (dir === undefined) {
            dir = st.sort.key === col ? -st.sort.dir : (ASC_FIRST.has(col) ? 1 : -1);
        }
        st.sort = { key: col, dir: dir > 0 ? 1 : -1 };
        sortRows();
        renderHeader();
        renderBody();
        scrollToSelected();
    }

    function select(rank) {
        if (!st.rows.some(r => r.rank === rank)) return;
        st.selected = rank;
        updateButtons();
        renderTableMarks();
        scrollToSelected();
        return requestSync();
    }

    function move(delta) {
        if (!st.rows.length) return;
        let i = st.rows.findIndex(r => r.rank === st.selected);
        i = i < 0 ? 0 : Math.max(0, Math.min(st.rows.length - 1, i + delta));
        return select(st.rows[i].rank);
    }

    function toggleCompare(rank) {
        const i = st.compare.indexOf(rank);
        if (i >= 0) st.compare.splice(i, 1);
        else st.compare.push(rank);
        renderTableMarks();
        return requestSync();
    }

    function clearCompare() {
        st.compare = [];
        renderTableMarks();
        return requestSync();
    }

    let levelTimer = null;
    function setLevel(v, immediate) {
        if (!Number.isFinite(v)) return;
        st.level = v;
        $('level').value = Number(v.toPrecision(5));
        $('level-range').value = v;
        clearTimeout(levelTimer);
        const run = () => updateMapRepr().catch(e => status(`level: ${e.message}`, true));
        if (immediate) return run();
        levelTimer = setTimeout(run, 120);
    }

    async function showRound(rid, keepSelection, prefetched) {
        let data = prefetched ? await prefetched : null;
        if (!data || data.round !== rid) data = await getJSON('/api/clusters', { round: rid });
        st.round = rid;
        $('round').value = String(rid);
        st.columns = data.columns;
        st.rows = data.rows;
        if (!st.columns.includes(st.sort.key)) st.sort = { key: 'rank', dir: 1 };
        sortRows();
        renderHeader();
        st.compare = [];
        if (!keepSelection || !st.rows.some(r => r.rank === st.selected)) {
            st.selected = st.rows.length ? st.rows[0].rank : null;
        }
        lastFocused = null;
        renderBody();
        scrollToSelected();
        updateButtons();
    }

    function updateButtons() {
        const has = st.selected !== null;
        $('btn-save').disabled = !has;
        $('btn-zero').disabled = !has;
        $('btn-undo').disabled = !(st.session && st.session.history.length);
        const running = st.job && (st.job.state === 'queued' || st.job.state === 'running');
        $('btn-fit').disabled = !!running;
    }

    function renderSession() {
        const s = st.session;
        $('results-dir').textContent = s.results_dir;
        const sel = $('round');
        sel.innerHTML = '';
        for (const r of s.rounds) {
            const o = document.createElement('option');
            o.value = String(r.id);
            o.textContent = `${r.label} (${r.n_clusters} clusters)`;
            sel.appendChild(o);
        }
        sel.value = String(st.round);
        const m = s.map;
        const h = s.history;
        let text = `working map: ${h.length ? h[h.length - 1].map : 'the original map'}`;
        text += ` · ${m.shape_zyx.slice().reverse().join('×')} voxels`;
        const shown = mol.map && mol.map.grid;
        if (shown && shown.join() !== m.shape_zyx.slice().reverse().join()) text += ` (shown at ${shown.join('×')})`;
        text += ` · ${m.n_above_level} above level ${Number(s.level.toPrecision(4))}`;
        if (h.length) text += ` · ${h.length} zeroed: ${h.map(e => e.structure + ' #' + e.rank).join(', ')}`;
        $('working').textContent = text;
        const range = $('level-range');
        range.min = Math.min(m.min, st.level);
        range.max = Math.max(m.max, st.level);
        range.step = (m.max - m.min) / 1000 || 0.001;
        range.value = st.level;
        updateButtons();
    }

    function renderFitForm() {
        const s = st.session;
        const box = $('fit-structures');
        if (box.childElementCount) return;
        for (const name of s.structures) {
            const lab = document.createElement('label');
            const cb = document.createElement('input');
            cb.type = 'checkbox';
            cb.value = name;
            cb.checked = true;
            lab.appendChild(cb);
            lab.appendChild(document.createTextNode(' ' + name));
            box.appendChild(lab);
        }
        if (s.options.n_rotations) $('fit-rotations').value = s.options.n_rotations;
        if (s.options.n_positions) $('fit-positions').value = s.options.n_positions;
    }

    async function refreshSession() {
        st.session = await getJSON('/api/session');
        renderSession();
    }

    async function reloadMapIfNeeded() {
        const v = st.session.map.version;
        if (!mol.map || mol.map.version !== v) await loadMap(v);
    }

    // ------------------------------------------------------------------ actions
    async function saveSelected() {
        const rank = st.selected;
        const res = await post('/api/save', { round: st.round, rank });
        const a = document.createElement('a');
        a.href = url('/api/model', { round: st.round, rank, download: 1 });
        a.download = res.name;
        document.body.appendChild(a);
        a.click();
        a.remove();
        status(`saved ${res.relative} in the results folder (and downloaded)`);
        return res;
    }

    async function zeroSelected() {
        const rank = st.selected;
        status(`zeroing rank ${rank}…`);
        const res = await post('/api/zero', { round: st.round, rank });
        await refreshSession();
        await reloadMapIfNeeded();
        status(`zeroed ${res.structure} (rank ${res.rank}): ${res.n_voxels_zeroed} voxels; ` +
               `voxels above the level ${res.n_above_before} → ${res.n_above_after} (${res.map})`);
        return res;
    }

    async function undo() {
        const res = await post('/api/undo', {});
        await refreshSession();
        await reloadMapIfNeeded();
        status(`undid the zeroing of ${res.undone.structure} (rank ${res.undone.rank})`);
        return res;
    }

    async function fitAgain(opts) {
        opts = opts || {};
        const names = opts.structures ||
            [...document.querySelectorAll('#fit-structures input:checked')].map(cb => cb.value);
        const num = (id) => { const v = $(id).value; return v === '' ? null : Number(v); };
        const body = {
            structures: names,
            n_rotations: opts.n_rotations !== undefined ? opts.n_rotations : num('fit-rotations'),
            n_positions: opts.n_positions !== undefined ? opts.n_positions : num('fit-positions'),
            seed: opts.seed !== undefined ? opts.seed : num('fit-seed'),
        };
        const job = await post('/api/fit', body);
        st.job = job;
        updateButtons();
        $('fit-progress-row').hidden = false;
        status(`fitting ${names.join(', ')} into the working map (round ${job.round})…`);
        pollJob(job.id);
        return job;
    }

    function pollJob(id) {
        const tick = async () => {
            let job;
            try { job = await getJSON(`/api/jobs/${id}`); } catch (e) { status(e.message, true); return; }
            st.job = job;
            $('fit-progress').value = job.fraction;
            $('fit-status').textContent = `${job.state} ${job.stage} ${job.structure} ${job.done}/${job.total} · ${job.elapsed_s} s`;
            if (job.state === 'done') {
                updateButtons();
                await refreshSession();
                await showRound(job.round);
                await Promise.all([requestSync(), loadPoints()]);
                status(`fit again: ${job.message}`);
            } else if (job.state === 'failed') {
                updateButtons();
                status(`fit again failed: ${job.message}`, true);
            } else {
                setTimeout(tick, 400);
            }
        };
        setTimeout(tick, 300);
    }

    function guarded(fn) {
        return async (...args) => {
            try { return await fn(...args); } catch (e) { status(e.message || String(e), true); }
        };
    }

    // ------------------------------------------------------------------ wiring
    function wire() {
        $('round').addEventListener('change', guarded(async (ev) => {
            await showRound(Number(ev.target.value));
            await Promise.all([requestSync(), loadPoints()]);
        }));
        $('level').addEventListener('change', (ev) => setLevel(Number(ev.target.value)));
        $('level-range').addEventListener('input', (ev) => setLevel(Number(ev.target.value)));
        $('map-style').addEventListener('change', guarded(async (ev) => { st.mapStyle = ev.target.value; await updateMapRepr(); }));
        $('model-style').addEventListener('change', (ev) => { st.modelStyle = ev.target.value; requestSync(); });
        $('metric').addEventListener('change', guarded(async (ev) => { st.metric = ev.target.value; await loadPoints(); }));
        $('show-points').addEventListener('change', (ev) => { st.showPoints = ev.target.checked; setPointsVisible(); });
        $('btn-save').addEventListener('click', guarded(saveSelected));
        $('btn-zero').addEventListener('click', guarded(zeroSelected));
        $('btn-undo').addEventListener('click', guarded(undo));
        $('btn-clear').addEventListener('click', guarded(clearCompare));
        $('btn-reset').addEventListener('click', () => resetView());
        $('btn-fit').addEventListener('click', guarded(() => fitAgain()));
        document.addEventListener('keydown', (ev) => {
            const t = ev.target;
            if (t && (t.tagName === 'INPUT' && t.type !== 'checkbox' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
            if (ev.key === 'ArrowDown') { ev.preventDefault(); move(1); }
            else if (ev.key === 'ArrowUp') { ev.preventDefault(); move(-1); }
            else if (ev.key === ' ' && st.selected !== null && (!t || t.tagName !== 'BUTTON')) { ev.preventDefault(); toggleCompare(st.selected); }
        });
    }

    // ------------------------------------------------------------------ what Mol* holds
    function molState() {
        const plugin = mol.plugin;
        const models = [...mol.models.values()].map(m => {
            const s = cellObj(m.structRef);
            const box = s ? s.data.boundary.box : null;
            return {
                key: m.key, round: m.round, rank: m.rank, color: hex(m.color), style: m.style,
                atoms: s ? s.data.elementCount : 0,
                box: box ? [Array.from(box.min), Array.from(box.max)] : null,
                selected: m.round === st.round && m.rank === st.selected,
            };
        });
        let map = null;
        if (mol.map) {
            const cell = plugin.state.data.cells.get(mol.map.reprRef);
            const vol = cellObj(mol.map.volumeRef);
            const iso = cell && cell.transform.params.type.params.isoValue;
            map = {
                version: mol.map.version,
                loaded: !!(cell && cell.obj),
                hidden: !!(cell && cell.state.isHidden),
                level: iso ? iso.absoluteValue : null,
                grid: vol ? Array.from(vol.data.grid.cells.space.dimensions) : null,
            };
        }
        let points = null;
        if (mol.points) {
            const s = cellObj(mol.points.structRef);
            const cell = plugin.state.data.cells.get(mol.points.reprRef);
            points = {
                round: mol.points.round, metric: mol.points.metric, n: mol.points.n,
                atoms: s ? s.data.elementCount : 0, hidden: !!(cell && cell.state.isHidden),
                min: mol.points.min, max: mol.points.max,
            };
        }
        const cam = plugin.canvas3d ? plugin.canvas3d.camera.state : null;
        return { map, points, models, camera: cam ? { target: Array.from(cam.target), position: Array.from(cam.position) } : null };
    }

    window.difffitViewer = {
        get plugin() { return mol.plugin; },
        state() {
            return {
                ready: st.ready,
                error: st.error,
                idle: !syncing && !dirty,
                round: st.round,
                rounds: st.session ? st.session.rounds.map(r => r.id) : [],
                columns: st.columns.slice(),
                sort: Object.assign({}, st.sort),
                order: st.rows.map(r => r.rank),
                rows: st.rows.length,
                selected: st.selected,
                selectedRow: st.rows.find(r => r.rank === st.selected) || null,
                compare: st.compare.slice(),
                level: st.level,
                mapVersion: st.session ? st.session.map.version : null,
                history: st.session ? st.session.history.slice() : [],
                job: st.job,
                timings: Object.assign({}, st.timings),
                quality: st.quality,
                renderer: st.renderer,
                status: $('status').textContent,
                log: st.log.slice(),
                molstar: mol.plugin ? molState() : null,
            };
        },
        select: (rank) => select(rank),
        selectFit: (fitId) => selectFit(fitId),
        move: (d) => move(d),
        toggleCompare: (rank) => toggleCompare(rank),
        clearCompare: () => clearCompare(),
        sortBy: (col, dir) => sortBy(col, dir),
        setLevel: (v) => setLevel(v, true),
        showRound: async (rid) => { await showRound(rid); await Promise.all([requestSync(), loadPoints()]); },
        save: () => saveSelected(),
        zero: () => zeroSelected(),
        undo: () => undo(),
        fitAgain: (opts) => fitAgain(opts),
        idle: () => syncing || Promise.resolve(),
    };

    // ------------------------------------------------------------------ start
    async function main() {
        mark('script');
        wire();
        // ask for everything at once; the answers arrive while Mol* starts
        const sessionP = getJSON('/api/session');
        const clustersP = getJSON('/api/clusters', { round: 0 });
        const pointsP = getJSON('/api/points', { round: 0, metric: st.metric });
        await createViewer();
        mark('molstar');
        holdDraw();
        st.session = await sessionP;
        mark('session');
        st.level = st.session.level;
        const metricSel = $('metric');
        for (const m of st.session.point_metrics) {
            const o = document.createElement('option');
            o.value = m; o.textContent = m;
            metricSel.appendChild(o);
        }
        metricSel.value = st.metric;
        renderSession();
        renderFitForm();
        setLevel(st.level, false);
        clearTimeout(levelTimer);
        const mapP = loadMap(st.session.map.version).then(() => mark('map'));
        await showRound(0, false, clustersP);
        mark('table');
        await Promise.all([mapP, requestSync().then(() => mark('model'))]);
        await loadPoints(pointsP);
        mark('points');
        // Mol* would frame the whole scene at its first frame: set the camera on the selection
        // before that frame instead (one frame, not two)
        const canvas = mol.plugin.canvas3d;
        canvas.commit(true);
        canvas.camera.setState({ radiusMax: canvas.boundingSphere.radius }, 0);
        const sel = mol.models.get(`${st.round}:${st.selected}`);
        if (sel) focusOn(sel, 0);
        else canvas.requestCameraReset({ durationMs: 0 });
        canvas.setProps({ camera: { manualReset: false } });
        releaseDraw();
        await nextFrame();
        mark('drawn');
        $('loading').hidden = true;
        $('table-wrap').focus();
        st.ready = true;
        mark('ready');
    }

    main().catch((e) => {
        st.error = e && e.message ? e.message : String(e);
        $('loading').textContent = `Failed: ${st.error}`;
        status(st.error, true);
    });
})();
