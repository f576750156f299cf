// The DAG view: the workflow drawn as a graph (left to right, each task in the
// column after the last task it awaits), with each node's live state, and its
// fuel and duration on hover. Nodes are focusable; Enter or a click opens the
// task's receipt.
import type { TaskNode } from "ipvm-web";
import { fuel, ms } from "./ui.js";

export type NodeState = "idle" | "stored" | "queued" | "running" | "done" | "memo" | "failed" | "skipped";

export interface NodeInfo {
  state: NodeState;
  fuel?: number;
  ms?: number | null;
  engine?: string | null;
  receipt?: string | null;
  reason?: string;
}

const SVG = "http://www.w3.org/2000/svg";
const W = 132, H = 46, GAP_X = 56, GAP_Y = 18, PAD = 8;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Column of each task: one more than the deepest task it awaits. */
function columns(nodes: TaskNode[]): number[] {
  const col: number[] = new Array(nodes.length).fill(-1);
  const depth = (i: number, seen: Set<number>): number => {
    if (col[i] >= 0) return col[i];
    if (seen.has(i)) return 0; // planWorkflow refuses cycles; this only keeps the view safe
    seen.add(i);
    col[i] = nodes[i].awaits.reduce((d, j) => Math.max(d, depth(j, seen) + 1), 0);
    return col[i];
  };
  nodes.forEach((_, i) => depth(i, new Set()));
  return col;
}

const LABEL: Record<NodeState, string> = {
  idle: "not run yet",
  stored: "computed before: a memo hit",
  queued: "queued",
  running: "running",
  done: "done (executed)",
  memo: "memo hit",
  failed: "failed",
  skipped: "skipped",
};

export class DagView {
  #root: SVGSVGElement;
  #nodes: TaskNode[] = [];
  #info: NodeInfo[] = [];
  #groups: SVGGElement[] = [];
  #onOpen: (task: number, receipt: string | null) => void;

  /** `onOpen(task, receipt)`: a node was clicked or Entered; `receipt` is the one it got in the run shown, if any. */
  constructor(container: HTMLElement, onOpen: (task: number, receipt: string | null) => void) {
    this.#root = svg("svg", { role: "group", "aria-label": "workflow graph" });
    container.replaceChildren(this.#root);
    this.#onOpen = onOpen;
  }

  /** Draws a workflow; every node starts `idle`. */
  show(nodes: TaskNode[]) {
    this.#nodes = nodes;
    this.#info = nodes.map(() => ({ state: "idle" }));
    const col = columns(nodes);
    const rows: number[] = [];
    const pos = nodes.map((_, i) => {
      const c = col[i];
      const r = (rows[c] = (rows[c] ?? -1) + 1);
      return { x: PAD + c * (W + GAP_X), y: PAD + r * (H + GAP_Y) };
    });
    const width = PAD * 2 + (Math.max(0, ...col) + 1) * (W + GAP_X) - GAP_X;
    const height = PAD * 2 + Math.max(1, ...rows.map((r) => r + 1)) * (H + GAP_Y) - GAP_Y;
    this.#root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.#root.style.maxWidth = `${width}px`;
    const edges = svg("g", { class: "edges" });
    nodes.forEach((n, i) =>
      n.awaits.forEach((j) => {
        const a = pos[j], b = pos[i];
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
        edges.append(svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 4},${y2}`, "marker-end": "url(#arrow)" }));
      }),
    );
    const defs = svg("defs", {});
    const marker = svg("marker", { id: "arrow", viewBox: "0 0 8 8", refX: 6, refY: 4, markerWidth: 7, markerHeight: 7, orient: "auto" });
    marker.append(svg("path", { d: "M0,0 L8,4 L0,8 z", class: "arrowhead" }));
    defs.append(marker);
    this.#groups = nodes.map((n, i) => {
      const g = svg("g", { class: "node idle", transform: `translate(${pos[i].x},${pos[i].y})`, tabindex: 0, role: "button", "data-task": i, "data-state": "idle" });
      g.append(svg("rect", { width: W, height: H, rx: 7 }));
      const name = svg("text", { x: 10, y: 19, class: "func" });
      name.textContent = `${i}. ${n.func}`;
      const sub = svg("text", { x: 10, y: 36, class: "sub" });
      sub.textContent = LABEL.idle;
      g.append(name, sub, svg("title", {}));
      g.addEventListener("click", () => this.#onOpen(i, this.#info[i]?.receipt ?? null));
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          this.#onOpen(i, this.#info[i]?.receipt ?? null);
        }
      });
      return g;
    });
    this.#root.replaceChildren(defs, edges, ...this.#groups);
    this.#groups.forEach((_, i) => this.#paint(i));
  }

  /** Updates one node's state (and its figures, when known). */
  set(task: number, info: Partial<NodeInfo>) {
    if (!this.#info[task]) return;
    Object.assign(this.#info[task], info);
    this.#paint(task);
  }

  /** The state of each node, in task order. */
  states(): NodeState[] {
    return this.#info.map((i) => i.state);
  }

  #paint(i: number) {
    const g = this.#groups[i];
    const info = this.#info[i];
    g.setAttribute("class", `node ${info.state}`);
    g.setAttribute("data-state", info.state);
    const figures = [info.fuel !== undefined ? `fuel ${fuel(info.fuel)}` : "", info.ms != null ? ms(info.ms) : ""].filter(Boolean).join(" · ");
    const short: Partial<Record<NodeState, string>> = { done: "done", memo: "memo hit", stored: "computed before" };
    const head = short[info.state];
    g.querySelector("text.sub")!.textContent = head ? `${head}${figures ? ` · ${figures}` : ""}` : LABEL[info.state];
    const n = this.#nodes[i];
    g.querySelector("title")!.textContent = [
      `task ${i}: ${n.func} — ${LABEL[info.state]}`,
      info.fuel !== undefined ? `fuel: ${info.fuel.toLocaleString("en")}` : "",
      info.ms != null ? `duration: ${ms(info.ms)}${info.engine ? ` on ${info.engine}` : ""}` : "",
      info.reason ? `why: ${info.reason}` : "",
      `instruction: ${n.instruction}`,
      info.receipt ? `receipt: ${info.receipt}` : "",
    ]
      .filter(Boolean)
      .join("\n");
    g.setAttribute("aria-label", `task ${i} ${n.func}: ${LABEL[info.state]}`);
  }
}
