// Live updates of one session: an EventSource opened with a stream ticket. The browser
// reconnects by itself with Last-Event-ID (network drop, server restart within the ticket's
// life); when a reconnection is refused (the ticket expired), a new ticket opens a new stream
// from the last version seen, so nothing is lost and nothing arrives twice.

import { ApiError, call } from "./api.js";
import { DELTA, EVENT_NAMES } from "./events.js";

export class LiveStream {
  // `after`: the stream version the page has already shown. Handlers: onEvent(record),
  // onDelta({turn_id, text}), onOpen(), onTrouble(error | null), onGone(error).
  constructor(sessionId, after, handlers) {
    this.sessionId = sessionId;
    this.lastVersion = after;
    this.handlers = handlers;
    this.source = null;
    this.stopped = false;
    this.delay = 0.5;
    this.timer = null;
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.source = null;
  }

  later(seconds) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), seconds * 1000);
    this.delay = Math.min(this.delay * 2, 5);
  }

  async connect() {
    if (this.stopped) return;
    let ticket;
    try {
      ({ ticket } = await call("POST", `/api/sessions/${this.sessionId}/stream-ticket`));
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof ApiError && [401, 403, 404].includes(error.status)) {
        this.handlers.onGone(error);
        return;
      }
      this.handlers.onTrouble(error);
      this.later(error.retryAfter ?? this.delay);
      return;
    }
    if (this.stopped) return;
    const query = new URLSearchParams({ ticket, after: String(Math.max(0, this.lastVersion)) });
    const source = new EventSource(`/api/sessions/${this.sessionId}/events?${query}`);
    this.source = source;
    source.onopen = () => {
      this.delay = 0.5;
      this.handlers.onOpen();
    };
    source.onerror = () => {
      if (this.stopped || this.source !== source) return;
      if (source.readyState === EventSource.CLOSED) {
        // Refused before streaming (an expired ticket, a removed member): start over.
        source.close();
        this.source = null;
        this.handlers.onTrouble(null);
        this.later(this.delay);
      } else {
        this.handlers.onTrouble(null); // the browser is reconnecting by itself
      }
    };
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (event) => {
        const version = Number(event.lastEventId);
        if (version <= this.lastVersion) return;
        this.lastVersion = version;
        this.handlers.onEvent(JSON.parse(event.data));
      });
    }
    source.addEventListener(DELTA, (event) => this.handlers.onDelta(JSON.parse(event.data)));
  }
}
