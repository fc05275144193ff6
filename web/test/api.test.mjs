import { test } from 'node:test';
import assert from 'node:assert/strict';

import { apiUrl, createApi, failureMessage, readToken } from '../src/api.mjs';

const TOKEN = 'tok_en-1234567890abcdef';

/** A stand-in for fetch that records its calls and answers with response(url, init). */
function fakeFetch(response) {
    const calls = [];
    const fn = async (url, init) => {
        calls.push({ url, init });
        return response(url, init);
    };
    fn.calls = calls;
    return fn;
}

const jsonResponse = (status, body, statusText = '') => ({
    ok: status >= 200 && status < 300,
    status,
    statusText,
    json: async () => (typeof body === 'string' ? JSON.parse(body) : body),
    text: async () => (typeof body === 'string' ? body : JSON.stringify(body)),
});

test('apiUrl appends the token (escaped) after the parameters', () => {
    assert.equal(apiUrl('/api/session', undefined, TOKEN), `/api/session?token=${TOKEN}`);
    assert.equal(apiUrl('/api/model', { round: 1, rank: 3, download: 1 }, 'a b&c'),
        '/api/model?round=1&rank=3&download=1&token=a+b%26c');
    // a null parameter is left out; a 'token' parameter cannot replace the session's
    assert.equal(apiUrl('/api/map', { v: 2, max: null, token: 'other' }, TOKEN), `/api/map?v=2&token=${TOKEN}`);
});

test('readToken reads the meta tag and says what to do without one', () => {
    const doc = (content) => ({ querySelector: (sel) => (sel === 'meta[name="difffit-token"]' && content !== undefined ? { content } : null) });
    assert.equal(readToken(doc(TOKEN)), TOKEN);
    assert.throws(() => readToken(doc(undefined)), /no token/);
    assert.throws(() => readToken(doc('')), /no token/);
});

test('failureMessage prefers the server error', () => {
    assert.equal(failureMessage(400, 'Bad Request', { error: 'round 9 does not exist' }), 'round 9 does not exist');
    assert.equal(failureMessage(500, 'Internal Server Error', null), '500 Internal Server Error');
    assert.equal(failureMessage(403, '', 'not an object'), '403');
});

test('getJSON: token in the URL and in the header, JSON back', async () => {
    const fetch = fakeFetch(() => jsonResponse(200, { round: 0, rows: [] }));
    const api = createApi(TOKEN, fetch);
    assert.deepEqual(await api.getJSON('/api/clusters', { round: 0 }), { round: 0, rows: [] });
    assert.equal(fetch.calls.length, 1);
    const { url, init } = fetch.calls[0];
    assert.equal(url, `/api/clusters?round=0&token=${TOKEN}`);
    assert.deepEqual(init.headers, { 'X-DiffFit-Token': TOKEN });
    assert.equal(init.method, undefined); // GET
    assert.equal(init.body, undefined);
});

test('post: a JSON body with the token header, no token in the URL', async () => {
    const fetch = fakeFetch(() => jsonResponse(200, { ok: true }));
    const api = createApi(TOKEN, fetch);
    assert.deepEqual(await api.post('/api/zero', { round: 0, rank: 2 }), { ok: true });
    await api.post('/api/undo');
    const [zero, undo] = fetch.calls;
    assert.equal(zero.url, '/api/zero');
    assert.equal(zero.init.method, 'POST');
    assert.deepEqual(zero.init.headers, { 'X-DiffFit-Token': TOKEN, 'Content-Type': 'application/json' });
    assert.deepEqual(JSON.parse(zero.init.body), { round: 0, rank: 2 });
    assert.equal(undo.init.body, '{}');
});

test('getText returns the body as text', async () => {
    const cif = 'data_model\n_atom_site.id 1\n';
    const fetch = fakeFetch(() => jsonResponse(200, cif));
    const api = createApi(TOKEN, fetch);
    assert.equal(await api.getText('/api/model', { round: 1, rank: 1 }), cif);
    assert.equal(fetch.calls[0].url, `/api/model?round=1&rank=1&token=${TOKEN}`);
});

test('a failed request rejects with the server message, or the status when it sent no JSON', async () => {
    const api = createApi(TOKEN, fakeFetch((url) => (url.startsWith('/api/model')
        ? jsonResponse(404, '<html>nope</html>', 'Not Found')
        : jsonResponse(400, { error: 'no cluster of rank 99 in round 0' }, 'Bad Request'))));
    await assert.rejects(api.getJSON('/api/clusters', { round: 0 }), { message: 'no cluster of rank 99 in round 0' });
    await assert.rejects(api.post('/api/zero', { rank: 99 }), { message: 'no cluster of rank 99 in round 0' });
    await assert.rejects(api.getText('/api/model', { rank: 99 }), { message: '404 Not Found' });
});

test('url() is the token-bearing address for Mol* and download links', () => {
    const api = createApi(TOKEN, fakeFetch(() => jsonResponse(200, {})));
    assert.equal(api.url('/api/map', { v: 3, max: 96 }), `/api/map?v=3&max=96&token=${TOKEN}`);
});
