// The cluster table (DOM): the header with its sort marks, one row per cluster (a tick box to
// compare, a colour swatch, the columns), and the marks of the selected and compared rows.

import { TEXT_COLUMNS, fmt } from './format.mjs';
import { hex } from './palette.mjs';
import { desiredModels, modelKey } from './table-model.mjs';

/**
 * @param {HTMLTableElement} table  the table (with <thead><tr> and <tbody>)
 * @param {{onSort: (col) => void, onSelect: (rank) => void, onToggle: (rank) => void}} handlers
 */
export function createTable(table, { onSort, onSelect, onToggle }) {
    const headRow = table.querySelector('thead tr');
    const tbody = table.querySelector('tbody');

    function renderHeader(state) {
        headRow.innerHTML = '';
        const mk = (text, cls, col) => {
            const th = document.createElement('th');
            th.textContent = text;
            if (cls) th.className = cls;
            if (col) {
                th.dataset.col = col;
                if (state.sort.key === col) th.classList.add(state.sort.dir > 0 ? 'sorted-asc' : 'sorted-desc');
                th.addEventListener('click', () => onSort(col));
            }
            headRow.appendChild(th);
        };
        mk('', 'tick', null);
        mk('', 'swatch', null);
        for (const c of state.columns) mk(c, TEXT_COLUMNS.has(c) ? 'text' : '', c);
    }

    function renderBody(state) {
        const frag = document.createDocumentFragment();
        for (const row of state.rows) {
            const tr = document.createElement('tr');
            tr.dataset.rank = row.rank;
            const tick = document.createElement('td');
            tick.className = 'tick';
            const cb = document.createElement('input');
            cb.type = 'checkbox';
            cb.title = 'compare';
            cb.addEventListener('click', (ev) => { ev.stopPropagation(); onToggle(row.rank); });
            tick.appendChild(cb);
            tr.appendChild(tick);
            const sw = document.createElement('td');
            sw.className = 'swatch';
            sw.appendChild(document.createElement('span'));
            tr.appendChild(sw);
            for (const c of state.columns) {
                const td = document.createElement('td');
                td.textContent = fmt(row[c], c);
                if (TEXT_COLUMNS.has(c)) td.className = 'text';
                tr.appendChild(td);
            }
            tr.addEventListener('click', () => onSelect(row.rank));
            frag.appendChild(tr);
        }
        tbody.innerHTML = '';
        tbody.appendChild(frag);
    }

    function renderMarks(state) {
        const want = desiredModels(state);
        for (const tr of tbody.querySelectorAll('tr')) {
            const rank = Number(tr.dataset.rank);
            const compared = state.compare.includes(rank);
            tr.classList.toggle('selected', rank === state.selected);
            tr.classList.toggle('compared', compared);
            tr.querySelector('input').checked = compared;
            const w = want.get(modelKey(state.round, rank));
            tr.querySelector('td.swatch span').style.background = w ? hex(w.color) : 'transparent';
        }
    }

    function scrollToSelected(state) {
        const tr = tbody.querySelector(`tr[data-rank="${state.selected}"]`);
        if (tr) tr.scrollIntoView({ block: 'nearest' });
    }

    /** Redraw what changed from prev to state (prev null: everything). */
    function update(state, prev) {
        const rowsChanged = !prev || state.rows !== prev.rows || state.columns !== prev.columns;
        if (rowsChanged || state.sort !== prev.sort) renderHeader(state);
        if (rowsChanged) renderBody(state);
        if (rowsChanged || state.selected !== prev.selected || state.compare !== prev.compare ||
            state.round !== prev.round) renderMarks(state);
        if (rowsChanged || state.selected !== prev.selected) scrollToSelected(state);
    }

    return { update, scrollToSelected };
}
