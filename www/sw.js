// The playground's service worker: keeps the page, the npm package and the
// bundled modules, so that after a first visit the page loads and runs
// workflows with the network (or the page's server) gone. Network first, so an
// updated page is seen at once when online; the cache answers when the network
// does not, and the page is told so.
const CACHE = "ipvm-playground-v1";
const PAGE = [
  "./", "./index.html", "./style.css", "./worker.js", "./js/main.js", "./js/dag.js", "./js/editor.js", "./js/panels.js", "./js/receipts.js", "./js/ui.js", "./js/base64.js", "./js/peers.js",
  "./images/sample.png", "./modules/ipvm_guests.wasm",
  "../pkg/index.js", "../pkg/pool.js", "../pkg/worker.js", "../pkg/wasm/ipvm_web.js", "../pkg/wasm/ipvm_web_bg.wasm",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(PAGE.map((p) => new URL(p, self.registration.scope)))).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n)))).then(() => self.clients.claim()),
  );
});

/** Whether the last fetch failed: the pages are told when the network comes back. */
let offline = false;

/**
 * Tells pages `message` without holding the response: `event.waitUntil` keeps the service worker
 * alive until it is posted. Never `clients.get(event.clientId)` on the way to an answer: for a
 * module worker's own imports the spec makes it wait until those imports have loaded, a deadlock
 * that Firefox honours (offline, every task's worker failed to start after 60 s). `matchAll` lists
 * only clients that are up and never waits. Told: the requesting page if it is one of them, else
 * (a navigation, a worker, a worker's imports, or `everyone`) every page.
 */
function tell(event, message, everyone = false) {
  const post = self.clients.matchAll({ type: "window" }).then((pages) => {
    const own = everyone ? [] : pages.filter((c) => c.id === event.clientId);
    for (const c of own.length > 0 ? own : pages) c.postMessage(message);
  });
  try {
    event.waitUntil(post.catch(() => {}));
  } catch {
    // The event is over (cannot happen while its response is pending); the message may still go.
  }
}

async function fromNetworkOrCache(event) {
  const { request } = event;
  const cache = await caches.open(CACHE);
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (!cached) throw error;
    // The page is told that the network is gone; the answer does not wait for that.
    offline = true;
    tell(event, { type: "offline", url: request.url });
    return cached;
  }
  if (offline) {
    offline = false;
    tell(event, { type: "online" }, true);
  }
  // A failed put (quota, a partial response) only means this copy is not kept.
  if (response.ok && response.status === 200) cache.put(request, response.clone()).catch(() => {});
  return response;
}

/**
 * The node beside the page server (/node-info.json, npm start) is never cached: it is asked
 * each time, and when the server cannot be reached the answer says so (a JSON error, not a
 * failed fetch: the page shows why there is no node, and nothing is logged as an error).
 */
function nodeInfo(event) {
  return fetch(event.request, { cache: "no-store" }).catch(
    () => new Response(JSON.stringify({ error: "the page's server cannot be reached, nor so the node beside it" }), { headers: { "content-type": "application/json", "cache-control": "no-store" } }),
  );
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(url.pathname === "/node-info.json" ? nodeInfo(event) : fromNetworkOrCache(event));
});
