// Shared plumbing of the Node SDK conformance drivers (sdk_session.js,
// sdk_reconnect.js): the SDK handle, the JSON-lines event log, and waits that
// end on a condition (a reply's INTERACTION_END, an error, a disconnect) with a
// time limit that only catches hangs.
//
// The SDK (@inworld/nodejs-sdk, proprietary licence) is never part of this
// repository: tests/node_sdk_conformance.rs installs it from npm into
// target/nodejs-sdk and runs these scripts with NODE_PATH pointing there.
'use strict';

const sdk = require('@inworld/nodejs-sdk');

// Generous: a wait only fails when something hangs, never because the
// machine is slow.
const HANG_MS = Number(process.env.SDK_DRIVER_HANG_MS || 120000);

// One JSON object per line on stdout: {t, what, data}.
function emit(what, data) {
  process.stdout.write(JSON.stringify({ t: new Date().toISOString(), what, data }) + '\n');
}

// The fields of an SDK packet the tests look at.
const PACKET_FIELDS = [
  'text', 'audio', 'control', 'emotions', 'trigger', 'task', 'silence',
  'cancelResponses', 'narratedAction', 'sceneMutation', 'log', 'latencyReport',
  'entitiesItemsOperation', 'operationStatus',
];

function packetSummary(packet) {
  const out = { type: packet.type, packetId: packet.packetId, routing: packet.routing };
  for (const field of PACKET_FIELDS) {
    if (packet[field] !== undefined) out[field] = packet[field];
  }
  return out;
}

// Everything the SDK reported so far, and the waits pending on it.
class Observer {
  constructor() {
    this.packets = [];
    this.errors = [];
    this.disconnects = 0;
    this.waiters = [];
  }

  onMessage(packet) {
    emit('onMessage', packetSummary(packet));
    this.packets.push(packet);
    this.wake();
  }

  onError(err) {
    emit('onError', {
      message: err.message,
      code: err.code,
      details: err.details,
      isInworldError: err instanceof sdk.InworldError,
    });
    this.errors.push(err);
    this.wake();
  }

  onDisconnect() {
    emit('onDisconnect', {});
    this.disconnects += 1;
    this.wake();
  }

  wake() {
    this.waiters = this.waiters.filter((w) => !w.check());
  }

  // Resolves once `cond()` holds; exits the process (a hang) after HANG_MS.
  until(what, cond) {
    return new Promise((resolve) => {
      const waiter = {
        check: () => {
          if (!cond()) return false;
          clearTimeout(waiter.timer);
          resolve();
          return true;
        },
      };
      if (waiter.check()) return;
      waiter.timer = setTimeout(() => {
        emit('fatal', { message: `timed out after ${HANG_MS} ms waiting for ${what}` });
        process.exit(1);
      }, HANG_MS);
      this.waiters.push(waiter);
    });
  }

  // The reply to a sent packet is over: its interaction has an INTERACTION_END.
  replyEnded(sent) {
    const id = sent && sent.packetId && sent.packetId.interactionId;
    if (!id) return Promise.resolve();
    return this.until(`INTERACTION_END of ${id}`, () =>
      this.packets.some((p) => p.isInteractionEnd() && p.packetId.interactionId === id));
  }
}

// Runs one named step; a failure is logged as `step-error` and the run goes on.
async function step(name, fn) {
  try {
    const result = await fn();
    emit('step', { name, result: result && result.packetId ? packetSummary(result) : result });
    return result;
  } catch (e) {
    emit('step-error', { name, message: e.message });
    return undefined;
  }
}

// The engine to talk to: NODE_SDK_INWORLD_ENGINE_HOST / _SSL are read by the
// SDK itself; the key pair comes from INWORLD_KEY / INWORLD_SECRET.
function credentials() {
  return {
    key: process.env.INWORLD_KEY || 'test-api-key',
    secret: process.env.INWORLD_SECRET || 'test-api-secret',
  };
}

// Runs `main`, turning an exception into a `fatal` line and exit code 1.
function run(main) {
  main().then(
    () => process.exit(0),
    (e) => {
      emit('fatal', { message: e.message, stack: e.stack });
      process.exit(1);
    },
  );
}

module.exports = { sdk, emit, packetSummary, Observer, step, credentials, run };
