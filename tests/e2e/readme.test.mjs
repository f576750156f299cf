// The READMEs' examples are code, and checked as code: each TypeScript block
// marked `<!-- check: NAME -->` in README.md or pkg/README.md type-checks under
// `strict` against the package's types (as a user's project would), then runs
// in Chromium on a fresh origin store, and what it prints must be, line for
// line, the block marked `<!-- output: NAME -->` that follows it. So the
// receipts a README shows are the ones its code produces.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import ts from "typescript";
import { ROOT, freshPage } from "./helpers.mjs";
import { useSession } from "./session.mjs";

let url, browser;
useSession((s) => ({ url, browser } = s));

const TSC = join(ROOT, "node_modules", ".bin", "tsc");
const READMES = ["README.md", "pkg/README.md"];

/** The marked blocks of a README: [{ file, name, code, output }]. */
function examples(file, text) {
  const blocks = new Map();
  const marked = /<!-- (check|output): ([\w-]+) -->\s*\n```(\w*)\n([\s\S]*?)\n```/g;
  for (const [, kind, name, , body] of text.matchAll(marked)) {
    const entry = blocks.get(name) ?? { file, name };
    assert.equal(entry[kind], undefined, `${file}: two "${kind}: ${name}" blocks`);
    entry[kind === "check" ? "code" : "output"] = body;
    blocks.set(name, entry);
  }
  for (const e of blocks.values()) {
    assert.ok(e.code !== undefined && e.output !== undefined, `${file}: "${e.name}" needs both a check and an output block`);
  }
  return [...blocks.values()];
}

const all = [];
for (const file of READMES) all.push(...examples(file, await readFile(join(ROOT, file), "utf8")));

test("the READMEs have checked examples (the first app in both)", () => {
  const names = all.map((e) => `${e.file}#${e.name}`);
  assert.ok(names.includes("README.md#first-app"), names.join(", "));
  assert.ok(names.includes("pkg/README.md#first-app"), names.join(", "));
});

test("every checked example type-checks under strict against the package", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ipvm-readme-"));
  try {
    const files = [];
    for (const [i, e] of all.entries()) {
      // Each example is a module of its own (top-level await, its own names).
      files.push(`example-${i}.ts`);
      await writeFile(join(dir, files.at(-1)), `${e.code}\nexport {};\n`);
    }
    await writeFile(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true, target: "es2022", module: "es2022", moduleResolution: "bundler", lib: ["es2022", "dom", "esnext.disposable"],
          noEmit: true, skipLibCheck: false, paths: { "ipvm-web": [join(ROOT, "pkg", "index.d.ts")] },
        },
        files,
      }),
    );
    const out = await promisify(execFile)(TSC, ["--noEmit", "-p", dir]).then(
      () => "",
      (e) => `${e.stdout}${e.stderr}`,
    );
    // Name the README block behind each error.
    const named = out.replace(/example-(\d+)\.ts/g, (_, i) => `${all[i].file}#${all[i].name}`);
    assert.equal(named, "", named);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

for (const e of all) {
  test(`${e.file}#${e.name} prints what the README shows`, { timeout: 120_000 }, async () => {
    const js = ts.transpileModule(e.code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 } }).outputText;
    const page = await freshPage(browser);
    const printed = [];
    const errors = [];
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    page.on("console", (m) => {
      if (m.text() === "<<readme example done>>") finish();
      else if (m.type() === "log") printed.push(m.text());
      else if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (err) => {
      errors.push(err.message);
      finish();
    });
    await page.goto(`${url}tests/e2e/pages/blank.html`);
    const code = `${js.replaceAll('from "ipvm-web"', 'from "/pkg/index.js"')}\nconsole.log("<<readme example done>>");\n`;
    await page.addScriptTag({ type: "module", content: code });
    await finished;
    await page.close();
    assert.deepEqual(errors, []);
    assert.equal(printed.join("\n"), e.output);
  });
}
