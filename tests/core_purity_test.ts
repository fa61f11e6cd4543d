import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

test("core files outside src/runtime/ never mention Deno. or Bun.", async () => {
  const offenders: string[] = [];
  const files = [join(root, "mod.ts"), ...await sourceFiles(join(root, "src"))];
  for (const file of files) {
    const path = relative(root, file).replaceAll("\\", "/");
    if (path.startsWith("src/runtime/")) continue;
    const lines = (await readFile(file, "utf8")).split("\n");
    lines.forEach((line, i) => {
      if (/\b(Deno|Bun)\.\w/.test(line)) offenders.push(`${path}:${i + 1}`);
    });
  }
  assert.deepEqual(offenders, []);
});
