// The workflow editor: a textarea under a highlighted copy of its text, checked
// as you type by the package's `planWorkflow`; an error is marked at the task
// and field the API names, and said in words below the editor.
import { planWorkflow, type TaskNode } from "ipvm-web";
import { $, h } from "./ui.js";

interface Span {
  start: number;
  end: number;
  /** Where the key naming this value starts, for values inside objects. */
  key?: number;
}

/** Offsets of every value in a JSON text, by path (`tasks.0.run.input.args.1`); `failed` where the text stops being JSON. */
export function spans(text: string): { paths: Map<string, Span>; failed: number | null } {
  const paths = new Map<string, Span>();
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const string = () => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail();
    i++;
  };
  const value = (path: string, key?: number): void => {
    ws();
    const start = i;
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") i++;
      else
        for (;;) {
          ws();
          const k = i;
          string();
          const name = JSON.parse(text.slice(k, i)) as string;
          ws();
          if (text[i] !== ":") fail();
          i++;
          value(path ? `${path}.${name}` : name, k);
          ws();
          if (text[i] === ",") i++;
          else if (text[i] === "}") {
            i++;
            break;
          } else fail();
        }
    } else if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") i++;
      else
        for (let n = 0; ; n++) {
          value(path ? `${path}.${n}` : String(n));
          ws();
          if (text[i] === ",") i++;
          else if (text[i] === "]") {
            i++;
            break;
          } else fail();
        }
    } else if (c === '"') string();
    else {
      const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
      if (!m) fail();
      i += m![0].length;
    }
    paths.set(path, { start, end: i, key });
  };
  try {
    value("");
    ws();
    if (i < text.length) fail();
    return { paths, failed: null };
  } catch (at) {
    return { paths, failed: typeof at === "number" ? Math.min(at, text.length) : 0 };
  }
}

/** The span of `field` (the API's spelling: `run.input.args[1]`) in task `task`, or of the nearest enclosing value that exists. */
export function locate(text: string, task: number | undefined, field: string | undefined): Span | null {
  const { paths, failed } = spans(text);
  if (failed !== null) return { start: failed, end: Math.min(failed + 1, text.length) };
  if (task === undefined) return null;
  const parts = ["tasks", String(task), ...(field ?? "").replace(/\[(\d+)\]/g, ".$1").split(".").filter(Boolean)];
  for (let n = parts.length; n > 0; n--) {
    const span = paths.get(parts.slice(0, n).join("."));
    if (span) return { start: span.key ?? span.start, end: span.end };
  }
  return null;
}

const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;

/** The text as highlighted HTML-free nodes, with `mark` wrapped around the error's span. */
function highlight(text: string, mark: Span | null): DocumentFragment {
  const out = document.createDocumentFragment();
  const put = (from: number, to: number, cls?: string) => {
    // Split at the error's span so it can be wrapped.
    const cuts = [from, to];
    if (mark) for (const x of [mark.start, mark.end]) if (x > from && x < to) cuts.splice(1, 0, x);
    cuts.sort((a, b) => a - b);
    for (let k = 0; k + 1 < cuts.length; k++) {
      const piece = text.slice(cuts[k], cuts[k + 1]);
      if (!piece) continue;
      let node: Node = cls ? h("span", { class: cls }, piece) : document.createTextNode(piece);
      if (mark && cuts[k] >= mark.start && cuts[k + 1] <= mark.end) node = h("mark", {}, node);
      out.append(node);
    }
  };
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const at = m.index ?? 0;
    put(last, at);
    if (m[1]) {
      put(at, at + m[1].length, m[2] ? "t-key" : /^"ipfs:\/\/|^"baf/.test(m[1]) ? "t-cid" : "t-str");
      if (m[2]) put(at + m[1].length, at + m[0].length);
    } else put(at, at + m[0].length, m[3] ? "t-num" : "t-lit");
    last = at + m[0].length;
  }
  put(last, text.length);
  // A trailing newline needs a character after it to take up a line in the <pre>.
  out.append("\n");
  return out;
}

export interface EditorState {
  /** The graph of the workflow as written, if it is valid. */
  nodes: TaskNode[] | null;
  /** The error, if it is not. */
  error: { code: string; message: string; task?: number; field?: string } | null;
}

/** Wires the editor; `onChange` hears each checked state. */
export function editor(onChange: (state: EditorState, text: string) => void) {
  const area = $<HTMLTextAreaElement>("wf-text");
  const shade = $("wf-shade");
  const said = $("wf-error");
  let timer: ReturnType<typeof setTimeout> | undefined;
  let checking = 0;

  const paint = (mark: Span | null) => {
    shade.replaceChildren(highlight(area.value, mark));
    shade.scrollTop = area.scrollTop;
    shade.scrollLeft = area.scrollLeft;
  };
  const check = async () => {
    const text = area.value;
    const ticket = ++checking;
    let state: EditorState;
    try {
      state = { nodes: await planWorkflow(text), error: null };
    } catch (e) {
      const err = e as { code?: string; message?: string; task?: number; field?: string };
      state = { nodes: null, error: { code: err.code ?? "ERROR", message: err.message ?? String(e), task: err.task, field: err.field } };
    }
    if (ticket !== checking) return; // a newer edit is being checked
    const mark = state.error ? locate(text, state.error.task, state.error.field) : null;
    paint(mark);
    area.setAttribute("aria-invalid", String(!!state.error));
    if (state.error) {
      const where = state.error.task !== undefined ? `task ${state.error.task}, field ${state.error.field}` : "";
      const line = mark ? text.slice(0, mark.start).split("\n").length : 0;
      // The mark may be out of view (after a paste): a button takes the caret there.
      const go = h("button", { type: "button", class: "goto" }, `line ${line}`);
      go.addEventListener("click", () => {
        if (!mark) return;
        area.focus();
        area.setSelectionRange(mark.start, mark.end);
        area.scrollTop = Math.max(0, (line - 3) * parseFloat(getComputedStyle(area).lineHeight || "18"));
      });
      said.replaceChildren(h("strong", {}, state.error.code), ` ${where}${where && line ? ", " : ""}`, line ? go : "", ": ", state.error.message);
      said.dataset.task = state.error.task === undefined ? "" : String(state.error.task);
      said.dataset.field = state.error.field ?? "";
      said.hidden = false;
    } else {
      said.hidden = true;
      said.replaceChildren();
    }
    onChange(state, text);
  };
  area.addEventListener("input", () => {
    paint(null);
    clearTimeout(timer);
    timer = setTimeout(check, 150);
  });
  area.addEventListener("scroll", () => {
    shade.scrollTop = area.scrollTop;
    shade.scrollLeft = area.scrollLeft;
  });
  // Tab indents inside the editor; Escape then Tab leaves it, so the keyboard never gets stuck.
  let escaped = false;
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") escaped = true;
    else if (e.key === "Tab" && !escaped && !e.shiftKey) {
      e.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      area.dispatchEvent(new Event("input"));
    } else escaped = false;
  });
  return {
    /** Replaces the text and checks it now. */
    set(text: string) {
      area.value = text;
      paint(null);
      return check();
    },
    get text() {
      return area.value;
    },
  };
}
