// End-to-end: the official Parse JavaScript SDK against a running cloudcode.
// Started by tests/js_sdk.rs, which passes the server's URL and keys.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import Parse from 'parse/node';

const { CLOUDCODE_URL, CLOUDCODE_APP_ID, CLOUDCODE_MASTER_KEY } = process.env;

before(() => {
  assert.ok(CLOUDCODE_URL, 'CLOUDCODE_URL must point at a running server');
  Parse.initialize(CLOUDCODE_APP_ID, undefined, CLOUDCODE_MASTER_KEY);
  Parse.serverURL = CLOUDCODE_URL;
  // Behave like an app on a device: keep a current user between calls.
  Parse.User.enableUnsafeCurrentUser();
});

let counter = 0;
function uniqueName(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now()}-${counter}`;
}

async function signUp(prefix, password = 'first-password') {
  const user = new Parse.User();
  user.set('username', uniqueName(prefix));
  user.set('password', password);
  await user.signUp();
  return user;
}

async function rejectsWithCode(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Parse.Error, `expected a Parse.Error, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

async function isAlive(token) {
  try {
    await Parse.User.me(token);
    return true;
  } catch (error) {
    assert.equal(error.code, Parse.Error.INVALID_SESSION_TOKEN);
    return false;
  }
}

test('signUp returns a revocable token and becomes the current user', async () => {
  const user = await signUp('signup');
  assert.match(user.getSessionToken(), /^r:[0-9a-f]{64}$/);
  assert.equal(Parse.User.current().id, user.id);
  assert.equal(user.get('password'), undefined);
  await Parse.User.logOut();
});

test('logIn on three devices, become, Session.current, logOut', async () => {
  const user = await signUp('devices');
  const name = user.getUsername();
  await Parse.User.logOut();

  const tokens = {};
  for (const device of ['phone', 'laptop', 'tablet']) {
    const loggedIn = await Parse.User.logIn(name, 'first-password', { installationId: device });
    tokens[device] = loggedIn.getSessionToken();
  }
  assert.equal(new Set(Object.values(tokens)).size, 3);

  const became = await Parse.User.become(tokens.laptop);
  assert.equal(became.getUsername(), name);
  assert.equal(Parse.User.current().getSessionToken(), tokens.laptop);

  const session = await Parse.Session.current();
  assert.equal(session.getSessionToken(), tokens.laptop);
  assert.equal(session.get('installationId'), 'laptop');
  assert.equal(session.get('user').id, user.id);

  const mine = await new Parse.Query(Parse.Session).find({ sessionToken: tokens.laptop });
  assert.equal(mine.length, 3, 'three devices (logOut ended the signup session)');
  // The SDK may merge the token it already knows into the current session's
  // object; no other device's token may ever appear.
  const seenTokens = mine.map((s) => s.getSessionToken()).filter(Boolean);
  assert.ok(seenTokens.every((t) => t === tokens.laptop), 'listings carry no other token');

  await Parse.User.logOut();
  assert.equal(Parse.User.current(), null);
  assert.equal(await isAlive(tokens.laptop), false, 'logOut invalidates the token server-side');
  assert.equal(await isAlive(tokens.phone), true);
  assert.equal(await isAlive(tokens.tablet), true);
});

test('logIn with usePost false sends credentials in the body, not the URL', async () => {
  const user = await signUp('getlogin');
  await Parse.User.logOut();
  const again = await Parse.User.logIn(user.getUsername(), 'first-password', { usePost: false });
  assert.match(again.getSessionToken(), /^r:/);
  await Parse.User.logOut();
});

test('a password change rotates the caller\'s token and kills the other devices', async () => {
  const user = await signUp('password');
  const name = user.getUsername();
  await Parse.User.logOut();
  const phone = (await Parse.User.logIn(name, 'first-password', { installationId: 'phone' })).getSessionToken();
  const tablet = (await Parse.User.logIn(name, 'first-password', { installationId: 'tablet' })).getSessionToken();
  const laptopUser = await Parse.User.logIn(name, 'first-password', { installationId: 'laptop' });
  const oldToken = laptopUser.getSessionToken();

  laptopUser.set('password', 'second-password');
  await laptopUser.save();

  // The PUT response carried a new token; the SDK adopted it with no extra call.
  const newToken = Parse.User.current().getSessionToken();
  assert.notEqual(newToken, oldToken);
  assert.equal(laptopUser.getSessionToken(), newToken);
  assert.equal(await isAlive(oldToken), false, 'the old token is dead');
  assert.equal(await isAlive(newToken), true, 'the device that changed it stays in');
  const fetched = await Parse.User.current().fetch();
  assert.equal(fetched.getUsername(), name);
  assert.equal(await isAlive(phone), false);
  assert.equal(await isAlive(tablet), false);
  await rejectsWithCode(Parse.User.logIn(name, 'first-password'), Parse.Error.OBJECT_NOT_FOUND);
  const relogged = await Parse.User.logIn(name, 'second-password');
  assert.match(relogged.getSessionToken(), /^r:/);
  await Parse.User.logOut();
});

test('Parse.Cloud.run(logoutFromAllDevices) kills every device and no other user', async () => {
  const bystander = await signUp('bystander');
  const bystanderToken = bystander.getSessionToken();
  const user = await signUp('everywhere');
  const name = user.getUsername();
  const tokens = [user.getSessionToken()];
  for (const device of ['phone', 'laptop', 'tablet']) {
    tokens.push((await Parse.User.logIn(name, 'first-password', { installationId: device })).getSessionToken());
  }
  // The current user is now the tablet.
  const revoked = await Parse.Cloud.run('logoutFromAllDevices');
  assert.equal(revoked, 4);
  for (const token of tokens) {
    assert.equal(await isAlive(token), false);
  }
  assert.equal(await isAlive(bystanderToken), true);
  await rejectsWithCode(Parse.Cloud.run('logoutFromAllDevices'), Parse.Error.INVALID_SESSION_TOKEN);
  await Parse.User.logOut().catch(() => {});
});

test('Parse.Cloud.run with keepCurrent keeps this device', async () => {
  const user = await signUp('keeper');
  const name = user.getUsername();
  const phone = (await Parse.User.logIn(name, 'first-password', { installationId: 'phone' })).getSessionToken();
  const laptop = await Parse.User.logIn(name, 'first-password', { installationId: 'laptop' });
  const revoked = await Parse.Cloud.run('logoutFromAllDevices', { keepCurrent: true });
  assert.equal(revoked, 2, 'the signup session and the phone');
  assert.equal(await isAlive(laptop.getSessionToken()), true);
  assert.equal(await isAlive(phone), false);
  await rejectsWithCode(Parse.Cloud.run('noSuchFunction'), Parse.Error.SCRIPT_FAILED);
  await Parse.User.logOut();
});

test('errors surface as Parse.Error codes', async () => {
  const user = await signUp('errors');
  const name = user.getUsername();
  await Parse.User.logOut();
  await rejectsWithCode(Parse.User.logIn(name, 'wrong'), Parse.Error.OBJECT_NOT_FOUND);
  await rejectsWithCode(Parse.User.logIn('no-such-user', 'wrong'), Parse.Error.OBJECT_NOT_FOUND);
  await rejectsWithCode(Parse.User.become('r:' + '0'.repeat(64)), Parse.Error.INVALID_SESSION_TOKEN);
  const dup = new Parse.User();
  dup.set({ username: name, password: 'x' });
  await rejectsWithCode(dup.signUp(), Parse.Error.USERNAME_TAKEN);
});

test('a before-login hook refuses a suspended user, and logIn sees its error', async () => {
  const user = await signUp('suspended');
  const name = user.getUsername();
  await Parse.User.logOut();
  // block-suspended-users (examples/) refuses users whose `suspended` is true.
  user.set('suspended', true);
  await user.save(null, { useMasterKey: true });
  await assert.rejects(Parse.User.logIn(name, 'first-password'), (error) => {
    assert.ok(error instanceof Parse.Error, `expected a Parse.Error, got ${error}`);
    assert.equal(error.code, Parse.Error.OBJECT_NOT_FOUND);
    assert.equal(error.message, 'This account is suspended.');
    return true;
  });
  assert.equal(Parse.User.current(), null, 'no one is logged in');
  user.set('suspended', false);
  await user.save(null, { useMasterKey: true });
  const back = await Parse.User.logIn(name, 'first-password');
  assert.equal(back.id, user.id);
  await Parse.User.logOut();
});

test('objects: save, ACL, query, destroy', async () => {
  const owner = await signUp('owner');
  const note = new Parse.Object('Note');
  note.set('text', 'hello');
  note.setACL(new Parse.ACL(owner));
  await note.save();
  assert.ok(note.id);
  const ownToken = owner.getSessionToken();

  // Signing up another user switches the current user without ending the owner's session.
  const stranger = await signUp('stranger');
  const seen = await new Parse.Query('Note').equalTo('text', 'hello').find();
  assert.ok(seen.every((n) => n.id !== note.id), 'ACL hides the note from others');
  await Parse.User.logOut();

  const query = new Parse.Query('Note');
  const mine = await query.get(note.id, { sessionToken: ownToken });
  assert.equal(mine.get('text'), 'hello');
  mine.increment('views');
  await mine.save(null, { sessionToken: ownToken });
  assert.equal(mine.get('views'), 1);
  const count = await new Parse.Query('Note').count({ useMasterKey: true });
  assert.ok(count >= 1);
  await mine.destroy({ sessionToken: ownToken });
  await rejectsWithCode(new Parse.Query('Note').get(note.id, { useMasterKey: true }), Parse.Error.OBJECT_NOT_FOUND);
  assert.ok(stranger.id);
});

test('saveAll and destroyAll go through /batch with the current session', async () => {
  const owner = await signUp('batch');
  const notes = [1, 2, 3].map((n) => {
    const note = new Parse.Object('BatchNote');
    note.set('n', n);
    note.setACL(new Parse.ACL(owner));
    return note;
  });
  await Parse.Object.saveAll(notes);
  assert.ok(notes.every((note) => note.id), 'every note got an id');
  const mine = await new Parse.Query('BatchNote').ascending('n').find();
  assert.deepEqual(mine.map((note) => note.get('n')), [1, 2, 3]);
  await Parse.Object.destroyAll(notes);
  assert.equal(await new Parse.Query('BatchNote').count({ useMasterKey: true }), 0);
  await Parse.User.logOut();
});
