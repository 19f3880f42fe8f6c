// The story of one session: its messages as the history API answers them, the newest page
// first and older pages as the reader scrolls up; live events make it read again from the
// first message they can change, so every message shows once, as it is now.

import { call } from "./api.js";
import { el, formatTime } from "./dom.js";

const PAGE = 50;
const TOP = Number.MAX_SAFE_INTEGER; // "before" the end of any stream
const KIND_WORDS = { action: "", context: "context", ooc: "out of character" };

export class Story {
  // `log`: the role="log" element; `options`: the suggested actions' container.
  constructor(sessionId, { log, list, earlier, options, canPlay, onAct, onRetry, onError }) {
    this.sessionId = sessionId;
    this.log = log;
    this.list = list;
    this.earlier = earlier;
    this.options = options;
    this.canPlay = canPlay;
    this.onAct = onAct;
    this.onRetry = onRetry;
    this.onError = onError;
    this.shown = new Map(); // message_id -> {message, item, signature}
    this.previousBefore = null; // cursor of the older page, null when the first is shown
    this.mediaTicket = null;
    this.streaming = new Map(); // turn_id -> the preview element of a narration in progress
    this.reading = false;
    this.queued = undefined; // a read asked for while one was in flight (null: the newest page)
    this.loadingEarlier = false;
    this.log.addEventListener("scroll", () => {
      if (this.log.scrollTop < 80) this.loadEarlier();
    });
    this.earlier.addEventListener("click", () => this.loadEarlier());
  }

  get path() {
    return `/api/sessions/${this.sessionId}/history`;
  }

  // The newest page; answers the stream version it is current to.
  async open() {
    const page = await call("GET", `${this.path}?before=${TOP}&limit=${PAGE}`);
    this.clear();
    this.previousBefore = page.previous_before;
    this.place(page.messages);
    this.afterChange(true);
    return page.version;
  }

  clear() {
    this.shown.clear();
    this.streaming.clear();
    this.list.replaceChildren();
  }

  async loadEarlier() {
    if (this.loadingEarlier || this.previousBefore === null) return;
    this.loadingEarlier = true;
    try {
      const page = await call("GET", `${this.path}?before=${this.previousBefore}&limit=${PAGE}`);
      const height = this.log.scrollHeight;
      this.previousBefore = page.previous_before;
      this.place(page.messages);
      this.log.scrollTop += this.log.scrollHeight - height; // keep the reader's place
      this.afterChange(false);
    } catch (error) {
      this.onError(error);
    } finally {
      this.loadingEarlier = false;
    }
  }

  // A stored event arrived: read again from the first message it can change.
  changed(record) {
    if (record.type === "TimelineRewound") {
      this.reread(null);
      return;
    }
    let after = this.newestVersion();
    for (const { message } of this.shown.values()) {
      const touched = record.data?.turn_id && message.turn_id === record.data.turn_id;
      if (message.pending || message.kind === "narration_failed" || touched) {
        after = Math.min(after, message.version - 1);
      }
    }
    this.reread(after);
  }

  // Read every message after `after` (null: the newest page again), one read at a time; what
  // is asked meanwhile is read next, from the lowest version asked.
  async reread(after) {
    if (this.reading) {
      const queued = this.queued;
      this.queued =
        queued === undefined ? after : queued === null || after === null ? null : Math.min(queued, after);
      return;
    }
    this.reading = true;
    try {
      if (after === null) await this.open();
      else await this.readAfter(after);
    } catch (error) {
      this.onError(error);
    } finally {
      this.reading = false;
      const next = this.queued;
      this.queued = undefined;
      if (next !== undefined) this.reread(next);
    }
  }

  async readAfter(after) {
    const messages = [];
    let cursor = after;
    for (;;) {
      const page = await call("GET", `${this.path}?after=${cursor}&limit=200`);
      messages.push(...page.messages);
      if (page.next_after === null) break;
      cursor = page.next_after;
    }
    const follow = this.atBottom();
    const kept = new Set(messages.map((m) => m.message_id));
    for (const [id, entry] of this.shown) {
      if (entry.message.version > after && !kept.has(id)) {
        entry.item.remove();
        this.shown.delete(id);
      }
    }
    this.place(messages);
    this.afterChange(follow);
  }

  newestVersion() {
    let newest = -TOP;
    for (const { message } of this.shown.values()) newest = Math.max(newest, message.version);
    return newest === -TOP ? 0 : newest;
  }

  atBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 120;
  }

  // Put each message in version order, replacing what changed and keeping what did not.
  place(messages) {
    for (const message of messages) {
      const signature = JSON.stringify(message);
      const known = this.shown.get(message.message_id);
      if (known && known.signature === signature) continue;
      const item = this.render(message);
      if (known) {
        known.item.replaceWith(item);
      } else {
        const next = [...this.list.children].find(
          (child) => child.dataset.version && Number(child.dataset.version) > message.version,
        );
        // A narration being written stays below the messages it answers.
        this.list.insertBefore(item, next ?? this.list.querySelector(".streaming"));
      }
      this.shown.set(message.message_id, { message, item, signature });
      if (message.role === "narrator" && message.turn_id) this.endPreview(message.turn_id);
    }
  }

  afterChange(follow) {
    this.earlier.hidden = this.previousBefore === null;
    this.showOptions();
    if (follow) this.log.scrollTop = this.log.scrollHeight;
  }

  // The narrator's suggestions, under its latest narration while nothing is pending.
  showOptions() {
    const items = [...this.shown.values()].map((entry) => entry.message);
    items.sort((a, b) => a.version - b.version);
    const last = items.at(-1);
    const waiting = items.some((m) => m.pending);
    const offered = last && last.role === "narrator" && !waiting ? last.player_options || [] : [];
    this.options.replaceChildren(
      ...(this.canPlay() ? offered : []).map((text) =>
        el("button", { type: "button", class: "option", onclick: () => this.onAct(text) }, text),
      ),
    );
    this.options.hidden = this.options.children.length === 0;
  }

  // A piece of a narration being written: shown at once, replaced by the stored narration.
  preview({ turn_id: turnId, text }) {
    let item = this.streaming.get(turnId);
    if (!item) {
      item = el(
        "li",
        { class: "message narrator streaming", "aria-busy": "true" },
        el("p", { class: "meta" }, el("span", { class: "who" }, "Narrator"), " is writing…"),
        el("div", { class: "text" }),
      );
      const turn = [...this.shown.values()].find((e) => e.message.turn_id === turnId);
      const after = turn ? turn.item.nextSibling : null;
      this.list.insertBefore(item, after);
      this.streaming.set(turnId, item);
    }
    const follow = this.atBottom();
    item.querySelector(".text").append(text);
    if (follow) this.log.scrollTop = this.log.scrollHeight;
  }

  endPreview(turnId) {
    this.streaming.get(turnId)?.remove();
    this.streaming.delete(turnId);
  }

  render(message) {
    const classes = ["message", message.role, `kind-${message.kind}`];
    if (message.pending) classes.push("pending");
    const who =
      message.role === "narrator"
        ? "Narrator"
        : message.role === "system"
          ? "Notice"
          : message.character?.name || message.author?.display_name || "Someone";
    const meta = el("p", { class: "meta" }, el("span", { class: "who" }, who));
    const kind = KIND_WORDS[message.kind];
    if (kind) meta.append(" ", el("span", { class: "tag" }, kind));
    if (message.recorded_at) {
      meta.append(" ", el("time", { datetime: message.recorded_at }, formatTime(message.recorded_at)));
    }
    const item = el("li", { class: classes.join(" "), "data-version": String(message.version) }, meta);
    const text = message.text || message.answer || "";
    if (message.kind !== "media" && text) item.append(el("div", { class: "text" }, text));
    for (const media of message.media || []) item.append(this.renderMedia(media, who));
    if (message.pending) item.append(el("p", { class: "status" }, "Waiting for the narrator…"));
    if (message.degraded) item.append(el("p", { class: "status" }, "Told without its pictures or voice."));
    if (message.kind === "narration_failed" && message.turn_id && this.canPlay()) {
      item.append(
        el(
          "button",
          { type: "button", class: "retry", onclick: () => this.onRetry(message.turn_id) },
          "Retry",
        ),
      );
    }
    return item;
  }

  // An image or a sound; described by who shared it, never by its file name (an id).
  renderMedia(media, who) {
    const path = `/api/media/${this.sessionId}/${media.kind}/${media.media_id}`;
    const attributes = { "data-media": path, src: this.mediaSrc(path) };
    if (media.kind === "audio") {
      return el("audio", { ...attributes, controls: "", preload: "none", "aria-label": "Narration audio" });
    }
    const alt = media.source === "generated" ? "An illustration of the scene" : `An image shared by ${who}`;
    return el("img", { ...attributes, class: "picture", alt, loading: "lazy" });
  }

  mediaSrc(path) {
    return this.mediaTicket ? `${path}?ticket=${encodeURIComponent(this.mediaTicket)}` : "";
  }

  // A new media ticket: every picture and sound points at it (the old one is about to expire).
  useMediaTicket(ticket) {
    this.mediaTicket = ticket;
    for (const node of this.list.querySelectorAll("[data-media]")) {
      node.src = this.mediaSrc(node.dataset.media);
    }
  }
}
