// The published Node SDK holding idle sessions, measured the way
// benches/idle_sessions.rs measures ours: N sessions open and ready against
// the engine program, then the heap they hold, the process's resident memory,
// and its CPU over S seconds of idling. Run by hand:
//
//   cargo run --release --bin inworld-engine -- --scene test --pacing instant --listen 127.0.0.1:50071 &
//   NODE_PATH=target/nodejs-sdk/node_modules NODE_SDK_INWORLD_ENGINE_HOST=127.0.0.1:50071 \
//     NODE_SDK_INWORLD_ENGINE_SSL=false node --expose-gc benches/node_idle_sessions.js
//
// (the SDK is installed into target/nodejs-sdk by tests/node_sdk_conformance.rs).
'use strict';

const sdk = require('@inworld/nodejs-sdk');

const SESSIONS = Number(process.env.IDLE_SESSIONS || 1000);
const SECONDS = Number(process.env.IDLE_SECONDS || 30);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function open() {
  const connection = new sdk.InworldClient()
    .setApiKey({ key: 'test-api-key', secret: 'test-api-secret' })
    .setScene('workspaces/test-ws/scenes/test-scene')
    .setConfiguration({ capabilities: { audio: false } })
    .setOnError((e) => console.error('error', e.message))
    .setOnMessage(() => {})
    .build();
  return connection;
}

async function main() {
  const warm = open();
  await warm.getCharacters();
  await sleep(200);
  global.gc && global.gc();
  const heapBefore = process.memoryUsage().heapUsed + process.memoryUsage().external;
  const rssBefore = process.memoryUsage().rss;
  const started = Date.now();
  const connections = [];
  for (let i = 0; i < SESSIONS; i++) connections.push(open());
  // getCharacters opens the session and waits for the scene.
  await Promise.all(connections.map((c) => c.getCharacters()));
  const openedIn = Date.now() - started;
  await sleep(500);
  global.gc && global.gc();
  const heapAfter = process.memoryUsage().heapUsed + process.memoryUsage().external;
  const rssAfter = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  await sleep(SECONDS * 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const active = connections.filter((c) => c.isActive()).length;
  const kib = (b) => (b / SESSIONS / 1024).toFixed(1);
  console.log(`idle sessions: ${SESSIONS}, opened and scene loaded in ${openedIn} ms`);
  console.log(`heap held per idle session: ${kib(heapAfter - heapBefore)} KiB`);
  console.log(`resident memory per idle session: ${kib(rssAfter - rssBefore)} KiB`);
  console.log(`CPU used over ${SECONDS} s idle: ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms (${active} sessions active)`);
  for (const c of connections) c.close();
  warm.close();
  await sleep(200);
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
