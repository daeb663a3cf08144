// What the published Node SDK writes when it reopens a session after a
// server error, with no character removed before: one-to-one conversation with
// the scene's first character, `hello`, then `please fail` (the test scene
// ends the stream with a SESSION_PAUSED error), then `after error` (the SDK
// reopens the stream by itself), then close. One JSON line per SDK event on
// stdout (see driver.js); tests/node_sdk_conformance.rs reads the packets the
// engine received on each stream.
//
// PING/PONG latency reports are switched off so that every packet the SDK
// writes is one this script asked for: the test can then say exactly what
// went on the second stream.
//
//   NODE_PATH=target/nodejs-sdk/node_modules \
//   NODE_SDK_INWORLD_ENGINE_HOST=127.0.0.1:PORT NODE_SDK_INWORLD_ENGINE_SSL=false \
//     node tests/node/sdk_reconnect.js
'use strict';

const { sdk, emit, Observer, step, credentials, run } = require('./driver');

run(async () => {
  const seen = new Observer();
  const connection = new sdk.InworldClient()
    .setApiKey(credentials())
    .setScene('workspaces/test-ws/scenes/test-scene')
    .setUser({ fullName: 'Player One' })
    .setConfiguration({
      capabilities: { audio: false, emotions: true, pingPongReport: false },
      connection: { autoReconnect: true },
    })
    .setOnMessage((p) => seen.onMessage(p))
    .setOnError((e) => seen.onError(e))
    .setOnDisconnect(() => seen.onDisconnect())
    .build();

  const characters = await step('getCharacters', async () =>
    (await connection.getCharacters()).map((c) => ({ id: c.id, resourceName: c.resourceName })));
  emit('characters', characters);

  const hello = await step('sendText(hello)', () => connection.sendText('hello'));
  await seen.replyEnded(hello);

  await step('sendText(please fail)', () => connection.sendText('please fail'));
  await seen.until('the error of `please fail`', () => seen.errors.length > 0);
  await seen.until('the end of the failed stream', () => seen.disconnects > 0);
  emit('isActive after error', connection.isActive());

  const after = await step('sendText(after error)', () => connection.sendText('after error'));
  await seen.replyEnded(after);

  connection.close();
});
