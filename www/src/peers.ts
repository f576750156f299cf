// The peers panel: what the node beside the page server says about itself
// (`npm start` starts `ipvm node` and serves its --info at /node-info.json),
// or why there is none. The tab does not connect to it yet.

import { $, errorText, h } from "./ui.js";

/** What /node-info.json holds: the node's --info (and its store), `{starting}` or `{error}`. */
interface NodeInfo {
  peerId?: string;
  did?: string;
  multiaddrs?: string[];
  store?: string;
  starting?: boolean;
  error?: string;
}

const INFO = "/node-info.json";

/** Asks the page server for its node (never from a cache) and shows it; asks again while it starts. */
export async function peers(): Promise<void> {
  const panel = $("peers");
  const show = (state: "starting" | "up" | "none", ...children: (Node | string)[]) => {
    panel.dataset.node = state;
    $("node-info").replaceChildren(...children);
  };
  for (let tries = 0; ; tries++) {
    let info: NodeInfo;
    try {
      const res = await fetch(INFO, { cache: "no-store" });
      info = res.ok ? ((await res.json()) as NodeInfo) : { error: `the page server has no node (${INFO}: HTTP ${res.status})` };
    } catch (e) {
      info = { error: `${INFO} could not be read: ${errorText(e)}` };
    }
    if (info.starting && tries < 60) {
      show("starting", h("p", { class: "status" }, "The node beside the page server is starting…"));
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (info.peerId && info.did) {
      show(
        "up",
        h("p", {}, "A native node (", h("code", {}, "ipvm node"), ") runs beside the page server:"),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "peer id"),
          h("dd", {}, h("code", { id: "node-peer" }, info.peerId)),
          h("dt", {}, "DID"),
          h("dd", {}, h("code", { id: "node-did" }, info.did)),
          h("dt", {}, "listening"),
          h("dd", { id: "node-addrs" }, ...(info.multiaddrs ?? []).flatMap((a, i) => [i ? h("br") : "", h("code", {}, a)])),
          info.store ? h("dt", {}, "store") : "",
          info.store ? h("dd", {}, h("code", {}, info.store)) : "",
        ),
        h("p", { class: "hint" }, "This tab does not connect to it yet (a later issue): it computes alone, and the node's blocks and receipts are its own."),
      );
    } else {
      const why = info.error ?? (info.starting ? "it did not become ready" : "its info names no peer");
      show("none", h("p", {}, "No node: ", h("span", { id: "node-error", class: "error" }, why), "."), h("p", { class: "hint" }, "The page works alone without one."));
    }
    return;
  }
}
