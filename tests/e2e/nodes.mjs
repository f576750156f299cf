// Helpers of the peer tests and benches: start `ipvm node` as a process,
// wait until it is ready, read its --info, stop it; a workflow of add_one
// chains; a js-libp2p peer and one request (a lookup, an offload) over it.
import "./node20.mjs";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLibp2p } from "libp2p";
import { webSockets } from "@libp2p/websockets";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import { gossipsub } from "@libp2p/gossipsub";
import { multiaddr } from "@multiformats/multiaddr";
import { createHeliaLight } from "helia";
import { withLibp2pLight } from "@helia/libp2p";
import { withBitswap } from "@helia/bitswap";
import { sha3256 } from "@multiformats/sha3";
import { GUESTS_WASM, IPVM_BIN, ipvm } from "./helpers.mjs";

/**
 * `n` chains of two on the project's guest module: add_one(i), then add_one
 * of its result (awaited). Writes DIR/firsts.jsonl (the first `n`
 * instructions) and DIR/chains.json (the workflow); resolves to its path.
 */
export async function addOneChains(dir, n) {
  const module = (await ipvm(["add", GUESTS_WASM])).stdout.split(/\s+/)[0];
  const run = (args) => ({ rsc: `ipfs://${module}`, op: "wasm/run", input: { func: "add_one", args }, nnc: "" });
  const firsts = Array.from({ length: n }, (_, i) => run([i]));
  writeFileSync(join(dir, "firsts.jsonl"), firsts.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const cids = (await ipvm(["instruction", join(dir, "firsts.jsonl")])).stdout.trim().split("\n");
  const seconds = cids.map((cid) => run([{ "await/ok": { "/": cid } }]));
  const wf = { tasks: [...firsts, ...seconds].map((r) => ({ run: r, cause: null, meta: {}, prf: [] })) };
  const path = join(dir, "chains.json");
  writeFileSync(path, JSON.stringify(wf));
  return path;
}

/** The receipt lookup protocol's id. */
export const LOOKUP = "/ipvm/lookup/0.1.0";

/** A js-libp2p peer (WebSocket, Noise, Yamux, identify; it listens nowhere). */
export function jsPeer() {
  return createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  });
}

/** The pubsub topic of receipt announcements. */
export const RECEIPTS_TOPIC = "/ipvm/receipts/0.1.0";

/** A js-libp2p peer with gossipsub (signed messages, as the node expects). */
export function jsPubsubPeer() {
  return createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }) },
  });
}

/** Task offload's and capacity's protocol ids. */
export const OFFLOAD = "/ipvm/offload/0.1.0";
export const CAPACITY = "/ipvm/capacity/0.1.0";

/**
 * One request-response exchange from a js-libp2p peer on `protocol`, on its own
 * stream: the request's bytes, then the writing end closed (request-response
 * reads to the end); resolves to the answer's bytes, or `{error}` if none came.
 */
export async function exchange(peer, addr, protocol, bytes, ms = 15_000) {
  try {
    const stream = await peer.dialProtocol(multiaddr(addr), protocol, { signal: AbortSignal.timeout(ms) });
    stream.send(bytes);
    await stream.close();
    const chunks = [];
    for await (const c of stream) chunks.push(c.subarray());
    return chunks.length ? { bytes: Buffer.concat(chunks) } : { error: "no answer (the stream ended empty)" };
  } catch (e) {
    return { error: e.message };
  }
}

/** One receipt lookup from a js-libp2p peer ({@link exchange} on the lookup protocol). */
export const lookup = (peer, addr, bytes, ms = 15_000) => exchange(peer, addr, LOOKUP, bytes, ms);

/**
 * Starts `ipvm node ARGS` with its info in DIR/info-N.json; resolves once it
 * prints `ready` (its --add and --fetch done), with its info, its stdout
 * lines and a stop() that sends SIGTERM and waits for the exit code.
 */
let count = 0;
export function startNode(dir, args, { env = {}, timeoutMs = 60_000 } = {}) {
  const info = join(dir, `info-${process.pid}-${count++}.json`);
  const proc = spawn(IPVM_BIN, ["node", "--info", info, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = [];
  let err = "";
  let buffered = "";
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`ipvm node not ready in ${timeoutMs} ms\nstdout: ${out.join("\n")}\nstderr: ${err}`));
    }, timeoutMs);
    proc.stderr.on("data", (d) => (err += d));
    proc.stdout.on("data", (d) => {
      buffered += d;
      const lines = buffered.split("\n");
      buffered = lines.pop();
      out.push(...lines);
      if (lines.includes("ready")) {
        clearTimeout(timer);
        resolve({
          proc,
          out,
          info: JSON.parse(readFileSync(info, "utf8")),
          stderr: () => err,
          added: (file) => out.find((l) => l.startsWith("added ") && l.endsWith(` ${file}`))?.split(" ")[1],
          async stop() {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
            return exited;
          },
        });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ipvm node exited (${code}) before it was ready\nstdout: ${out.join("\n")}\nstderr: ${err}`));
    });
  });
}

/**
 * A Helia node (npm `helia`, configured by hand: WebSocket on 127.0.0.1 only, Noise, Yamux,
 * identify, bitswap, a SHA3-256 hasher; not Helia's defaults, which listen everywhere and add
 * mdns, DHT, bootstrap, autoTLS and UPnP), started.
 */
export async function startHelia() {
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ hashers: [sha3256] }), {
      addresses: { listen: ["/ip4/127.0.0.1/tcp/0/ws"] },
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
    }),
    // rust-libp2p's bitswap frames are capped lower than Helia's 4 MiB.
    { maxOutgoingMessageSize: 1 << 20 },
  );
  await helia.start();
  return helia;
}
