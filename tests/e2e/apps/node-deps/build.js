// Runs at build time only: needs the devDependency is-number, which is pruned from the slug afterwards.
const fs = require("fs");
const isNumber = require("is-number");

fs.writeFileSync("built.txt", `built with is-number: ${isNumber(42)}\n`);
