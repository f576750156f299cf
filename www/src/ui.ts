// Small DOM helpers shared by the playground's panels: element building,
// CIDs shown as copyable buttons, byte sizes, and images from DAG-JSON bytes.

import { fromBase64 } from "./base64.js";

/** The project's guest module, and the package's worker started from the page's directory (see www/worker.js). */
export const GUESTS = new URL("../modules/ipvm_guests.wasm", import.meta.url);
export const WORKER = new URL("../worker.js", import.meta.url);

/** `CODE: message` for an IpvmError, the message for anything else. */
export function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string } | null;
  return err?.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

/** A status line: `say(text, isError)` writes it, red for errors. */
export function statusLine(id: string): (text: string, error?: boolean) => void {
  return (text, error = false) => {
    const el = $(id);
    el.textContent = text;
    el.classList.toggle("error", error);
  };
}

/** The element with this id (the page's markup guarantees it exists). */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

type Child = Node | string | null | undefined | false;

/** `h("p", { class: "x" }, "text", child)`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** A CID as a button: click copies it, and `onOpen` (if given) also opens it. */
export function cidLink(cid: string, onOpen?: (cid: string) => void): HTMLButtonElement {
  const b = h("button", { type: "button", class: "cid", title: `${cid}\nclick to copy${onOpen ? " and open" : ""}`, "data-cid": cid }, short(cid));
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard?.writeText(cid);
      b.classList.add("copied");
      setTimeout(() => b.classList.remove("copied"), 900);
    } catch {
      // Clipboard access may be refused (no focus, permissions); opening still works.
    }
    onOpen?.(cid);
  });
  return b;
}

/** `bafyrmi…x4zq`: enough of a CID to tell it apart. */
export function short(cid: string): string {
  return cid.length > 16 ? `${cid.slice(0, 8)}…${cid.slice(-6)}` : cid;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "unknown";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) (v /= 1000), i++;
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  return n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${n.toFixed(0)} ms` : `${(n / 1000).toFixed(2)} s`;
}

export function fuel(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n);
}

/** The bytes of a DAG-JSON bytes value `{"/": {"bytes": "<base64>"}}`, or null. */
export function dagBytes(value: unknown): Uint8Array | null {
  const inner = (value as { "/"?: { bytes?: unknown } } | null)?.["/"];
  if (!inner || typeof inner !== "object" || typeof inner.bytes !== "string") return null;
  return fromBase64(inner.bytes);
}

const PNG = [0x89, 0x50, 0x4e, 0x47];

/** An <img> for bytes that are a PNG, else null. */
export function pngImage(data: Uint8Array | null, alt: string): HTMLImageElement | null {
  if (!data || data.length < 8 || PNG.some((b, i) => data[i] !== b)) return null;
  const src = URL.createObjectURL(new Blob([data as BlobPart], { type: "image/png" }));
  const img = h("img", { alt, src });
  // Decoded once loaded: the blob's URL is not needed after that.
  img.addEventListener("load", () => URL.revokeObjectURL(src), { once: true });
  return img;
}

/** A short preview of a DAG-JSON value: images as images, bytes by size, the rest as text. */
export function preview(value: unknown, alt: string): Node {
  const data = dagBytes(value);
  const img = pngImage(data, alt);
  if (img) return img;
  if (data) return h("code", {}, `${bytes(data.length)} of bytes`);
  const link = (value as { "/"?: unknown } | null)?.["/"];
  if (typeof link === "string") return h("code", {}, `link ${short(link)}`);
  const text = JSON.stringify(value);
  return h("code", {}, text.length > 120 ? `${text.slice(0, 117)}…` : text);
}

/** Runs `action` with the button disabled, showing errors in `say`. */
export function busy(button: HTMLButtonElement, action: () => Promise<void>, say: (text: string, error?: boolean) => void): () => Promise<void> {
  return async () => {
    button.disabled = true;
    try {
      await action();
    } catch (e) {
      say(errorText(e), true);
    } finally {
      button.disabled = false;
    }
  };
}
