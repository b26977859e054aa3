// A real WoT consumer against the directory: node-wot (Eclipse Thingweb) requests one TD and
// explores the directory. Run by tests/registry/test_tdd_hardening.py with NODE_PATH pointing at
// node-wot's install (.node/node_modules, `make node-wot`).
// Usage: node node_wot_client.js BASE_URL THING_ID  -> prints one JSON line
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

async function main() {
  const [base, thingId] = process.argv.slice(2);
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory(null));
  const WoT = await servient.start();
  const out = {};
  try {
    const td = await WoT.requestThingDescription(`${base}/things/${encodeURIComponent(thingId)}`);
    out.thing = { id: td.id, title: td.title };
    const directory = await WoT.requestThingDescription(`${base}/.well-known/wot`);
    out.directory = directory.title;
    const process_ = await WoT.exploreDirectory(`${base}/.well-known/wot`);
    out.explored = [];
    for await (const found of process_) out.explored.push(found.id);
    if (process_.error) out.exploreError = String(process_.error.message || process_.error);
  } catch (err) {
    out.error = String(err && err.message ? err.message : err);
  }
  await servient.shutdown();
  console.log(JSON.stringify(out));
}

main().catch((err) => { console.log(JSON.stringify({ error: String(err) })); process.exit(0); });
