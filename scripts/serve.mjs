// A static file server for the playground: serves the repository root so
// that www/ can import ../pkg/ exactly as it would from an npm install.
// Run directly (`node scripts/serve.mjs`, PORT=8080 by default) it prints the
// URL; tests import startServer() and get a free port.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ts": "text/plain; charset=utf-8",
};

async function handle(root, cache, req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/" && root === ROOT) {
    res.writeHead(302, { location: "/www/" });
    return res.end();
  }
  let path = normalize(join(root, decodeURIComponent(url.pathname)));
  if (path !== root && !path.startsWith(root + sep)) {
    res.writeHead(403);
    return res.end("forbidden");
  }
  try {
    let info = await stat(path);
    if (info.isDirectory()) {
      path = join(path, "index.html");
      info = await stat(path);
    }
    // Cached by the browser and revalidated on each use (an edit is seen at once); with
    // `immutable`, the package is cached as a deployment with hashed file names would serve it.
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers = {
      "content-type": TYPES[extname(path)] ?? "application/octet-stream",
      "cache-control": cache === "immutable" && url.pathname.startsWith("/pkg/") ? "public, max-age=31536000, immutable" : "no-cache",
      etag,
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      return res.end();
    }
    const body = await readFile(path);
    res.writeHead(200, headers);
    res.end(body);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`not found: ${url.pathname}`);
  }
}

/**
 * Starts the server for `root` (default: the repository) on `port` (0 = any free port); resolves
 * to { server, url }. Files are revalidated on each use (ETag); `cache: "immutable"` lets the
 * browser keep /pkg/ without asking (the cold-start benchmark's "package cached").
 */
export function startServer({ port = 0, host = "127.0.0.1", root = ROOT, cache = "revalidate" } = {}) {
  return new Promise((resolvePromise, reject) => {
    const server = createServer((req, res) => {
      handle(resolve(root), cache, req, res).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolvePromise({ server, url: `http://${host === "127.0.0.1" ? "localhost" : host}:${actual}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const wanted = Number(process.env.PORT ?? 8080);
  let started;
  for (let port = wanted; !started && port < wanted + 20; port++) {
    try {
      started = await startServer({ port });
    } catch (e) {
      if (e.code !== "EADDRINUSE") throw e;
    }
  }
  if (!started) throw new Error(`no free port in ${wanted}..${wanted + 19}`);
  console.log(`ipvm playground: ${started.url}www/`);
}
