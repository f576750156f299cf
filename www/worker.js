// The package's task worker, started from the playground's own directory: a
// service worker controls a dedicated worker by the worker script's URL, and
// the playground's service worker covers www/ only. Started from here, the
// worker (and its imports from ../pkg/) is served from the offline cache.
import "../pkg/worker.js";
