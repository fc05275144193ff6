// The server's HTTP API (src/difffit/viewer/server.py): every request carries the session's
// token, in the X-DiffFit-Token header and, for addresses handed to Mol* or to a download link
// (which send no custom header), in the URL. request() is the one place that fetches.

/** The token the server wrote into the page (<meta name="difffit-token">). */
export function readToken(doc) {
    const meta = doc.querySelector('meta[name="difffit-token"]');
    if (!meta || !meta.content) throw new Error('the page has no token: open the URL difffit view printed');
    return meta.content;
}

/** path?params&token=T (params with a null or undefined value are left out). */
export function apiUrl(path, params, token) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
        if (v !== null && v !== undefined && k !== 'token') q.set(k, String(v));
    }
    q.set('token', token);
    return `${path}?${q}`;
}

/** The message of a failed response: the server's {"error": ...} when it sent one. */
export function failureMessage(status, statusText, body) {
    if (body && typeof body === 'object' && body.error) return String(body.error);
    return `${status} ${statusText}`.trim();
}

/**
 * The API client bound to a token.
 *
 * @param {string} token  the session's token
 * @param {Function} [fetchFn]  fetch (a stand-in in tests)
 * @returns {{url, request, getJSON, getText, post}}
 */
export function createApi(token, fetchFn = globalThis.fetch.bind(globalThis)) {
    const url = (path, params) => apiUrl(path, params, token);

    /** GET (or POST with a JSON body) path; resolves to the parsed JSON, or the text when
     * as === 'text', or {text, headers} when as === 'response'; rejects with the server's message when the status is not 2xx. */
    async function request(path, { params, body, as = 'json' } = {}) {
        const headers = { 'X-DiffFit-Token': token };
        const init = { headers };
        if (body !== undefined) {
            init.method = 'POST';
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body || {});
        }
        // an action (POST) carries its token in the header only, as its body is JSON
        const r = await fetchFn(body !== undefined && !params ? path : url(path, params), init);
        if (!r.ok) {
            let data = null;
            try { data = await r.json(); } catch { /* not JSON: the status says it */ }
            throw new Error(failureMessage(r.status, r.statusText, data));
        }
        if (as === 'response') return { text: await r.text(), headers: r.headers };
        return as === 'text' ? r.text() : r.json();
    }

    return {
        url,
        request,
        getJSON: (path, params) => request(path, { params }),
        getText: (path, params) => request(path, { params, as: 'text' }),
        post: (path, body) => request(path, { body: body || {} }),
    };
}
