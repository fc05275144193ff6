import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createSyncLoop } from '../src/sync.mjs';

const tick = () => new Promise((r) => setTimeout(r, 1));

test('requests made while a sync runs are coalesced into one more run', async () => {
    let runs = 0;
    let stale = [];
    const loop = createSyncLoop(async (isStale) => {
        runs += 1;
        await tick();
        stale.push(isStale());
    });
    assert.equal(loop.idle(), true);
    const p = loop.request();
    assert.equal(loop.idle(), false);
    assert.equal(loop.request(), p); // one loop
    loop.request();
    loop.request();
    await p;
    assert.equal(runs, 2);
    assert.deepEqual(stale, [true, false]);
    assert.equal(loop.idle(), true);
    await loop.settled();
});

test('a request after the loop ended starts a new loop', async () => {
    let runs = 0;
    const loop = createSyncLoop(async () => { runs += 1; await tick(); });
    await loop.request();
    await loop.request();
    assert.equal(runs, 2);
});

test('an error stops the loop, goes to onError, and the loop can start again', async () => {
    const errors = [];
    let settled = 0;
    let fail = true;
    const loop = createSyncLoop(async () => {
        await tick();
        if (fail) throw new Error('no WebGL');
    }, { onError: (e) => errors.push(e.message), onSettled: () => { settled += 1; } });
    await loop.request(); // resolves, does not reject
    assert.deepEqual(errors, ['no WebGL']);
    assert.equal(settled, 1);
    assert.equal(loop.idle(), true);
    fail = false;
    await loop.request();
    assert.deepEqual(errors, ['no WebGL']);
    assert.equal(settled, 2);
});
