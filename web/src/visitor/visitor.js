// COVIEW.Cobrowse.Visitor: the cobrowse session of this page (docs/cobrowse.md). It starts
// or continues the session, records the page under the masking rules, and turns what agents
// do into the seed's events.
import { Connection, sessionUrl } from "../shared/protocol.js";
import { END_REASONS, KEY_PATTERN as KEY_RULE, VERSION } from "../shared/rules.js";
import { ChildViews } from "./children.js";
import { Emitter } from "./emitter.js";
import { SessionStore } from "./store.js";
import { DefaultUI } from "./ui.js";

const CLIENT = `coview-js/${VERSION}`;
const KEY_PATTERN = new RegExp(KEY_RULE);

// The seed's end reasons, from the protocol's.
function endReason(reason) {
  if (reason === END_REASONS.THIS_SIDE) return "visitor";
  if (reason === END_REASONS.OTHER_SIDE) return "agent";
  return "error";
}

// Who paused, as the session state says: the visitor unless it says an agent.
function pausedBy(value) {
  return value === "agent" ? "agent" : "visitor";
}

function agentList(guests) {
  const list = (guests && guests.agents) || [];
  return {
    count: list.length,
    agentlist: list.map((a) => ({
      username: a.username, partnerid: a.partnerid, partneruserid: a.username,
      name: a.name, title: a.title, role: a.role === "agent" ? "agent" : "guest",
      guestid: a.guestid, num: a.num, agentrole: a.agentrole,
    })),
  };
}

export class Visitor {
  // options: {groupId, server, visitorId, token, ui, accessibility, recordScript}
  constructor(options) {
    this.options = options;
    this.events = new Emitter();
    this.store = new SessionStore(options.groupId);
    this.ui = options.ui ? new DefaultUI() : null;
    this.accessible = Boolean(options.accessibility);
    if (this.ui) this.ui.accessible = this.accessible;
    this.conn = null;
    this.recorder = null;
    this.masking = null;
    this.state = null; // the session as this page knows it
    this.dormant = false; // the session goes on in another tab
    this.configPromise = null;
    this.recordPromise = null;
    this.children = new ChildViews(options, (name, detail) => this.emit(name, detail), this.ui);
    if (this.ui) {
      // The visitor's Resume lifts any pause, an agent's too: the page is the visitor's.
      this.ui.onPause = () => this.pause(!(this.state && this.state.paused));
      this.ui.onStop = () => this.stopSession();
      this.ui.onStopControl = () => this.setRemoteControl(false);
    }
  }

  // -- set-up --------------------------------------------------------------------------

  config() {
    if (!this.configPromise) {
      const url = new URL(`/api/v1/cobrowse/${this.options.groupId}/config`, this.options.server);
      this.configPromise = fetch(url, { credentials: "omit", cache: "no-store" })
        .then((r) => {
          if (!r.ok) throw new Error(`the group's settings could not be read (${r.status})`);
          return r.json();
        });
      this.configPromise.catch(() => { this.configPromise = null; });
    }
    return this.configPromise;
  }

  async trustedOrigins() {
    try {
      return (await this.config()).trusted_origins || [];
    } catch (err) {
      return [];
    }
  }

  recordModule() {
    const coview = window.COVIEW;
    if (coview.recordModule) return Promise.resolve(coview.recordModule);
    if (!this.recordPromise) {
      this.recordPromise = new Promise((resolve, reject) => {
        coview.onRecordModule = resolve;
        const script = document.createElement("script");
        script.src = this.options.recordScript;
        script.async = true;
        script.onerror = () => {
          this.recordPromise = null;
          reject(Object.assign(new Error(`${this.options.recordScript} did not load`),
            { script: this.options.recordScript }));
        };
        (document.head || document.documentElement).append(script);
      });
    }
    return this.recordPromise;
  }

  // What a page needs before it sends anything: the group's settings and the recorder.
  async prepare() {
    const [config, module] = await Promise.all([this.config(), this.recordModule()]);
    this.module = module;
    this.masking = new module.Masking(config.masking_selectors, config.mask_all_inputs);
    if (this.masking.errors.length) {
      this.emit("error", { code: "maskingerror",
        msg: `masking rules that cannot be applied: ${this.masking.errors.join(", ")}; ` +
          "all text is masked" });
    }
  }

  // On every page load: continue a session that an earlier page or another tab started.
  boot() {
    this.store.onChange((saved) => this.storageChanged(saved));
    window.addEventListener("pagehide", () => this.saveProgress());
    const takeFocus = () => {
      if (this.dormant && document.visibilityState === "visible") this.continueSaved(true);
    };
    window.addEventListener("focus", takeFocus);
    document.addEventListener("visibilitychange", takeFocus);
    if (this.accessible) this.emit("accessibility", { enabled: true });
    const saved = this.store.read();
    if (saved && saved.session) {
      if (document.visibilityState === "visible") this.continueSaved(false);
      else this.dormant = true;
    }
  }

  emit(name, detail) {
    this.events.emit(name, detail);
  }

  // -- the public API ------------------------------------------------------------------

  inSession() {
    return Boolean(this.state && !this.state.ended);
  }

  getSessionState() {
    const s = this.state;
    if (!s) return null;
    return { sessionkey: s.key, callid: s.callId, paused: s.paused, rcenabled: s.rc,
      connected: s.connected, agents: agentList(s.guests), accessibility: this.accessible,
      url: location.href };
  }

  // startSession(), startSession("1234"), startSession({sessionKey: "1234"}).
  startSession(args) {
    if (this.inSession() || this.dormant) return;
    const named = typeof args === "string" || typeof args === "number" ? String(args)
      : args && args.sessionKey !== undefined ? String(args.sessionKey) : "";
    let kind = "random";
    let key = null;
    if (named) {
      if (!KEY_PATTERN.test(named)) {
        this.emit("error", { code: "service", msg: "a session key is 1 to 50 letters, digits, _ or -" });
        return;
      }
      kind = named === this.options.visitorId ? "visitor" : "named";
      key = named;
    } else if (this.options.visitorId) {
      kind = "visitor";
      key = this.options.visitorId;
    }
    this.state = { key: key || "", starting: true, paused: false, pausedBy: "visitor", rc: false,
      guests: null, connected: false, ended: false };
    this.emit("sessionstarting", {});
    this.prepare().then(() => this.open({
      t: "start", group_id: Number(this.options.groupId), key_kind: kind, key,
      token: this.options.token || "", session_type: "cobrowse", client: CLIENT,
    }, null), (err) => {
      this.state = null;
      if (err && err.script) {
        this.emit("error", { code: "SCRIPT_NOT_LOADED", msg: err.message,
          params: { script: err.script } });
      } else {
        this.emit("error", { code: "service", msg: String(err && err.message || err) });
      }
    });
  }

  // The default UI's terms prompt, then startSession on acceptance.
  showTerms(args) {
    if (this.inSession()) return;
    if (!this.ui) {
      this.startSession(args);
      return;
    }
    this.ui.ask("coview-terms", "Share this page with a support agent? They will see this " +
      "page (never your passwords or masked fields) until you stop.", "Share", "Not now",
    () => this.startSession(args), () => {});
  }

  stopSession() {
    if (!this.inSession()) return;
    this.emit("leavesession", {});
    if (this.conn && this.conn.open) {
      this.conn.send({ t: "end" });
    } else {
      this.finish(END_REASONS.THIS_SIDE);
    }
  }

  pause(paused) {
    if (!this.inSession() || this.dormant) return;
    this.setPaused(Boolean(paused === undefined ? true : paused && paused.pause !== false),
      "visitor");
  }

  setAccessibility(enabled) {
    this.accessible = Boolean(enabled && enabled.enabled !== undefined ? enabled.enabled : enabled);
    if (this.ui) this.ui.accessible = this.accessible;
    this.emit("accessibility", { enabled: this.accessible });
  }

  // The visitor takes control back (or, through rcrequested's accept, gives it).
  setRemoteControl(enabled) {
    if (!this.inSession() || !this.conn) return;
    this.conn.send({ t: "rc", enabled: Boolean(enabled) });
    this.setRc(Boolean(enabled));
  }

  // -- the connection ------------------------------------------------------------------

  open(hello, saved) {
    const url = `${sessionUrl(this.options.server)}?group_id=${encodeURIComponent(this.options.groupId)}`;
    const conn = new Connection(url, hello, {
      onWelcome: (w, again) => this.welcomed(w, again),
      onResumed: () => {
        this.state.connected = true;
        this.emit("connection", { status: "ok" });
      },
      onRefused: (r) => this.refused(r),
      onClose: (retrying) => this.closed(retrying),
      onMessage: (m, payload, reliable, from) => this.message(m, from),
      onReplaced: () => this.replaced(),
    }, { client: CLIENT, saved });
    this.conn = conn;
    conn.connect();
  }

  async continueSaved(takingFocus) {
    const saved = this.store.read();
    if (!saved || !saved.session) {
      this.dormant = false;
      return;
    }
    this.dormant = false;
    this.state = { key: saved.key, starting: false, paused: Boolean(saved.paused),
      pausedBy: pausedBy(saved.pausedBy), rc: false, guests: null, connected: false,
      ended: false, continuing: true };
    if (takingFocus) this.emit("focus", {});
    try {
      await this.prepare();
    } catch (err) {
      this.state = null;
      this.emit("error", err && err.script
        ? { code: "SCRIPT_NOT_LOADED", msg: err.message, params: { script: err.script } }
        : { code: "service", msg: String(err && err.message || err) });
      return;
    }
    this.open({ t: "resume" }, { session: saved.session, lastIn: saved.lastIn || 0 });
  }

  welcomed(w, again) {
    const s = this.state;
    const st = w.state || {};
    s.starting = false;
    s.connected = true;
    s.key = w.key;
    s.callId = w.call_id;
    s.paused = Boolean(st.paused);
    s.pausedBy = pausedBy(st.paused_by);
    s.rc = Boolean(st.rc_enabled);
    s.guests = st.guests || null;
    this.store.write({ session: this.conn.session, key: w.key, lastIn: this.conn.lastIn,
      paused: s.paused, pausedBy: s.pausedBy, at: Date.now() });
    if (again && !s.continuing) {
      // Back after a drop whose messages the server no longer held: a fresh page state.
      this.emit("connection", { status: "ok" });
    } else if (!s.continuing) {
      this.emit("sessionstart", { sessionkey: w.key });
      this.emit("sessioncontinue", { sessionkey: w.key });
    } else {
      this.emit("sessioncontinue", { sessionkey: w.key });
      this.emit("statereceived", this.getSessionState());
      if (s.rc) this.emit("rcenabled", { enabled: true });
      if (s.paused) this.emit("sessionpaused", { paused: true, by: s.pausedBy });
    }
    s.continuing = false;
    this.emit("agents", agentList(s.guests));
    this.showUI();
    if (this.ui) this.ui.setControl(s.rc);
    // Agent video or showback running: this page shows it (a page already showing it skips).
    for (const child of st.children || []) this.children.show(child, "continued");
    this.startRecording();
  }

  startRecording() {
    if (this.state.paused) return;
    if (!this.recorder) {
      this.recorder = new this.module.Recorder(this.masking,
        (header, payload) => this.conn && this.conn.send(header, payload),
        (code, msg) => this.emit("error", { code, msg }));
    }
    if (this.recorder.running) this.recorder.snapshot();
    else this.recorder.start();
  }

  refused(r) {
    const wasContinuing = this.state && this.state.continuing;
    this.state = null;
    this.conn = null;
    if (wasContinuing) {
      // The session ended while no page of the site held it (or it is unknown).
      this.store.clear(r.code === "ended" ? r.message : "error");
      this.emit("sessionend", { reason: r.code === "ended" ? endReason(r.message) : "error" });
      return;
    }
    this.emit("error", r.code === "dupkey"
      ? { code: "dupkey", msg: r.message || "a session with this key is already running" }
      : { code: "service", msg: r.message || r.code });
  }

  closed(retrying) {
    const s = this.state;
    if (!s || s.ended) return;
    if (retrying) {
      if (s.connected) {
        s.connected = false;
        this.emit("connection", { status: "reconnecting" });
      }
      return;
    }
    if (s.starting || !this.conn || !this.conn.session) {
      this.state = null;
      this.conn = null;
      this.emit("error", { code: "service", msg: "the cobrowse service could not be reached" });
      return;
    }
    this.emit("error", { code: "conndrop",
      msg: "the connection to the cobrowse service dropped and did not come back" });
    this.finish(END_REASONS.CONN_DROP);
  }

  replaced() {
    // Another tab of the site took the session: this one waits, and takes it back on focus.
    if (this.recorder) this.recorder.stop();
    this.recorder = null;
    this.children.endAll();
    this.saveProgress();
    this.conn = null;
    this.state = null;
    this.dormant = true;
    if (this.ui) this.ui.hideSession();
    this.emit("blur", {});
  }

  storageChanged(saved) {
    if (saved && saved.ended && (this.dormant || (this.state && !this.conn))) {
      this.dormant = false;
      this.state = null;
      if (this.ui) this.ui.hideSession();
      this.emit("sessionend", { reason: endReason(saved.ended) });
    }
  }

  saveProgress() {
    if (this.conn && this.conn.session) this.store.update({ lastIn: this.conn.lastIn });
  }

  finish(reason) {
    const s = this.state;
    if (!s || s.ended) return;
    s.ended = true;
    if (this.recorder) this.recorder.stop();
    this.recorder = null;
    this.children.endAll();
    if (this.conn) this.conn.close();
    this.conn = null;
    this.store.clear(reason);
    if (this.ui) this.ui.hideSession();
    this.emit("sessionend", { reason: endReason(reason) });
    this.state = null;
  }

  // -- what agents do ------------------------------------------------------------------

  agentOf(num) {
    const list = (this.state && this.state.guests && this.state.guests.agents) || [];
    const a = list.find((g) => g.num === num);
    return a ? { username: a.username, puid: a.username, num: a.num } : { num };
  }

  message(m, from) {
    const s = this.state;
    if (!s) return;
    if (this.conn) this.store.update({ lastIn: this.conn.lastIn });
    switch (m.t) {
      case "guests":
        s.guests = m;
        this.emit("agents", agentList(m));
        this.showUI();
        if (this.ui && m.count) this.ui.announce(`${m.count} agent(s) viewing this page`);
        break;
      case "keyframe":
        if (this.recorder) this.recorder.snapshot();
        break;
      case "rc_request":
        this.requestControl();
        break;
      case "rc_release":
        if (s.rc) this.setRemoteControl(false);
        break;
      case "rc_disabled":
        this.setRc(false);
        break;
      case "input":
        this.act(m, from);
        break;
      case "pause":
        // An agent pauses, or lifts an agent's pause; never the visitor's own (issue 14:
        // the server refuses that too, this page does not rely on it).
        if (m.paused ? !s.paused : s.paused && s.pausedBy === "agent") {
          this.setPaused(Boolean(m.paused), "agent");
        }
        break;
      case "navigate":
        this.navigate(m);
        break;
      case "gesture": {
        const points = Array.isArray(m.points) ? m.points.slice(0, 200)
          .filter((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite)) : [];
        if (!points.length) break;
        this.emit("outline", { kind: m.kind === "line" ? "line" : "spot", points,
          agent: this.agentOf(from) });
        if (this.ui) this.ui.outline(m.kind, points);
        break;
      }
      case "child":
        if (m.action === "started") this.children.show(m, "new");
        else if (m.action === "ended") this.children.end(String(m.key || ""));
        break;
      case "message":
        this.emit("message", { properties: m.properties || {}, agent: this.agentOf(from) });
        break;
      case "ended":
        this.finish(m.reason);
        break;
      default:
        break;
    }
  }

  showUI() {
    const s = this.state;
    if (this.ui && s) {
      this.ui.showSession(s.key, s.guests ? s.guests.count : 0, s.paused && s.pausedBy);
    }
  }

  setRc(enabled) {
    const s = this.state;
    if (!s || s.rc === enabled) return;
    s.rc = enabled;
    if (this.ui) {
      this.ui.setControl(enabled);
      this.ui.announce(enabled ? "An agent is controlling this page" : "Remote control ended");
    }
    this.emit("rcenabled", { enabled });
  }

  requestControl() {
    const s = this.state;
    if (!s || s.rc) return;
    let answered = false;
    let close = () => {};
    const answer = (yes) => {
      if (answered || !this.inSession() || !this.conn) return;
      answered = true;
      close();
      if (yes) {
        this.conn.send({ t: "rc", enabled: true });
        this.emit("rcaccepted", {});
        this.setRc(true);
      } else {
        this.conn.send({ t: "rc", enabled: false, declined: true });
        this.emit("rcdeclined", {});
      }
    };
    const accept = () => answer(true);
    const decline = () => answer(false);
    if (this.ui) {
      close = this.ui.ask("coview-rc", "The agent asks to control this page (click and " +
        "type for you). You can stop it at any time.", "Allow", "Decline", accept, decline);
    }
    this.emit("rcrequested", { accept, decline });
  }

  act(m, from) {
    const s = this.state;
    if (!s.rc || !this.masking) return;
    const result = this.module.perform(this.masking, m);
    if (result.refused) {
      this.conn.send({ t: "input_refused", id: m.id, action: m.action, message: result.refused });
      return;
    }
    this.emit("agentaction", { ...result.event, agent: this.agentOf(from) });
  }

  // Pause or resume, `by` the visitor or an agent: the server lets an agent's resume lift
  // only an agent's pause. The visitor pausing during an agent's pause makes it the visitor's.
  setPaused(paused, by) {
    const s = this.state;
    if (!s || (s.paused === paused && (!paused || s.pausedBy === by))) return;
    s.paused = paused;
    s.pausedBy = by;
    this.store.update({ paused, pausedBy: by });
    if (paused && this.recorder) this.recorder.stop();
    this.conn.send({ t: "paused", paused, by });
    if (!paused) this.startRecording();
    this.showUI();
    this.emit("sessionpaused", { paused, by });
  }

  navigate(m) {
    let target = null;
    if (m.history === "back" || m.history === "forward" || m.history === "reload") {
      target = m.history;
    } else if (typeof m.url === "string") {
      try {
        const url = new URL(m.url, location.href);
        // Only pages of this site: an agent cannot send the visitor elsewhere.
        if (url.origin === location.origin) target = url.href;
      } catch (err) {
        target = null;
      }
    }
    if (!target) {
      this.conn.send({ t: "input_refused", action: "navigate",
        message: "agents navigate only to pages of this site" });
      return;
    }
    this.emit("navigation", m.url ? { url: target } : { direction: target });
    this.saveProgress();
    if (target === "back") history.back();
    else if (target === "forward") history.forward();
    else if (target === "reload") location.reload();
    else location.assign(target);
  }
}
