// The Node binaries that tests/run.mjs and tests/smoke/pack.mjs run on: the
// one running the script (the machine's own `node`), then each LTS line that
// npm installs as a devDependency under an alias: the npm package `node`,
// which ships the real binary (its install script fetches the platform's
// build from npm). Each is named by its major version, as "node22"; a line the
// machine's own `node` already covers is not run twice.
//
// The package names its bin `node`, so package.json's `prepare` script unlinks
// node_modules/.bin/node, which would otherwise shadow the machine's own
// `node` in every npm script.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

/** The devDependencies that hold a Node binary, oldest line first. */
export const NODE_PACKAGES = ["node22", "node24"];

const major = (version) => version.split(".")[0];

/**
 * The Node binaries to test on, as `{ name, path, own }`: `own` marks the
 * machine's `node`; the others may be missing, if `npm ci` has not run.
 */
export function nodeBinaries(root) {
  const binaries = [{
    name: `node${major(process.versions.node)}`,
    path: process.execPath,
    own: true,
  }];
  for (const alias of NODE_PACKAGES) {
    const dir = join(root, "node_modules", alias);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    } catch {
      // Not installed: named by its alias, it fails where it is used.
      binaries.push({
        name: alias,
        path: join(dir, "bin", "node"),
        own: false,
      });
      continue;
    }
    const name = `node${major(manifest.version)}`;
    if (binaries.some((binary) => binary.name === name)) continue;
    binaries.push({ name, path: join(dir, manifest.bin.node), own: false });
  }
  return binaries;
}
