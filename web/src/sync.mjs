// Keeping the 3D view in step with the state: every change of selection, comparison or style
// only asks for a sync; one loop at a time runs syncOnce until no request came in during the
// last run, so fast key presses load only the last selection.

/**
 * @param {(isStale: () => boolean) => Promise<void>} syncOnce  bring the view to the current
 *     state; isStale() turns true when a newer request came in (it may stop early then)
 * @param {{onError?: (e) => void, onSettled?: () => void}} [hooks]  onError gets what a run
 *     threw (the loop stops); onSettled runs when the loop ends
 */
export function createSyncLoop(syncOnce, { onError = () => {}, onSettled = () => {} } = {}) {
    let running = null;
    let dirty = false;
    const isStale = () => dirty;

    /** Ask for a sync; resolves when the loop that handles it ends (it never rejects). */
    function request() {
        dirty = true;
        if (!running) {
            running = (async () => {
                try {
                    while (dirty) {
                        dirty = false;
                        await syncOnce(isStale);
                    }
                } catch (e) {
                    onError(e);
                } finally {
                    running = null;
                    onSettled();
                }
            })();
        }
        return running;
    }

    return {
        request,
        /** No loop runs and none is asked for. */
        idle: () => !running && !dirty,
        /** The running loop's promise (resolved when none runs). */
        settled: () => running || Promise.resolve(),
    };
}
