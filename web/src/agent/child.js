// Child sessions the agent starts from a screen share: agent video (the webcam) and showback
// (the agent's screen, a window or a tab). Each is a session of its own (the "host" hello)
// whose pictures are JPEG frames drawn from the media stream; the visitor's SDK joins it.
import { h } from "./dom.js";
import { Connection, sessionUrl } from "../shared/protocol.js";

const KINDS = {
  agentVideo: {
    label: "agent video", start: "Start video", stop: "Stop video", fps: 10,
    box: [640, 480], capture: () => navigator.mediaDevices.getUserMedia({ video: true }),
  },
  showback: {
    label: "showback", start: "Show my screen", stop: "Stop showing", fps: 5,
    box: [1280, 800], capture: () => navigator.mediaDevices.getDisplayMedia({ video: true }),
  },
};

// A button that starts and stops one kind of child session of the session `callId()`.
export class ChildControl {
  constructor(api, sessionType, callId, show) {
    this.api = api;
    this.type = sessionType;
    this.kind = KINDS[sessionType];
    this.callId = callId;
    this.show = show;
    this.running = null;
    this.button = h("button", { type: "button", testid: `${sessionType}-toggle`,
      onclick: () => (this.running ? this.stop() : this.start()) }, this.kind.start);
    this.preview = h("video", { class: "preview", testid: `${sessionType}-preview`,
      muted: true, playsinline: true, hidden: true });
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
    await this.preview.play().catch(() => {});
    this.button.textContent = this.kind.stop;
    this.button.dataset.state = "starting";
    for (const track of stream.getVideoTracks()) track.onended = () => this.stop();
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d");
    run.conn = new Connection(sessionUrl(), {
      t: "host", token: this.api.token, main_call_id: this.callId(), session_type: this.type,
    }, {
      onWelcome: (w) => {
        run.guests = (w.state && w.state.guests && w.state.guests.count) || 0;
        this.button.dataset.state = "on";
        this.button.dataset.key = w.key;
        this.show(`Started ${this.kind.label}; the visitor's app opens it.`, "ok");
      },
      onRefused: (r) => {
        this.show(`Cannot start ${this.kind.label}: ${r.message || r.code}`, "error");
        this.finish();
      },
      onResumed: () => {},
      onClose: (retrying) => { if (!retrying) this.finish(); },
      onMessage: (m) => {
        if (m.t === "guests") run.guests = m.count || 0;
        if (m.t === "ended") {
          this.show(`The ${this.kind.label} ended.`, "ok");
          this.finish();
        }
      },
    });
    run.conn.connect();
    run.timer = setInterval(() => this.sendFrame(run, canvas, ctx), 1000 / this.kind.fps);
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
      if (run.conn.sendVolatile({ t: "tile", e: run.epoch, x: 0, y: 0, w: width, h: height,
        key: true }, jpeg)) {
        this.button.dataset.frames = String(Number(this.button.dataset.frames || 0) + 1);
      }
    }, "image/jpeg", 0.7);
  }

  stop() {
    const run = this.running;
    if (!run) return;
    if (run.conn.open) run.conn.send({ t: "end" });
    this.finish(300); // let the end go out first
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
}
