// The playground's service worker: keeps the page, the npm package and the
// bundled modules, so that after a first visit the page loads and runs
// workflows with the network (or the page's server) gone. Network first, so an
// updated page is seen at once when online; the cache answers when the network
// does not, and the page is told so.
const CACHE = "ipvm-playground-v1";
const PAGE = [
  "./", "./index.html", "./style.css", "./worker.js", "./js/main.js", "./js/dag.js", "./js/editor.js", "./js/panels.js", "./js/receipts.js", "./js/ui.js", "./js/base64.js",
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

async function tell(clientId, message) {
  const clients = clientId ? [await self.clients.get(clientId)] : await self.clients.matchAll();
  for (const c of clients) c?.postMessage(message);
}

async function fromNetworkOrCache(request, clientId) {
  const cache = await caches.open(CACHE);
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    const cached = await cache.match(request, { ignoreSearch: true });
    if (!cached) throw error;
    // Tell the page (and, for a navigation or a worker, every page) that the network is gone.
    offline = true;
    await tell(clientId, { type: "offline", url: request.url });
    return cached;
  }
  if (offline) {
    offline = false;
    await tell(null, { type: "online" });
  }
  // A failed put (quota, a partial response) only means this copy is not kept.
  if (response.ok && response.status === 200) cache.put(request, response.clone()).catch(() => {});
  return response;
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(fromNetworkOrCache(event.request, event.clientId));
});
