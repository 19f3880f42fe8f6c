// The names the event stream uses (a browser delivers a named event only to a listener for
// that exact name). Stored events carry their type; `narration.delta` previews a narration.
// tests/unit/test_player_assets.py checks this list against the server's.

export const EVENT_NAMES = [
  "CharacterChanged",
  "CharacterCreated",
  "CharacterRetired",
  "CombatEnded",
  "CombatStarted",
  "CombatUpdated",
  "GameStateRecorded",
  "InviteIssued",
  "InviteRevoked",
  "LegacyArtifactPreserved",
  "MediaGenerationFailed",
  "MediaStored",
  "MemberJoined",
  "MemberRemoved",
  "MemberRoleChanged",
  "MessagePosted",
  "NarrationCompleted",
  "NarrationFailed",
  "NarrationRequested",
  "SceneEntered",
  "SessionRenamed",
  "SessionStarted",
  "TimelineRewound",
  "TurnSubmitted",
];

export const DELTA = "narration.delta";
