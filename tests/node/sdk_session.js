// A whole session of the published Node SDK against the local engine's test
// scene, one JSON line per SDK event on stdout (see driver.js). Every public
// feature of a session is used once; tests/node_sdk_conformance.rs checks the
// log. Each step that gets a reply waits for the reply's INTERACTION_END
// before the next step, so the run does not depend on the machine's speed.
//
//   NODE_PATH=target/nodejs-sdk/node_modules \
//   NODE_SDK_INWORLD_ENGINE_HOST=127.0.0.1:PORT NODE_SDK_INWORLD_ENGINE_SSL=false \
//     node tests/node/sdk_session.js
'use strict';

const { sdk, emit, packetSummary, Observer, step, credentials, run } = require('./driver');

const WS = 'workspaces/test-ws';
const SCENE = process.env.INWORLD_SCENE || `${WS}/scenes/test-scene`;
const OTHER_SCENE = `${WS}/scenes/other-scene`;
const ALICE = `${WS}/characters/alice`;
const BOB = `${WS}/characters/bob`;
const CAROL = `${WS}/characters/carol`;

run(async () => {
  const seen = new Observer();
  const connection = new sdk.InworldClient()
    .setApiKey(credentials())
    .setScene(SCENE)
    .setUser({ fullName: 'Player One', profile: { fields: [{ id: 'age', value: '30' }] } })
    .setClient({ id: 'my-game' })
    .setConfiguration({
      gameSessionId: 'game-session-1',
      capabilities: {
        audio: true,
        emotions: true,
        phonemes: true,
        interruptions: true,
        narratedActions: true,
        silence: true,
      },
      connection: { autoReconnect: true, disconnectTimeout: 60 * 1000 },
    })
    .setSessionContinuation({
      previousDialog: [
        { talker: sdk.DialogParticipant.PLAYER, phrase: 'Hi there' },
        { talker: sdk.DialogParticipant.CHARACTER, phrase: 'Hello, traveller' },
      ],
    })
    .setOnMessage((p) => seen.onMessage(p))
    .setOnError((e) => seen.onError(e))
    .setOnDisconnect(() => seen.onDisconnect())
    .build();

  // The scene as loaded.
  const characters = await step('getCharacters', async () =>
    (await connection.getCharacters()).map((c) => ({
      id: c.id,
      resourceName: c.resourceName,
      displayName: c.displayName,
    })));
  emit('characters', characters);

  // One-to-one conversation with the first character.
  const hello = await step('sendText', () => connection.sendText('hello'));
  await seen.replyEnded(hello);
  const greet = await step('sendTrigger', () =>
    connection.sendTrigger('greet', { parameters: [{ name: 'mood', value: 'happy' }] }));
  await seen.replyEnded(greet);

  // Speech: start, one chunk, end; the engine sends back what it "heard".
  await step('sendAudioSessionStart', () =>
    connection.sendAudioSessionStart({ mode: sdk.MicrophoneMode.EXPECT_AUDIO_END }));
  await step('sendAudio', () => connection.sendAudio(Buffer.from([1, 2, 3, 4]).toString('base64')));
  await step('sendAudioSessionEnd', () => connection.sendAudioSessionEnd());
  const heard = () => seen.packets.find((p) => p.isText() && p.routing.source.isPlayer
    && p.text.type === sdk.InworldTextPacketType.SPEECH_TO_TEXT);
  await seen.until('the speech-to-text result', () => heard() !== undefined);
  await seen.replyEnded(heard()); // the character answers what it heard

  const action = await step('sendNarratedAction', () => connection.sendNarratedAction('waves hello'));
  await seen.replyEnded(action);

  // Playback and cancellation controls (no reply expected).
  await step('sendTTSPlaybackMute(true)', () => connection.sendTTSPlaybackMute(true));
  await step('sendTTSPlaybackMute(false)', () => connection.sendTTSPlaybackMute(false));
  await step('sendCancelResponse', () =>
    connection.sendCancelResponse({ interactionId: 'interaction-to-cancel', utteranceId: ['utt-1', 'utt-2'] }));

  // A character joins; a conversation with several characters and the player.
  await step('addCharacters', () => connection.addCharacters([CAROL]));
  const group = connection.startConversation([ALICE, BOB, sdk.ConversationParticipant.USER]);
  const hiAll = await step('multi.sendText', () => group.sendText('hi all'));
  await seen.replyEnded(hiAll);
  const nextTurn = await step('multi.sendTrigger(next_turn)', () =>
    group.sendTrigger(sdk.InworldTriggers.CONVERSATION_NEXT_TURN));
  await seen.replyEnded(nextTurn);
  await step('multi.updateParticipants', () =>
    group.updateParticipants([ALICE, sdk.ConversationParticipant.USER]));
  await step('removeCharacters', () => connection.removeCharacters([CAROL]));

  // Saved state, feedback and entity items (unary calls and mutations).
  await step('getSessionState', () => connection.getSessionState());
  const like = await step('feedback.like', () => connection.feedback.like({
    interactionId: hello && hello.packetId.interactionId,
    correlationId: hello && hello.packetId.correlationId,
  }));
  await step('feedback.dislike', () => connection.feedback.dislike({
    interactionId: 'i-2',
    types: [sdk.DislikeType.IRRELEVANT, sdk.DislikeType.UNSAFE],
    comment: 'meh',
  }));
  if (like && like.name) await step('feedback.undo', () => connection.feedback.undo(like.name));
  await step('entity.createOrUpdateItems', () => connection.entity.createOrUpdateItems({
    items: [{ id: 'item-1', displayName: 'Sword', description: 'sharp', properties: { k: 'v' } }],
    addToEntities: ['weapons'],
  }));
  await step('entity.itemsInEntities', () => connection.entity.itemsInEntities({
    type: sdk.ItemsInEntitiesOperationType.ADD,
    itemIds: ['item-1'],
    entityNames: ['loot'],
  }));
  await step('entity.removeItems', () => connection.entity.removeItems(['item-1']));

  // The test scene answers this with a SESSION_PAUSED error that ends the
  // stream; the SDK reconnects by itself on the next send.
  const errorsBefore = seen.errors.length;
  const disconnectsBefore = seen.disconnects;
  await step('sendText(please fail)', () => connection.sendText('please fail'));
  await seen.until('the error of `please fail`', () => seen.errors.length > errorsBefore);
  await seen.until('the end of the failed stream', () => seen.disconnects > disconnectsBefore);
  emit('isActive after error', connection.isActive());
  const afterError = await step('sendText(after error)', () => connection.sendText('after error'));
  await seen.replyEnded(afterError);

  // Another scene in the same session.
  await step('changeScene', () => connection.changeScene(OTHER_SCENE, {
    capabilities: { audio: false, emotions: true },
    gameSessionId: 'game-session-2',
  }));
  const newScene = await step('sendText(new scene)', () => connection.sendText('new scene hello'));
  await seen.replyEnded(newScene);

  const ends = seen.packets.filter((p) => p.isInteractionEnd());
  emit('lastInteractionEnd', ends.length ? packetSummary(ends[ends.length - 1]) : null);
  connection.close();
});
