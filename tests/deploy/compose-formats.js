// The custom "format"s of the Compose specification's schema, for ajv-cli
// (validate-compose.js).  ajv-formats' "duration" is ISO 8601 ("PT2S");
// Compose durations are Go's ("1m30s", "2s", "500ms").
"use strict";
const goDuration = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
// "80", "80-90", "80/udp"
const expose = /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/;
// [HOST:]CONTAINER[/PROTOCOL], HOST being [IP:]PORT[-PORT]
const ports = /^((\[[0-9a-fA-F:.]+\]|[0-9.]+|[A-Za-z0-9_.-]+):)?((\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/;
const cidr = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;
module.exports = (ajv) => {
  ajv.addFormat("subnet_ip_address", { type: "string", validate: (s) => cidr.test(s) });
  ajv.addFormat("duration", { type: "string", validate: (s) => goDuration.test(s) });
  ajv.addFormat("expose", { validate: (s) => typeof s === "number" || expose.test(String(s)) });
  ajv.addFormat("ports", { validate: (s) => typeof s === "number" || ports.test(String(s)) });
  return ajv;
};
