// Copies the front-end libraries Tokenwise serves from node_modules into static/vendor.
// Run `npm ci && npm run vendor` after changing package.json; commit the copied files, so running
// Tokenwise never needs npm or a CDN (it runs on closed networks).
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const files = [
  ["node_modules/chart.js/dist/chart.umd.min.js", "static/vendor/chart.js/chart.umd.min.js"],
  ["node_modules/chart.js/LICENSE.md", "static/vendor/chart.js/LICENSE.md"],
];

for (const [from, to] of files) {
  const target = path.join(root, to);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  let text = fs.readFileSync(path.join(root, from), "utf8");
  // The source map is not shipped; drop its reference so hashed static storage does not look for it.
  text = text.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "\n");
  fs.writeFileSync(target, text);
  console.log(`${from} -> ${to}`);
}
const version = require(path.join(root, "node_modules/chart.js/package.json")).version;
fs.writeFileSync(path.join(root, "static/vendor/chart.js/VERSION"), version + "\n");
