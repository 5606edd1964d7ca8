// The default visitor UI: a small bar (key, agents, pause, stop), the remote-control consent
// prompt, the terms prompt, the agent's outlines, and an ARIA live region for screen readers.
// Styles are set through the CSSOM, which sites' CSPs allow. Every element carries
// data-testid; the root carries data-coview-ui, which remote control never acts on.

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "style") Object.assign(node.style, value);
    else if (name === "testid") node.setAttribute("data-testid", value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const BUTTON = { font: "13px system-ui, sans-serif", margin: "0 0 0 6px", padding: "3px 8px",
  border: "1px solid #666", borderRadius: "4px", background: "#fff", color: "#111",
  cursor: "pointer" };

function button(testid, label, onclick) {
  // Only the visitor's own clicks count (a script's or a remote click is not trusted).
  return el("button", { type: "button", testid, style: BUTTON,
    onclick: (event) => { if (event.isTrusted) onclick(); } }, label);
}

export class DefaultUI {
  constructor() {
    this.root = null;
    this.accessible = false;
  }

  mount() {
    if (this.root || !document.body) return;
    this.status = el("span", { testid: "coview-status" });
    this.pauseButton = button("coview-pause", "Pause", () => this.onPause && this.onPause());
    this.stopControl = button("coview-rc-stop", "Stop control",
      () => this.onStopControl && this.onStopControl());
    this.stopControl.hidden = true;
    this.prompt = el("div", { testid: "coview-prompt", role: "dialog",
      style: { marginTop: "6px" } });
    this.prompt.hidden = true;
    this.live = el("div", { "aria-live": "polite", testid: "coview-live",
      style: { position: "absolute", width: "1px", height: "1px", overflow: "hidden",
        clip: "rect(0 0 0 0)" } });
    this.bar = el("div", { testid: "coview-bar", style: { display: "none" } },
      this.status, this.pauseButton, this.stopControl,
      button("coview-stop", "Stop sharing", () => this.onStop && this.onStop()));
    this.root = el("div", { "data-coview-ui": "", testid: "coview-ui", style: {
      position: "fixed", right: "12px", bottom: "12px", zIndex: "2147483647",
      font: "13px system-ui, sans-serif", color: "#111", background: "#fffbe6",
      border: "1px solid #c9a400", borderRadius: "6px", padding: "8px", maxWidth: "360px",
      boxShadow: "0 2px 8px rgba(0,0,0,.25)", display: "none" } },
    this.bar, this.prompt, this.live);
    document.body.append(this.root);
  }

  refresh() {
    if (!this.root) return;
    const shown = this.bar.style.display !== "none" || !this.prompt.hidden;
    this.root.style.display = shown ? "block" : "none";
  }

  // `paused`: false, or who paused ("visitor" or "agent").
  showSession(key, agents, paused) {
    this.mount();
    if (!this.root) return;
    this.bar.style.display = "block";
    const who = agents ? `${agents} agent${agents > 1 ? "s" : ""} viewing` : "waiting for an agent";
    const pause = paused === "agent" ? " · paused by the agent" : paused ? " · paused" : "";
    this.status.textContent = `Sharing this page · key ${key} · ${who}${pause}`;
    this.pauseButton.textContent = paused ? "Resume" : "Pause";
    this.refresh();
  }

  hideSession() {
    if (!this.root) return;
    this.bar.style.display = "none";
    this.closePrompt();
  }

  setControl(enabled) {
    if (!this.root) return;
    this.stopControl.hidden = !enabled;
  }

  // A question with two answers; returns a function that closes it.
  ask(testid, text, yes, no, onYes, onNo) {
    this.mount();
    if (!this.root) return () => {};
    this.prompt.replaceChildren(
      el("p", { testid, style: { margin: "0 0 6px" } }, text),
      button(`${testid}-accept`, yes, () => { this.closePrompt(); onYes(); }),
      button(`${testid}-decline`, no, () => { this.closePrompt(); onNo(); }));
    this.prompt.hidden = false;
    this.refresh();
    this.announce(text);
    return () => this.closePrompt();
  }

  closePrompt() {
    if (!this.root) return;
    this.prompt.hidden = true;
    this.prompt.replaceChildren();
    this.refresh();
  }

  announce(text) {
    if (this.accessible && this.live) this.live.textContent = text;
  }

  // The default frame for an agent's video or screen: floating at the bottom left.
  childFrame(view, sessionType) {
    if (!document.body) return null;
    const [width, height] = sessionType === "showback" ? [480, 300] : [320, 240];
    const frame = el("iframe", { "data-coview-ui": "", "data-coview-child": view, testid: view,
      title: sessionType === "showback" ? "The agent's screen" : "The agent's video",
      referrerpolicy: "no-referrer", style: {
        position: "fixed", left: sessionType === "showback" ? "344px" : "12px", bottom: "12px", width: `${width}px`,
        height: `${height}px`, border: "1px solid #666", borderRadius: "6px",
        background: "#111", zIndex: "2147483647", boxShadow: "0 2px 8px rgba(0,0,0,.25)" } });
    document.body.append(frame);
    return frame;
  }

  // The agent's gesture: a ring (spot) or a path (line) in page coordinates, for 3 seconds.
  outline(kind, points) {
    if (!document.body || !points.length) return;
    const xs = points.map((p) => p[0]);
    const ys = points.map((p) => p[1]);
    const pad = 18;
    const left = Math.min(...xs) - pad;
    const top = Math.min(...ys) - pad;
    const box = el("div", { "data-coview-ui": "", testid: "coview-outline", style: {
      position: "absolute", left: `${left}px`, top: `${top}px`,
      width: `${Math.max(...xs) - left + pad}px`, height: `${Math.max(...ys) - top + pad}px`,
      border: "3px solid #e8590c", borderRadius: kind === "spot" ? "50%" : "6px",
      pointerEvents: "none", zIndex: "2147483646" } });
    document.body.append(box);
    setTimeout(() => box.remove(), 3000);
  }
}
