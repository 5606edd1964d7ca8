// The session protocol in the browser (docs/protocol.md): frames, reliable delivery, acks,
// resume. Shared by the agent console and the cobrowse visitor library.

import { MESSAGES, VERSION } from "./rules.js";

// Acknowledgements are cumulative and go at most once per interval (as the Python client's):
// a burst of relayed messages costs the server one acknowledgement, not one per message.
const ACK_INTERVAL_MS = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// A message the protocol does not define, or sent the other way than it travels, is this
// code's mistake: fail here rather than have the server end the connection for it.
function checkMessage(header, delivery) {
  const kind = MESSAGES[header.t];
  if (!kind || kind.delivery !== delivery) {
    throw new Error(`"${header.t}" is not a ${delivery} message of the protocol`);
  }
}

export function encodeFrame(header, payload = new Uint8Array(0)) {
  const head = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(2 + head.length + payload.length);
  out[0] = head.length >> 8;
  out[1] = head.length & 0xff;
  out.set(head, 2);
  out.set(payload, 2 + head.length);
  return out;
}

export function decodeFrame(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < 2) throw new Error("short frame");
  const size = (bytes[0] << 8) | bytes[1];
  if (2 + size > bytes.length) throw new Error("bad frame length");
  const header = JSON.parse(decoder.decode(bytes.subarray(2, 2 + size)));
  if (typeof header !== "object" || header === null || typeof header.t !== "string") {
    throw new Error("bad frame header");
  }
  return { header, payload: bytes.subarray(2 + size) };
}

export function sessionUrl(base = location.href) {
  const url = new URL("/ws/v1/session", base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// One connection to a session: the hello (start, join, host), then messages in and out,
// resumed after a drop within the reconnect window. `saved` continues a session that another
// page (a previous page of the site, another tab) had: {session, lastIn}.
export class Connection {
  constructor(url, hello, handlers, { client = `coview-console/${VERSION}`, saved = null } = {}) {
    this.url = url;
    this.hello = { v: "1.0", client, ...hello };
    this.handlers = handlers;
    this.nextSeq = 1;
    this.lastIn = saved ? saved.lastIn : 0;
    this.open = false;
    this.closed = false;
    this.session = saved ? saved.session : null; // {session_id, resume_token, reconnect_window}
    this.unacked = []; // uplink frames the server has not acknowledged: resent on resume
    this.lostAt = 0;
    this.welcomed = false;
    this.ackedIn = this.lastIn; // the last number acknowledged to the server
    this.ackedAt = 0;
    this.ackTimer = 0;
  }

  connect() {
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.closed = true;
      this.handlers.onClose(false);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      const first = this.session
        ? { t: "resume", v: "1.0", session_id: this.session.session_id,
          token: this.session.resume_token, a: this.lastIn }
        : this.hello;
      ws.send(encodeFrame(first));
    };
    ws.onmessage = (event) => {
      if (this.ws === ws) this.receive(event.data); // not a socket this one has left
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.open = false;
      if (this.closed) return;
      if (!this.session) {
        this.closed = true;
        this.handlers.onClose(false);
        return;
      }
      // Inside the reconnect window the server keeps our seat: come back and resume.
      if (!this.lostAt) this.lostAt = Date.now();
      const windowMs = (this.session.reconnect_window || 60) * 1000;
      if (Date.now() - this.lostAt > windowMs) {
        this.closed = true;
        this.handlers.onClose(false);
        return;
      }
      this.handlers.onClose(true);
      setTimeout(() => { if (!this.closed) this.connect(); }, 500);
    };
  }

  receive(data) {
    const frame = decodeFrame(data);
    const h = frame.header;
    if (h.t === "welcome") {
      this.open = true;
      this.lostAt = 0;
      const again = Boolean(this.session);
      if (!this.session) {
        this.session = { session_id: h.session_id, resume_token: h.resume_token,
          reconnect_window: h.reconnect_window };
      }
      // The uplink goes on from what the server has: resend only what it lacks.
      const have = h.a || 0;
      this.unacked = this.unacked.filter((f) => f.s > have);
      this.nextSeq = Math.max(this.nextSeq, have + 1);
      for (const f of this.unacked) this.ws.send(f.frame);
      const first = !this.welcomed;
      this.welcomed = true;
      if (again && h.resumed && !first) {
        this.ackedIn = this.lastIn; // the resume said what we have
        this.handlers.onResumed(h);
        return;
      }
      if (!h.resumed) this.lastIn = h.downlink_last || 0;
      this.ackedIn = this.lastIn;
      this.handlers.onWelcome(h, again);
    } else if (h.t === "refused") {
      this.closed = true;
      this.handlers.onRefused(h);
    } else if (h.t === "replaced") {
      // The same party connected again elsewhere (another tab): that one goes on.
      this.closed = true;
      this.open = false;
      this.unacked = [];
      if (this.handlers.onReplaced) this.handlers.onReplaced();
    } else if (h.t === "ack") {
      this.unacked = this.unacked.filter((f) => f.s > h.a);
    } else if (h.t === "r") {
      if (h.s <= this.lastIn) return; // a duplicate
      this.lastIn = h.s;
      const inner = decodeFrame(frame.payload);
      this.handlers.onMessage(inner.header, inner.payload, true, h.from);
      this.acknowledge();
    } else if (h.t === "catchup") {
      // A late joiner's copy of the page so far: shown, never acknowledged.
      const logged = decodeFrame(frame.payload);
      const inner = decodeFrame(logged.payload);
      this.handlers.onMessage(inner.header, inner.payload, false, logged.header.from);
    } else {
      this.handlers.onMessage(h, frame.payload, false, undefined);
    }
  }

  // Acknowledge what arrived: now if the last acknowledgement is older than the interval,
  // else once it is (one acknowledgement covers every message in between).
  acknowledge() {
    if (this.ackTimer || this.lastIn <= this.ackedIn) return;
    const wait = this.ackedAt + ACK_INTERVAL_MS - performance.now();
    if (wait > 0) {
      this.ackTimer = setTimeout(() => { this.ackTimer = 0; this.acknowledge(); }, wait);
      return;
    }
    if (!this.open || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ackedIn = this.lastIn;
    this.ackedAt = performance.now();
    this.ws.send(encodeFrame({ t: "ack", a: this.lastIn }));
  }

  send(header, payload) {
    if (this.closed) return false;
    checkMessage(header, "reliable");
    const s = this.nextSeq++;
    const frame = encodeFrame({ ...header, s }, payload);
    this.unacked.push({ s, frame });
    if (this.open) this.ws.send(frame);
    return true;
  }

  sendVolatile(header, payload) {
    // Pictures: not kept for a resume, and skipped while the socket is behind (backpressure).
    checkMessage(header, "volatile");
    if (!this.open || this.ws.bufferedAmount > 512 * 1024) return false;
    this.ws.send(encodeFrame(header, payload));
    return true;
  }

  dropForTest() {
    // Closes the socket without leaving, as a network drop would.
    if (this.ws) this.ws.close();
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}
