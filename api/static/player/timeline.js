// Replay: every stored event of the session (rewound ones marked as such), a slider that steps
// through versions showing the story as it was, and from a version: rewind (owner), fork, and
// the audit export.

import { call } from "./api.js";
import { $, closePanels, el, formatTime } from "./dom.js";

const SHOWN_AT_VERSION = 30; // the last messages of the story at the chosen version

const WORDS = {
  SessionStarted: "Campaign started",
  SessionRenamed: "Renamed",
  TurnSubmitted: "Turn played",
  NarrationCompleted: "Narrated",
  NarrationFailed: "Narration failed",
  NarrationRequested: "Narration asked again",
  TimelineRewound: "Rewound",
  InviteIssued: "Invite created",
  InviteRevoked: "Invite revoked",
  MemberJoined: "Member joined",
  MemberRoleChanged: "Role changed",
  MemberRemoved: "Member removed",
  MediaStored: "Media added",
  MediaGenerationFailed: "Media failed",
  GameStateRecorded: "Game state recorded",
  LegacyArtifactPreserved: "Imported record kept",
  MessagePosted: "Message posted",
  CharacterCreated: "Character created",
  CharacterChanged: "Character changed",
  CharacterRetired: "Character retired",
  SceneEntered: "Scene entered",
  CombatStarted: "Combat started",
  CombatUpdated: "Combat updated",
  CombatEnded: "Combat ended",
};

export class Timeline {
  constructor(session, { onError, onFork, onRewound }) {
    this.session = session;
    this.onError = onError;
    this.onFork = onFork;
    this.onRewound = onRewound;
    this.panel = $("#timeline-panel");
    this.button = $("#timeline");
    this.slider = $("#timeline-version");
    this.events = [];
    this.hidden = [];
    this.stepTimer = null;
    this.listeners = new AbortController();
    const signal = this.listeners.signal;
    this.button.addEventListener("click", () => this.toggle(), { signal });
    this.slider.addEventListener("input", () => this.step(0), { signal });
    $("#timeline-back").addEventListener("click", () => this.step(-1), { signal });
    $("#timeline-forward").addEventListener("click", () => this.step(1), { signal });
    $("#rewind").addEventListener("click", () => this.rewind(), { signal });
    $("#fork").addEventListener("click", () => this.fork(), { signal });
    $("#export").addEventListener("click", () => this.download(), { signal });
    $("#rewind").hidden = session.my_role !== "owner";
  }

  close() {
    this.listeners.abort();
    this.panel.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  get path() {
    return `/api/sessions/${this.session.session_id}`;
  }

  get version() {
    return Number(this.slider.value);
  }

  async toggle() {
    const open = this.panel.hidden;
    if (open) closePanels();
    this.panel.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) await this.load(true);
  }

  // A new stored event while the panel is open: add it, and keep the slider at the end if it was.
  async changed() {
    if (!this.panel.hidden) await this.load(this.version === Number(this.slider.max));
  }

  async load(toEnd) {
    try {
      const events = [];
      let after = 0;
      let page;
      do {
        page = await call("GET", `${this.path}/timeline?after=${after}&limit=500`);
        events.push(...page.events);
        after = page.next_after;
      } while (after !== null);
      this.events = events;
      this.hidden = page.hidden;
      this.slider.max = String(page.version);
      if (toEnd) this.slider.value = String(page.version);
      this.renderEvents();
      await this.showState();
    } catch (error) {
      this.onError(error);
    }
  }

  rewound(version) {
    return this.hidden.some(([low, high]) => low <= version && version <= high);
  }

  renderEvents() {
    const at = this.version;
    $("#timeline-events").replaceChildren(
      ...this.events.map((event) => {
        const gone = this.rewound(event.version);
        const item = el(
          "li",
          { class: `event${gone ? " rewound" : ""}${event.version > at ? " later" : ""}` },
          el("span", { class: "event-version" }, `v${event.version}`),
          " ",
          WORDS[event.type] || event.type,
          gone ? el("span", { class: "tag" }, " rewound") : null,
          " ",
          el("time", { datetime: event.recorded_at }, formatTime(event.recorded_at)),
        );
        if (event.version === at) item.setAttribute("aria-current", "step");
        return item;
      }),
    );
  }

  step(delta) {
    const next = Math.min(Number(this.slider.max), Math.max(1, this.version + delta));
    this.slider.value = String(next);
    this.renderEvents();
    // Dragging the slider asks for the state once it rests, not at every pixel.
    clearTimeout(this.stepTimer);
    this.stepTimer = setTimeout(() => this.showState(), 150);
  }

  async showState() {
    const at = this.version;
    $("#timeline-at").textContent = `version ${at} of ${this.slider.max}`;
    try {
      const messages = [];
      let after = null;
      do {
        const query = `at_version=${at}&limit=500${after === null ? "" : `&after=${after}`}`;
        const page = await call("GET", `${this.path}/state?${query}`);
        messages.push(...page.messages);
        after = page.next_after;
      } while (after !== null);
      if (at !== this.version) return; // the reader moved on meanwhile
      const shown = messages.slice(-SHOWN_AT_VERSION);
      $("#timeline-story").replaceChildren(
        ...shown.map((message) => {
          const who =
            message.role === "narrator" ? "Narrator" : message.author?.display_name || "Notice";
          return el("li", {}, el("strong", {}, `${who}: `), message.text || message.answer || "");
        }),
      );
      if (shown.length === 0) $("#timeline-story").append(el("li", { class: "hint" }, "No messages yet."));
    } catch (error) {
      this.onError(error);
    }
  }

  async rewind() {
    const at = this.version;
    try {
      await call("POST", `${this.path}/rewind`, { body: { to_version: at } });
      this.onRewound(at);
      await this.load(true);
    } catch (error) {
      this.onError(error);
    }
  }

  async fork() {
    try {
      const made = await call("POST", `${this.path}/fork`, { body: { at_version: this.version } });
      this.onFork(made.session_id);
    } catch (error) {
      this.onError(error);
    }
  }

  async download() {
    try {
      const response = await call("GET", `${this.path}/export`, { raw: true });
      const blob = await response.blob();
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "gaia-export.ndjson";
      const link = el("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      this.onError(error);
    }
  }
}
