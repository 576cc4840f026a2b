/**
 * Settings for every receive-pack/upload-pack we run, given with `-c` so nothing in a repo's own
 * config can change them (and hooks come from the server, never from the repo).
 */
export function gitServerConfig(hooksDir: string, maxPushBytes: number): Record<string, string> {
  return {
    "core.hooksPath": hooksDir,
    // Below 5 s: isomorphic-git on Node >= 19 gives up after 5 s of silence.
    "receive.keepAlive": "2",
    "transfer.fsckObjects": "true",
    // Keep every push as the pack it came in: below the default limit (100 objects) git unpacks a
    // push into loose objects, deflating each again: 3x slower for a few large blobs. The packs
    // are merged by `git gc --auto` after pushes (RepoMaintenance).
    "receive.unpackLimit": "1",
    "receive.denyDeletes": "true",
    // CI systems push from shallow clones.
    "receive.shallowUpdate": "true",
    "receive.maxInputSize": String(maxPushBytes),
    // gc inside a push would delay the pusher; maintenance runs elsewhere.
    "receive.autogc": "false",
    "receive.advertisePushOptions": "true",
  };
}
