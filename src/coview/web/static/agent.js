(() => {
  // src/agent/api.js
  var ApiError = class extends Error {
    constructor(status, body) {
      const error = body && body.error || {};
      super(error.message || `request failed (${status})`);
      this.status = status;
      this.code = error.code || "error";
      this.fields = error.fields || {};
    }
  };
  var Api = class {
    constructor() {
      this.token = sessionStorage.getItem("coview.token") || "";
    }
    setToken(token) {
      this.token = token;
      if (token) sessionStorage.setItem("coview.token", token);
      else sessionStorage.removeItem("coview.token");
    }
    async call(method, path, body) {
      const headers = { Accept: "application/json" };
      if (this.token) headers.Authorization = `Bearer ${this.token}`;
      if (body !== void 0) headers["Content-Type"] = "application/json";
      let response;
      try {
        response = await fetch(`/api/v1${path}`, {
          method,
          headers,
          body: body === void 0 ? void 0 : JSON.stringify(body)
        });
      } catch (err) {
        throw new ApiError(0, { error: { code: "network", message: "cannot reach the server" } });
      }
      const data = await response.json().catch(() => null);
      if (!response.ok) throw new ApiError(response.status, data);
      return data;
    }
  };

  // src/agent/dom.js
  function h(tag, props = {}, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === void 0 || value === null || value === false) continue;
      if (key === "testid") el.dataset.testid = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else if (key in el && typeof value !== "string") el[key] = value;
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === void 0 || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  // src/agent/presence.js
  var REFRESH_MS = 2e3;
  var FOLLOW_MS = 400;
  var STATUS_TEXT = {
    requested: "Asked the visitor\u2026",
    displayed: "The visitor is reading the terms\u2026",
    accepted: "The visitor accepted; the session is starting\u2026",
    started: "The session started.",
    declined: "The visitor declined.",
    offline: "The visitor went offline.",
    expired: "The visitor did not answer in time."
  };
  var FINAL = /* @__PURE__ */ new Set(["started", "declined", "offline", "expired"]);
  function presenceView(api2, openSession) {
    const search = h("input", {
      type: "search",
      testid: "presence-search",
      placeholder: "Visitor ID",
      autocomplete: "off",
      maxlength: "50"
    });
    const list = h("ul", { class: "presence-list", testid: "presence-list" });
    const status = h("p", { class: "status", testid: "one-click-status", role: "status" });
    let timer = 0;
    let following = 0;
    function since(seconds) {
      const minutes = Math.max(0, Math.round((Date.now() / 1e3 - seconds) / 60));
      return minutes < 1 ? "just now" : `${minutes} min`;
    }
    async function refresh() {
      try {
        const query = encodeURIComponent(search.value.trim());
        const result = await api2.call("GET", `/presence?q=${query}&limit=50`);
        list.replaceChildren(...result.visitors.map((v) => {
          const about = Object.entries(v.info || {}).map(([k, value]) => `${k}: ${value}`).join(", ");
          return h(
            "li",
            { testid: `presence-${v.visitor_id}` },
            h("strong", {}, v.visitor_id),
            ` online ${since(v.since)}`,
            about ? h("span", { class: "muted" }, ` \xB7 ${about}`) : null,
            h("button", {
              type: "button",
              testid: `connect-${v.visitor_id}`,
              onclick: () => connect(v.visitor_id)
            }, "Connect")
          );
        }));
        if (!result.visitors.length) {
          list.append(h("li", { class: "muted" }, "Nobody online matches."));
        }
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        status.textContent = err.message;
      }
    }
    async function connect(visitorId) {
      clearTimeout(following);
      status.dataset.status = "";
      try {
        const request = await api2.call("POST", `/presence/${encodeURIComponent(visitorId)}/start`);
        follow(visitorId, request);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        status.textContent = err.message;
        status.dataset.status = err.code;
      }
    }
    function follow(visitorId, request) {
      status.textContent = `${visitorId}: ${STATUS_TEXT[request.status] || request.status}`;
      status.dataset.status = request.status;
      status.dataset.history = request.history.join(",");
      if (request.status === "started") {
        openSession(request.session_key);
        return;
      }
      if (FINAL.has(request.status)) return;
      following = setTimeout(async () => {
        try {
          follow(visitorId, await api2.call(
            "GET",
            `/presence/${encodeURIComponent(visitorId)}/requests/${request.request_id}`
          ));
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          follow(visitorId, {
            ...request,
            status: err.status === 404 ? "offline" : "expired",
            history: [...request.history, "offline"]
          });
        }
      }, FOLLOW_MS);
    }
    search.addEventListener("input", () => refresh());
    const section = h(
      "section",
      { class: "presence", testid: "presence" },
      h("h2", {}, "Visitors online"),
      search,
      list,
      status
    );
    return {
      section,
      start() {
        refresh();
        timer = setInterval(refresh, REFRESH_MS);
      },
      stop() {
        clearInterval(timer);
        clearTimeout(following);
      }
    };
  }

  // src/agent/protocol.js
  var encoder = new TextEncoder();
  var decoder = new TextDecoder();
  function encodeFrame(header, payload = new Uint8Array(0)) {
    const head = encoder.encode(JSON.stringify(header));
    const out = new Uint8Array(2 + head.length + payload.length);
    out[0] = head.length >> 8;
    out[1] = head.length & 255;
    out.set(head, 2);
    out.set(payload, 2 + head.length);
    return out;
  }
  function decodeFrame(data) {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    if (bytes.length < 2) throw new Error("short frame");
    const size = bytes[0] << 8 | bytes[1];
    if (2 + size > bytes.length) throw new Error("bad frame length");
    const header = JSON.parse(decoder.decode(bytes.subarray(2, 2 + size)));
    if (typeof header !== "object" || header === null || typeof header.t !== "string") {
      throw new Error("bad frame header");
    }
    return { header, payload: bytes.subarray(2 + size) };
  }
  var CLIENT = "coview-console/0.1.0";
  function sessionUrl() {
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/v1/session`;
  }
  var AgentConnection = class {
    constructor(url, hello, handlers) {
      this.url = url;
      this.hello = { v: "1.0", client: CLIENT, ...hello };
      this.handlers = handlers;
      this.nextSeq = 1;
      this.lastIn = 0;
      this.open = false;
      this.closed = false;
      this.session = null;
      this.unacked = [];
      this.lostAt = 0;
    }
    connect() {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      ws.onopen = () => {
        const first = this.session ? {
          t: "resume",
          v: "1.0",
          session_id: this.session.session_id,
          token: this.session.resume_token,
          a: this.lastIn
        } : this.hello;
        ws.send(encodeFrame(first));
      };
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = () => {
        this.open = false;
        if (this.closed) return;
        if (!this.session) {
          this.handlers.onClose(false);
          return;
        }
        if (!this.lostAt) this.lostAt = Date.now();
        const windowMs = (this.session.reconnect_window || 60) * 1e3;
        if (Date.now() - this.lostAt > windowMs) {
          this.closed = true;
          this.handlers.onClose(false);
          return;
        }
        this.handlers.onClose(true);
        setTimeout(() => {
          if (!this.closed) this.connect();
        }, 500);
      };
    }
    receive(data) {
      const frame = decodeFrame(data);
      const h2 = frame.header;
      if (h2.t === "welcome") {
        this.open = true;
        this.lostAt = 0;
        if (this.session && h2.resumed) {
          this.unacked = this.unacked.filter((f) => f.s > (h2.a || 0));
          for (const f of this.unacked) this.ws.send(f.frame);
          this.handlers.onResumed(h2);
          return;
        }
        if (!this.session) {
          this.session = {
            session_id: h2.session_id,
            resume_token: h2.resume_token,
            reconnect_window: h2.reconnect_window
          };
        }
        this.lastIn = h2.downlink_last || 0;
        this.handlers.onWelcome(h2);
      } else if (h2.t === "refused") {
        this.closed = true;
        this.handlers.onRefused(h2);
      } else if (h2.t === "ack") {
        this.unacked = this.unacked.filter((f) => f.s > h2.a);
      } else if (h2.t === "r") {
        if (h2.s <= this.lastIn) return;
        this.lastIn = h2.s;
        const inner = decodeFrame(frame.payload);
        this.handlers.onMessage(inner.header, inner.payload, true);
        this.ws.send(encodeFrame({ t: "ack", a: this.lastIn }));
      } else {
        this.handlers.onMessage(h2, frame.payload, false);
      }
    }
    send(header) {
      if (this.closed) return false;
      const s = this.nextSeq++;
      const frame = encodeFrame({ ...header, s });
      this.unacked.push({ s, frame });
      if (this.open) this.ws.send(frame);
      return true;
    }
    sendVolatile(header, payload) {
      if (!this.open || this.ws.bufferedAmount > 512 * 1024) return false;
      this.ws.send(encodeFrame(header, payload));
      return true;
    }
    dropForTest() {
      if (this.ws) this.ws.close();
    }
    close() {
      this.closed = true;
      if (this.ws) this.ws.close();
    }
  };

  // src/agent/child.js
  var KINDS = {
    agentVideo: {
      label: "agent video",
      start: "Start video",
      stop: "Stop video",
      fps: 10,
      box: [640, 480],
      capture: () => navigator.mediaDevices.getUserMedia({ video: true })
    },
    showback: {
      label: "showback",
      start: "Show my screen",
      stop: "Stop showing",
      fps: 5,
      box: [1280, 800],
      capture: () => navigator.mediaDevices.getDisplayMedia({ video: true })
    }
  };
  var ChildControl = class {
    constructor(api2, sessionType, callId, show2) {
      this.api = api2;
      this.type = sessionType;
      this.kind = KINDS[sessionType];
      this.callId = callId;
      this.show = show2;
      this.running = null;
      this.button = h("button", {
        type: "button",
        testid: `${sessionType}-toggle`,
        onclick: () => this.running ? this.stop() : this.start()
      }, this.kind.start);
      this.preview = h("video", {
        class: "preview",
        testid: `${sessionType}-preview`,
        muted: true,
        playsinline: true,
        hidden: true
      });
      this.button.dataset.state = "off";
    }
    setAllowed(allowed) {
      this.button.disabled = !allowed;
      this.button.title = allowed ? "" : `The group has turned ${this.kind.label} off.`;
    }
    async start() {
      let stream;
      try {
        stream = await this.kind.capture();
      } catch (error) {
        this.show(`Cannot start ${this.kind.label}: ${error.message || error.name}`, "error");
        return;
      }
      const run = { stream, timer: 0, epoch: 0, size: "", guests: 0 };
      this.running = run;
      this.preview.srcObject = stream;
      this.preview.hidden = false;
      await this.preview.play().catch(() => {
      });
      this.button.textContent = this.kind.stop;
      this.button.dataset.state = "starting";
      for (const track of stream.getVideoTracks()) track.onended = () => this.stop();
      const canvas = document.createElement("canvas");
      const ctx = canvas.getContext("2d");
      run.conn = new AgentConnection(sessionUrl(), {
        t: "host",
        token: this.api.token,
        main_call_id: this.callId(),
        session_type: this.type
      }, {
        onWelcome: (w) => {
          run.guests = w.state && w.state.guests && w.state.guests.count || 0;
          this.button.dataset.state = "on";
          this.button.dataset.key = w.key;
          this.show(`Started ${this.kind.label}; the visitor's app opens it.`, "ok");
        },
        onRefused: (r) => {
          this.show(`Cannot start ${this.kind.label}: ${r.message || r.code}`, "error");
          this.finish();
        },
        onResumed: () => {
        },
        onClose: (retrying) => {
          if (!retrying) this.finish();
        },
        onMessage: (m) => {
          if (m.t === "guests") run.guests = m.count || 0;
          if (m.t === "ended") {
            this.show(`The ${this.kind.label} ended.`, "ok");
            this.finish();
          }
        }
      });
      run.conn.connect();
      run.timer = setInterval(() => this.sendFrame(run, canvas, ctx), 1e3 / this.kind.fps);
    }
    sendFrame(run, canvas, ctx) {
      const video = this.preview;
      if (!run.conn.open || !run.guests || !video.videoWidth || run.busy) return;
      const [maxW, maxH] = this.kind.box;
      const ratio = Math.min(1, maxW / video.videoWidth, maxH / video.videoHeight);
      const width = Math.max(1, Math.round(video.videoWidth * ratio));
      const height = Math.max(1, Math.round(video.videoHeight * ratio));
      if (`${width}x${height}` !== run.size) {
        run.size = `${width}x${height}`;
        run.epoch += 1;
        canvas.width = width;
        canvas.height = height;
        run.conn.send({ t: "display", name: this.type, width, height, e: run.epoch });
      }
      ctx.drawImage(video, 0, 0, width, height);
      run.busy = true;
      canvas.toBlob(async (blob) => {
        run.busy = false;
        if (!blob || this.running !== run) return;
        const jpeg = new Uint8Array(await blob.arrayBuffer());
        if (run.conn.sendVolatile({
          t: "tile",
          e: run.epoch,
          x: 0,
          y: 0,
          w: width,
          h: height,
          key: true
        }, jpeg)) {
          this.button.dataset.frames = String(Number(this.button.dataset.frames || 0) + 1);
        }
      }, "image/jpeg", 0.7);
    }
    stop() {
      const run = this.running;
      if (!run) return;
      if (run.conn.open) run.conn.send({ t: "end" });
      this.finish(300);
    }
    finish(closeAfterMs = 0) {
      const run = this.running;
      if (!run) return;
      this.running = null;
      setTimeout(() => run.conn.close(), closeAfterMs);
      clearInterval(run.timer);
      for (const track of run.stream.getTracks()) track.stop();
      this.preview.srcObject = null;
      this.preview.hidden = true;
      this.button.textContent = this.kind.start;
      this.button.dataset.state = "off";
    }
  };

  // src/agent/gestures.js
  var COLOR = "#ff2bd6";
  var SECONDS = 3;
  var MAX_POINTS = 200;
  var GestureLayer = class {
    constructor(screen, pictureXY, send) {
      this.screen = screen;
      this.pictureXY = pictureXY;
      this.send = send;
      this.on = false;
      this.stroke = null;
      this.shown = [];
      this.layer = h("canvas", { class: "gesture-layer", testid: "gesture-layer" });
      this.toggle = h("button", {
        type: "button",
        testid: "gesture-mode",
        onclick: () => this.setOn(!this.on)
      }, "Draw");
      this.toggle.dataset.on = "false";
      screen.addEventListener("pointerdown", (event) => this.begin(event));
      screen.addEventListener("pointermove", (event) => this.extend(event));
      screen.addEventListener("pointerup", () => this.finish());
    }
    setAllowed(allowed) {
      this.toggle.disabled = !allowed;
      this.toggle.title = allowed ? "" : "The group has turned gestures off.";
      if (!allowed) this.setOn(false);
    }
    setOn(on) {
      this.on = on;
      this.toggle.dataset.on = String(on);
      this.toggle.classList.toggle("active", on);
      this.screen.classList.toggle("drawing", on);
    }
    begin(event) {
      if (!this.on) return;
      this.stroke = [this.pictureXY(event)];
    }
    extend(event) {
      if (!this.stroke || this.stroke.length >= MAX_POINTS) return;
      const p = this.pictureXY(event);
      const last = this.stroke[this.stroke.length - 1];
      if (Math.abs(p.x - last.x) + Math.abs(p.y - last.y) >= 4) this.stroke.push(p);
    }
    finish() {
      const stroke = this.stroke;
      this.stroke = null;
      if (!stroke) return;
      const kind = stroke.length < 3 ? "spot" : "line";
      const points = (kind === "spot" ? stroke.slice(0, 1) : stroke).map((p) => [Math.max(0, p.x), Math.max(0, p.y)]);
      this.send({ t: "gesture", kind, points });
      this.shown.push({ kind, points });
      this.draw();
      setTimeout(() => {
        this.shown.shift();
        this.draw();
      }, SECONDS * 1e3);
    }
    draw() {
      const { layer, screen } = this;
      layer.width = screen.width;
      layer.height = screen.height;
      const ctx = layer.getContext("2d");
      ctx.clearRect(0, 0, layer.width, layer.height);
      ctx.strokeStyle = COLOR;
      ctx.lineWidth = 6;
      for (const g of this.shown) {
        ctx.beginPath();
        if (g.kind === "spot") {
          ctx.rect(g.points[0][0] - 19, g.points[0][1] - 19, 38, 38);
        } else {
          ctx.moveTo(g.points[0][0], g.points[0][1]);
          for (const [x, y] of g.points.slice(1)) ctx.lineTo(x, y);
        }
        ctx.stroke();
      }
      layer.dataset.count = String(this.shown.length);
    }
  };

  // src/agent/session.js
  var KEYSYMS = {
    Enter: "Return",
    Backspace: "BackSpace",
    Tab: "Tab",
    Escape: "Escape",
    " ": "space",
    ArrowLeft: "Left",
    ArrowRight: "Right",
    ArrowUp: "Up",
    ArrowDown: "Down",
    Delete: "Delete",
    Home: "Home",
    End: "End",
    Shift: "Shift_L",
    Control: "Control_L",
    Alt: "Alt_L"
  };
  function sessionView(api2, key, onLeave) {
    const canvas = h("canvas", {
      class: "screen",
      testid: "screen",
      tabindex: "0",
      width: 1,
      height: 1
    });
    const ctx = canvas.getContext("2d");
    const notice = h("div", { class: "notice", testid: "screen-notice", hidden: true });
    const status = h(
      "p",
      { class: "status", testid: "session-status", role: "status" },
      `Joining ${key}\u2026`
    );
    const guests = h("span", { testid: "guest-count" }, "0");
    const people = h("ul", { class: "people", testid: "participants" });
    const rcState = h("span", { testid: "rc-state" }, "off");
    const messageInput = h("input", { testid: "message-text", placeholder: "Message to the app" });
    const state = {
      display: null,
      paused: false,
      viewing: false,
      rc: false,
      ended: false,
      tiles: 0,
      callId: 0
    };
    canvas.dataset.tiles = "0";
    function show2(text, kind = "") {
      status.textContent = text;
      status.dataset.kind = kind;
    }
    function setNotice() {
      notice.hidden = !state.paused && !state.viewing;
      notice.textContent = state.paused ? "The visitor has paused the session." : state.viewing ? "The visitor is viewing your screen." : "";
    }
    function setPaused(paused) {
      state.paused = paused;
      canvas.dataset.paused = String(paused);
      setNotice();
    }
    function setViewing(viewing) {
      state.viewing = viewing;
      canvas.dataset.viewing = String(viewing);
      setNotice();
    }
    function setGuests(g) {
      guests.textContent = String(g.count || 0);
      people.replaceChildren(...(g.agents || []).map((a) => h("li", {}, `${a.num}. ${a.name || a.username}${a.title ? ` (${a.title})` : ""}`)));
    }
    function setDisplay(d) {
      if (!d) return;
      if (!state.display || state.display.width !== d.width || state.display.height !== d.height) {
        canvas.width = d.width;
        canvas.height = d.height;
        ctx.fillStyle = "#fff";
        ctx.fillRect(0, 0, d.width, d.height);
      }
      state.display = d;
    }
    async function drawTile(header, payload) {
      if (!state.display || header.e !== state.display.e) return;
      const bitmap = await createImageBitmap(new Blob([payload], { type: "image/jpeg" }));
      ctx.drawImage(bitmap, header.x, header.y);
      bitmap.close();
      state.tiles += 1;
      canvas.dataset.tiles = String(state.tiles);
    }
    const conn = new AgentConnection(sessionUrl(), { t: "join", key, token: api2.token }, {
      onWelcome(w) {
        const s = w.state || {};
        const features = s.features || {};
        state.callId = w.call_id;
        video.setAllowed(Boolean(features.agent_video));
        showback.setAllowed(Boolean(features.showback));
        gestures.setAllowed(Boolean(features.gestures));
        setDisplay(s.display);
        setPaused(Boolean(s.paused));
        setGuests(s.guests || {});
        state.rc = Boolean(s.rc_enabled);
        rcState.textContent = state.rc ? "on" : "off";
        show2(`In session ${w.key} as agent ${w.num}.`, "ok");
        canvas.dataset.session = String(w.key);
      },
      onRefused(r) {
        show2(r.message || r.code, "error");
        canvas.dataset.refused = r.code;
      },
      onResumed() {
        show2("Reconnected: nothing was lost.", "ok");
        canvas.dataset.resumed = String(Number(canvas.dataset.resumed || 0) + 1);
      },
      onClose(retrying) {
        if (state.ended) return;
        show2(
          retrying ? "The connection dropped; reconnecting\u2026" : "The connection was lost.",
          retrying ? "warning" : "error"
        );
      },
      onMessage(m, payload) {
        switch (m.t) {
          case "tile":
            drawTile(m, payload);
            break;
          case "display":
            setDisplay(m);
            break;
          case "paused":
            setPaused(Boolean(m.paused));
            break;
          case "guests":
            setGuests(m);
            break;
          case "rc":
            state.rc = Boolean(m.enabled);
            rcState.textContent = state.rc ? "on" : "off";
            show2(state.rc ? "The visitor gave you control." : "Remote control is off.", "ok");
            break;
          case "rc_refused":
            show2(m.message || "Remote control is not enabled.", "error");
            break;
          case "visitor":
            show2(
              m.connected ? "The visitor is back." : "The visitor's connection dropped\u2026",
              m.connected ? "ok" : "warning"
            );
            break;
          case "view":
            setViewing(Boolean(m.viewing));
            break;
          case "child":
            if (m.action === "ended") show2(`The ${m.session_type} session ended.`, "ok");
            break;
          case "gesture_refused":
            show2(m.message || "Gestures are off.", "error");
            break;
          case "ended":
            state.ended = true;
            video.finish();
            showback.finish();
            canvas.dataset.ended = m.reason;
            show2(`The session ended (${m.reason.replace(/^SessionEnd(Reason)?/, "")}).`, "ended");
            conn.close();
            break;
          default:
            break;
        }
      }
    });
    conn.connect();
    const video = new ChildControl(api2, "agentVideo", () => state.callId, show2);
    const showback = new ChildControl(api2, "showback", () => state.callId, show2);
    const gestures = new GestureLayer(canvas, pictureXY, (m) => conn.send(m));
    function pictureXY(event) {
      const box = canvas.getBoundingClientRect();
      return {
        x: Math.round((event.clientX - box.left) * canvas.width / box.width),
        y: Math.round((event.clientY - box.top) * canvas.height / box.height)
      };
    }
    canvas.addEventListener("click", (event) => {
      canvas.focus();
      if (state.rc && !gestures.on) conn.send({ t: "input", action: "click", button: "left", ...pictureXY(event) });
    });
    canvas.addEventListener("keydown", (event) => {
      if (!state.rc) return;
      const keysym = KEYSYMS[event.key] || (event.key.length === 1 ? event.key : null);
      if (keysym) {
        event.preventDefault();
        conn.send({ t: "input", action: "key", keysym });
      }
    });
    const sendMessage = h("button", { type: "button", testid: "message-send", onclick() {
      if (messageInput.value) conn.send({ t: "message", properties: { text: messageInput.value } });
      messageInput.value = "";
    } }, "Send");
    const requestControl = h("button", { type: "button", testid: "rc-request", onclick() {
      conn.send({ t: "rc_request", username: "" });
      show2("Asked the visitor for control\u2026");
    } }, "Request control");
    const end = h("button", { type: "button", testid: "session-end", onclick() {
      conn.send({ t: "end" });
    } }, "End session");
    const leave = h("button", { type: "button", testid: "session-leave", onclick() {
      conn.send({ t: "leave" });
      conn.close();
      onLeave();
    } }, "Leave");
    const section = h(
      "section",
      { class: "session", testid: "session" },
      h(
        "div",
        { class: "toolbar" },
        h("strong", {}, `Session ${key}`),
        h("span", {}, "Agents: ", guests),
        h("span", {}, "Control: ", rcState),
        requestControl,
        gestures.toggle,
        video.button,
        showback.button,
        end,
        leave
      ),
      status,
      h("div", { class: "stage" }, canvas, gestures.layer, notice),
      h(
        "div",
        { class: "side" },
        h("h3", {}, "Participants"),
        people,
        h("div", { class: "message" }, messageInput, sendMessage),
        video.preview,
        showback.preview
      )
    );
    window.coviewConsoleSession = conn;
    return {
      section,
      close: () => {
        video.stop();
        showback.stop();
        conn.close();
      }
    };
  }

  // src/agent/settings.js
  function fieldInput(name, value) {
    if (typeof value === "boolean") {
      return h("input", { type: "checkbox", name, checked: value, testid: `setting-${name}` });
    }
    if (typeof value === "number") {
      return h("input", { type: "number", name, value: String(value), testid: `setting-${name}` });
    }
    if (typeof value === "string") {
      return h("input", { type: "text", name, value, testid: `setting-${name}` });
    }
    const text = JSON.stringify(value, null, 2);
    return h("textarea", {
      name,
      rows: Math.min(12, text.split("\n").length + 1),
      spellcheck: false,
      testid: `setting-${name}`
    }, text);
  }
  function readInput(input, original) {
    if (typeof original === "boolean") return input.checked;
    if (typeof original === "number") {
      return input.value.trim() === "" ? input.value : Number(input.value);
    }
    if (typeof original === "string") return input.value;
    return JSON.parse(input.value);
  }
  function settingsView(api2) {
    const status = h("p", { class: "status", testid: "settings-status", role: "status" });
    const form = h("form", { class: "settings", testid: "settings-form" });
    const saveButton = h("button", { type: "submit", testid: "settings-save" }, "Save to staging");
    const publishButton = h(
      "button",
      { type: "button", testid: "settings-publish" },
      "Publish to production"
    );
    let staging = null;
    function showErrors(fields) {
      for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
      for (const [path, message] of Object.entries(fields)) {
        const top = path.split(".")[0];
        const slot = form.querySelector(`[data-error-for="${CSS.escape(top)}"]`);
        if (slot) slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
        else status.textContent = `${path}: ${message}`;
      }
    }
    async function load() {
      const [stage, production] = await Promise.all([
        api2.call("GET", "/settings"),
        api2.call("GET", "/settings/production")
      ]);
      staging = stage.settings;
      const unpublished = JSON.stringify(stage.settings) !== JSON.stringify(production.settings);
      status.textContent = unpublished ? "Staging has changes that are not published yet." : "Staging and production are the same.";
      status.dataset.unpublished = String(unpublished);
      form.replaceChildren(
        ...Object.entries(staging).map(([name, value]) => h(
          "label",
          { class: "field" },
          h("span", { class: "field-name" }, name.replaceAll("_", " ")),
          fieldInput(name, value),
          h("span", { class: "field-error", "data-error-for": name, testid: `error-${name}` })
        )),
        h("div", { class: "actions" }, saveButton, publishButton)
      );
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const changes = {};
      try {
        for (const [name, original] of Object.entries(staging)) {
          const input = form.elements.namedItem(name);
          try {
            changes[name] = readInput(input, original);
          } catch {
            throw new ApiError(422, { error: {
              message: "invalid JSON",
              fields: { [name]: "not valid JSON" }
            } });
          }
        }
        await api2.call("PUT", "/settings", changes);
        await load();
        status.textContent = "Saved to staging. " + status.textContent;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        status.textContent = err.message;
        showErrors(err.fields);
        const first = form.querySelector(".field-error:not(:empty)") || status;
        first.scrollIntoView({ block: "center" });
      }
    });
    publishButton.addEventListener("click", async () => {
      try {
        const result = await api2.call("POST", "/settings/publish");
        await load();
        status.textContent = result.changed.length ? `Published: ${result.changed.join(", ")}.` : "Published (nothing had changed).";
        status.dataset.unpublished = "false";
      } catch (err) {
        status.textContent = err.message;
      }
    });
    const section = h(
      "section",
      { testid: "settings" },
      h("h2", {}, "Group settings"),
      h("p", {}, "Edit staging, then publish to production, where sessions use it."),
      status,
      form
    );
    return { section, load };
  }

  // src/agent/main.js
  var api = new Api();
  var root = document.getElementById("app");
  function signInView(message = "") {
    const error = h("p", { class: "error", testid: "signin-error", role: "alert" }, message);
    const form = h(
      "form",
      { class: "signin", testid: "signin-form" },
      h("h1", {}, "Coview agent console"),
      h(
        "label",
        {},
        "Group ID",
        h("input", {
          name: "group_id",
          inputmode: "numeric",
          required: true,
          testid: "signin-group",
          autocomplete: "organization"
        })
      ),
      h(
        "label",
        {},
        "Username",
        h("input", {
          name: "username",
          required: true,
          testid: "signin-username",
          autocomplete: "username"
        })
      ),
      h(
        "label",
        {},
        "Password",
        h("input", {
          name: "password",
          type: "password",
          required: true,
          testid: "signin-password",
          autocomplete: "current-password"
        })
      ),
      h("button", { type: "submit", testid: "signin-submit" }, "Sign in"),
      error
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const groupId = Number(data.get("group_id"));
      if (!Number.isInteger(groupId) || groupId < 1) {
        error.textContent = "The group ID is a whole number, such as 12345.";
        return;
      }
      try {
        const result = await api.call("POST", "/auth/login", {
          group_id: groupId,
          username: String(data.get("username")),
          password: String(data.get("password"))
        });
        api.setToken(result.token);
        await show();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        error.textContent = err.message;
      }
    });
    root.replaceChildren(form);
  }
  async function consoleView(me) {
    const agent = me.agent;
    const signOut = h("button", { type: "button", testid: "signout" }, "Sign out");
    signOut.addEventListener("click", () => {
      online.stop();
      api.setToken("");
      signInView();
    });
    const header = h(
      "header",
      {},
      h("strong", {}, "Coview"),
      h(
        "span",
        { testid: "whoami" },
        `${agent.display_name} (${agent.username}, ${agent.role}) \xB7 group ${me.group_id}`
      ),
      signOut
    );
    const main = h("main", {});
    root.replaceChildren(header, main);
    const keyInput = h("input", {
      name: "key",
      testid: "join-key",
      required: true,
      placeholder: "Session key",
      pattern: "[A-Za-z0-9_\\-]{1,50}",
      autocomplete: "off"
    });
    const join = h(
      "form",
      { class: "join", testid: "join-form" },
      h("h2", {}, "Join a session"),
      keyInput,
      h("button", { type: "submit", testid: "join-submit" }, "Join")
    );
    const tools = h("div", {});
    function openSession(key) {
      const view = sessionView(api, key, () => {
        view.section.remove();
        join.hidden = false;
        online.section.hidden = false;
      });
      join.hidden = true;
      online.section.hidden = true;
      main.insertBefore(view.section, tools);
    }
    const online = presenceView(api, openSession);
    main.append(join, online.section, tools);
    online.start();
    join.addEventListener("submit", (event) => {
      event.preventDefault();
      openSession(keyInput.value.trim());
    });
    if (agent.role === "admin") {
      const settings = settingsView(api);
      tools.append(settings.section);
      await settings.load();
    }
  }
  async function show() {
    if (!api.token) return signInView();
    try {
      await consoleView(await api.call("GET", "/me"));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      api.setToken("");
      signInView(err.status === 401 ? "Your session has expired; sign in again." : err.message);
    }
  }
  show();
})();
