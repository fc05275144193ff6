// One store: the state, changed only by dispatch(action) through a reducer, and the listeners
// told of every change (listener(next, previous)).

export function createStore(reducer, initial) {
    let state = initial;
    const listeners = new Set();
    return {
        getState: () => state,
        /** Apply action; listeners run (in subscription order) only when the state changed. */
        dispatch(action) {
            const prev = state;
            const next = reducer(prev, action);
            if (next === prev) return state;
            state = next;
            for (const fn of listeners) fn(next, prev);
            return state;
        },
        /** Call fn(next, previous) after each change; returns the unsubscribe function. */
        subscribe(fn) {
            listeners.add(fn);
            return () => listeners.delete(fn);
        },
    };
}
